"""User reports: the listing of messages employees reported with the Report button (its watermark, claimed like
any due work), and the responders' reviews of those submissions (Mark as … and notify), each sent once."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.domain import SubmissionSource
from bot.store.database import survives_reconnect
from bot.store.models import CaseActionRow, ReviewRow, SubmissionRow, UserReportPollRow
from bot.store.records import PollState, PollWork, ReviewWork
from bot.store.repository import CLAIM_LEASE, Repository, changed, touch_case

# A listing claimed by a worker that died is listed again after this long (a listing takes seconds; its work is
# idempotent, so a repeat costs a page of reads).
POLL_LEASE = CLAIM_LEASE


class UserReports(Repository):
    """The listing's watermark and claim; reviews claimed once per submission."""

    # --- the listing --------------------------------------------------------------------------------------

    @survives_reconnect
    def claim_poll(
        self, name: str, *, now: datetime, every: timedelta, first_watermark: datetime
    ) -> PollWork | None:
        """Claim the listing `name` when it is due (one worker at a time, across replicas); the next is due
        `every` later. The first listing ever starts at `first_watermark`."""
        with self._session() as session:
            row = session.get(UserReportPollRow, name)
            if row is not None and row.next_poll_at > now:
                # Not due, as most rounds find it: no claim to try (a listing that another worker makes due
                # meanwhile is claimed the next round; only the UPDATE … WHERE below ever claims).
                return None
        if row is None:
            self._ensure_poll(name, now, first_watermark)
        with self._session() as session:
            row = session.get(UserReportPollRow, name)
            if row is None:  # pragma: no cover - made just above, never deleted
                return None
            claimed = changed(
                session,
                update(UserReportPollRow)
                .where(UserReportPollRow.name == name)
                .where(UserReportPollRow.next_poll_at <= now)
                .where(
                    UserReportPollRow.claimed_by.is_(None)
                    | (UserReportPollRow.claimed_by == self.worker_id)
                    | (UserReportPollRow.claimed_until <= now)
                    | self._orphaned(UserReportPollRow.claimed_by, now)
                )
                .values(claimed_by=self.worker_id, claimed_until=now + POLL_LEASE, next_poll_at=now + every),
            )
            if claimed != 1:
                return None
            session.refresh(row)
            return PollWork(name=name, watermark=row.watermark, denied_at=row.denied_at)

    def _ensure_poll(self, name: str, now: datetime, first_watermark: datetime) -> None:
        with self._session() as session:
            if session.get(UserReportPollRow, name) is not None:
                return
        try:
            with self._session() as session:
                session.add(
                    UserReportPollRow(
                        name=name, watermark=first_watermark, next_poll_at=now, polled_at=None, taken=0
                    )
                )
        except IntegrityError:
            pass  # another worker made it first

    @survives_reconnect
    def finish_poll(
        self, name: str, *, watermark: datetime | None, taken: int, again_at: datetime | None = None
    ) -> bool:
        """The claimed listing was done: move the watermark forward (never back) and let it go. `again_at`: the
        next listing is due sooner (this one stopped at its bound). True when Microsoft had been refusing."""
        now = self._now()
        with self._session() as session:
            row = session.get(UserReportPollRow, name)
            if row is None or row.claimed_by != self.worker_id:
                return False
            was_denied = row.denied_at is not None
            if watermark is not None and watermark > row.watermark:
                row.watermark = watermark
            row.polled_at = now
            row.taken += taken
            row.denied_at = None
            row.last_error = None
            row.claimed_by = None
            row.claimed_until = None
            if again_at is not None:
                row.next_poll_at = min(row.next_poll_at, again_at)
            return was_denied

    @survives_reconnect
    def poll_failed(self, name: str, error: str, *, retry_at: datetime, denied: bool = False) -> bool:
        """The claimed listing failed; the watermark stays where it was, the next listing is due at `retry_at`.
        `denied`: Microsoft refused it (403), the feature is off until a listing succeeds. True when this is the
        first refusal (the moment to say so, once)."""
        now = self._now()
        with self._session() as session:
            row = session.get(UserReportPollRow, name)
            if row is None or row.claimed_by != self.worker_id:
                return False
            first_denial = denied and row.denied_at is None
            if denied and row.denied_at is None:
                row.denied_at = now
            row.last_error = error[:2000]
            row.claimed_by = None
            row.claimed_until = None
            row.next_poll_at = retry_at
            return first_denial

    @survives_reconnect
    def poll_state(self, name: str) -> PollState | None:
        with self._session() as session:
            row = session.get(UserReportPollRow, name)
            if row is None:
                return None
            return PollState(
                name=row.name,
                watermark=row.watermark,
                next_poll_at=row.next_poll_at,
                polled_at=row.polled_at,
                denied_at=row.denied_at,
                last_error=row.last_error,
                taken=row.taken,
            )

    @survives_reconnect
    def known_submissions(self, microsoft_ids: Iterable[str]) -> set[str]:
        """Which of these Microsoft submission ids a case follows or made already."""
        wanted = sorted({i[:64] for i in microsoft_ids if i})
        found: set[str] = set()
        with self._session() as session:
            for start in range(0, len(wanted), 500):
                found.update(
                    i
                    for i in session.scalars(
                        select(SubmissionRow.microsoft_id).where(
                            SubmissionRow.microsoft_id.in_(wanted[start : start + 500])
                        )
                    )
                    if i
                )
        return found

    # --- reviews (Mark as … and notify) --------------------------------------------------------------------

    @survives_reconnect
    def claim_reviews(self, case_id: int, category: str, actor: str) -> list[ReviewWork]:
        """Claim a review of every user-reported submission of the case that has none yet (or whose review
        failed, or was left by a worker that died): each is sent by the one worker that claimed it."""
        now = self._now()
        claimed: list[ReviewWork] = []
        with self._session() as session:
            submissions = list(
                session.scalars(
                    select(SubmissionRow)
                    .where(SubmissionRow.case_id == case_id)
                    .where(SubmissionRow.source == SubmissionSource.USER.value)
                    .where(SubmissionRow.microsoft_id.is_not(None))
                    .order_by(SubmissionRow.id)
                )
            )
        for submission in submissions:
            review_id = self._claim_review(submission, case_id, category, actor, now)
            if review_id is not None:
                claimed.append(
                    ReviewWork(
                        review_id=review_id,
                        submission_id=submission.id,
                        microsoft_id=submission.microsoft_id or "",
                        reporter=submission.recipient,
                    )
                )
        return claimed

    def _claim_review(
        self, submission: SubmissionRow, case_id: int, category: str, actor: str, now: datetime
    ) -> int | None:
        values = {
            "category": category,
            "requested_by": actor[:32],
            "state": "sending",
            "claimed_by": self.worker_id,
            "created_at": now,
            "finished_at": None,
            "error": None,
        }
        try:
            with self._session() as session:
                row = ReviewRow(submission_id=submission.id, case_id=case_id, **values)
                session.add(row)
                session.flush()
                return row.id
        except IntegrityError:
            pass  # reviewed before: only a failed review, or one a dead worker left, is sent again
        with self._session() as session:
            retry = (ReviewRow.state == "failed") | (
                (ReviewRow.state == "sending") & self._orphaned(ReviewRow.claimed_by, now)
            )
            row_id = session.scalar(
                select(ReviewRow.id).where(ReviewRow.submission_id == submission.id).where(retry)
            )
            if row_id is None:
                return None
            taken = changed(
                session, update(ReviewRow).where(ReviewRow.id == row_id).where(retry).values(**values)
            )
            return row_id if taken == 1 else None

    @survives_reconnect
    def finish_reviews(
        self, case_id: int, actor: str, category: str, outcomes: dict[int, str | None]
    ) -> None:
        """Record each claimed review's outcome (`outcomes`: review id -> None when Microsoft took it, else the
        error), and on the case's history the reviews that went through."""
        now = self._now()
        with self._session() as session:
            for review_id, error in outcomes.items():
                changed(
                    session,
                    update(ReviewRow)
                    .where(ReviewRow.id == review_id)
                    .where(ReviewRow.claimed_by == self.worker_id)
                    .values(
                        state="failed" if error else "done",
                        error=error[:2000] if error else None,
                        finished_at=now,
                        claimed_by=None,
                    ),
                )
            done = sum(1 for error in outcomes.values() if error is None)
            if done:
                session.add(
                    CaseActionRow(
                        case_id=case_id,
                        action="reviewed",
                        actor=actor[:32],
                        at=now,
                        detail=f"{category}, {done} user submission{'s' if done != 1 else ''} notified",
                    )
                )
            touch_case(session, case_id, now)
