"""Submissions: each request to Microsoft for a verdict, from queued through sending to the verdict checks that
follow it, and the responder's resubmissions."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.sql.elements import ColumnElement

from bot.domain import CaseKind, CaseStatus, RemediationState, SubmissionState, Verdict
from bot.store.database import survives_reconnect
from bot.store.models import (
    BlockRequestRow,
    CaseActionRow,
    CaseContentRow,
    CaseRow,
    RemediationRow,
    SubmissionRow,
)
from bot.store.records import BlockState, CheckWork, SendWork
from bot.store.repository import CHECK_LEASE, CLAIM_LEASE, At, Repository, add_verdict, changed, row_of


class Submissions(Repository):
    """Sending to Microsoft (claimed once, resumed after a crash) and reading its verdicts."""

    def _sendable(self, now: At) -> ColumnElement[bool]:
        """Queued and due, or claimed by a worker that died mid-send (gone, or its lease ran out)."""
        return ((SubmissionRow.state == SubmissionState.QUEUED.value) & (SubmissionRow.not_before <= now)) | (
            (SubmissionRow.state == SubmissionState.SENDING.value)
            & ((SubmissionRow.claimed_until <= now) | self._orphaned(SubmissionRow.claimed_by, now))
        )

    @survives_reconnect
    def due_to_send(self, now: datetime | None = None, limit: int = 100) -> list[int]:
        now = now or self._now()
        return self._due_ids("sends", SubmissionRow.id, self._sendable, SubmissionRow.not_before, limit, now)

    @survives_reconnect
    def claim_send(self, submission_id: int, now: datetime | None = None) -> SendWork | None:
        """Claim one submission for sending; None when another worker has it or it is not due."""
        now = now or self._now()
        with self._session() as session:
            resumed = (
                session.scalar(select(SubmissionRow.state).where(SubmissionRow.id == submission_id))
                == SubmissionState.SENDING.value
            )
            claimed = changed(
                session,
                update(SubmissionRow)
                .where(SubmissionRow.id == submission_id)
                .where(self._sendable(now))
                .values(
                    state=SubmissionState.SENDING.value,
                    claimed_until=now + CLAIM_LEASE,
                    claimed_by=self.worker_id,
                    send_attempts=SubmissionRow.send_attempts + 1,
                ),
            )
            if claimed != 1:
                return None
            submission = row_of(session, SubmissionRow, submission_id)
            case = row_of(session, CaseRow, submission.case_id)
            content = session.get(CaseContentRow, case.id)
            case.status = CaseStatus.SUBMITTING.value
            case.updated_at = now
            known = (
                session.scalars(
                    select(SubmissionRow.microsoft_id)
                    .where(SubmissionRow.case_id == case.id)
                    .where(SubmissionRow.microsoft_id.is_not(None))
                )
                if resumed
                else ()
            )
            return SendWork(
                submission_id=submission.id,
                case_id=case.id,
                kind=CaseKind(submission.kind),
                category=submission.category,
                recipient=submission.recipient,
                url=case.url,
                raw=content.raw if content else None,
                attempts=submission.send_attempts,
                scheduled_by=(
                    submission.requested_by
                    if submission.not_before > submission.created_at + timedelta(seconds=5)
                    else None
                ),
                queued_at=submission.created_at,
                resumed=resumed,
                known_ids=frozenset(i for i in known if i),
            )

    @survives_reconnect
    def record_sent(
        self, submission_id: int, microsoft_id: str, first_check_at: datetime, verdict: Verdict | None
    ) -> None:
        now = self._now()
        with self._session() as session:
            submission = row_of(session, SubmissionRow, submission_id)
            submission.state = SubmissionState.CHECKING.value
            submission.microsoft_id = microsoft_id
            submission.sent_at = now
            submission.claimed_until = None
            submission.claimed_by = None
            submission.next_check_at = first_check_at
            submission.last_error = None
            if verdict is not None:
                add_verdict(session, submission, verdict, now)
            case = row_of(session, CaseRow, submission.case_id)
            case.status = CaseStatus.CHECKING.value
            case.error = None
            case.updated_at = now
            case.card_dirty = True

    @survives_reconnect
    def retry_unsure_send(self, submission_id: int, retry_at: datetime, error: str) -> None:
        """Not sent, and whether the last attempt reached Microsoft is still unknown: claimable again at
        `retry_at`, still as a send whose outcome is unknown."""
        with self._session() as session:
            changed(
                session,
                update(SubmissionRow)
                .where(SubmissionRow.id == submission_id)
                .where(SubmissionRow.state == SubmissionState.SENDING.value)
                .values(claimed_until=retry_at, claimed_by=None, last_error=error),
            )

    @survives_reconnect
    def record_send_failure(self, submission_id: int, error: str, retry_at: datetime | None) -> None:
        """A failed send: queued again for `retry_at`, or failed for good (the case shows the error)."""
        now = self._now()
        with self._session() as session:
            submission = row_of(session, SubmissionRow, submission_id)
            submission.last_error = error
            submission.claimed_until = None
            submission.claimed_by = None
            case = row_of(session, CaseRow, submission.case_id)
            if retry_at is not None:
                submission.state = SubmissionState.QUEUED.value
                submission.not_before = retry_at
            else:
                submission.state = SubmissionState.FAILED.value
                submission.finished_at = now
                case.status = CaseStatus.FAILED.value
                case.error = error
            case.updated_at = now
            case.card_dirty = True

    @survives_reconnect
    def claim_due_checks(self, now: datetime | None = None, limit: int = 1000) -> list[CheckWork]:
        """Claim every due check (up to `limit`): next_check_at moves past the lease, so no one else reads them."""
        return self._lease_due(
            SubmissionRow,
            SubmissionState.CHECKING.value,
            now or self._now(),
            limit,
            lambda row: CheckWork(
                submission_id=row.id,
                case_id=row.case_id,
                kind=CaseKind(row.kind),
                microsoft_id=row.microsoft_id or "",
                sent_at=row.sent_at or row.created_at,
                checks_done=row.checks_done,
            ),
        )

    @survives_reconnect
    def record_check(
        self,
        submission_id: int,
        verdict: Verdict | None,
        *,
        next_check_at: datetime | None,
        gave_up: bool = False,
        error: str | None = None,
    ) -> bool:
        """Store one check's outcome. Returns True when this check ended the submission (final or gave up)."""
        now = self._now()
        with self._session() as session:
            submission = row_of(session, SubmissionRow, submission_id)
            if submission.state != SubmissionState.CHECKING.value:
                return False
            submission.checks_done += 1
            submission.last_error = error
            case = row_of(session, CaseRow, submission.case_id)
            changed = verdict is not None and add_verdict(session, submission, verdict, now)
            ended = False
            if verdict is not None and verdict.is_final:
                submission.state = SubmissionState.FINAL.value
                submission.next_check_at = None
                submission.finished_at = now
                if case.status != CaseStatus.DISMISSED.value:
                    case.status = CaseStatus.VERDICT.value
                ended = True
            elif gave_up:
                submission.state = SubmissionState.GAVE_UP.value
                submission.next_check_at = None
                submission.finished_at = now
                if case.status != CaseStatus.DISMISSED.value:
                    case.status = CaseStatus.GAVE_UP.value
                ended = True
            else:
                submission.next_check_at = next_check_at
            case.updated_at = now
            # Redraw when there is something new to show. Progress alone ("check 4") redraws on checks 1, 2, 4,
            # 8, …: with thousands of open cases an edit per check would exceed Slack's chat.update rate limit.
            if changed or ended or _is_power_of_two(submission.checks_done):
                case.card_dirty = True
            return ended

    @survives_reconnect
    def release_checks(self, submission_ids: list[int]) -> None:
        """Hand claimed checks back (shutting down before reading them): due again now, for whoever sweeps next."""
        if not submission_ids:
            return
        with self._session() as session:
            changed(
                session,
                update(SubmissionRow)
                .where(SubmissionRow.id.in_(submission_ids))
                .where(SubmissionRow.state == SubmissionState.CHECKING.value)
                .values(next_check_at=self._now()),
            )

    @survives_reconnect
    def release_leased_checks(self, now: datetime | None = None) -> int:
        """A new scheduler leader's first act: checks claimed by a leader that died would wait out their lease;
        make every check due within one lease due now (verdicts, purge verifications, blocks). Some were merely
        scheduled soon: read a little early."""
        now = now or self._now()
        released = 0
        with self._session() as session:
            for table, checking in (
                (SubmissionRow, SubmissionState.CHECKING.value),
                (RemediationRow, RemediationState.VERIFYING.value),
                (BlockRequestRow, BlockState.CHECKING),
            ):
                released += changed(
                    session,
                    update(table)
                    .where(table.state == checking)
                    .where(table.next_check_at > now)
                    .where(table.next_check_at <= now + CHECK_LEASE)
                    .values(next_check_at=now),
                )
        return released

    def open_check_count(self) -> int:
        """Answered at once, database or not (metrics): no reconnect wait."""
        with self._session() as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(SubmissionRow)
                    .where(SubmissionRow.state == SubmissionState.CHECKING.value)
                )
                or 0
            )

    @survives_reconnect
    def last_sent_at(self, case_id: int) -> datetime | None:
        with self._session() as session:
            return session.scalar(
                select(func.max(SubmissionRow.sent_at)).where(SubmissionRow.case_id == case_id)
            )

    @survives_reconnect
    def pending_resubmission(self, case_id: int) -> datetime | None:
        with self._session() as session:
            return session.scalar(
                select(SubmissionRow.not_before)
                .where(SubmissionRow.case_id == case_id)
                .where(SubmissionRow.state.in_([SubmissionState.QUEUED.value, SubmissionState.SENDING.value]))
                .order_by(SubmissionRow.id.desc())
                .limit(1)
            )

    @survives_reconnect
    def queue_resubmission(
        self, case_id: int, actor: str, not_before: datetime, now: datetime | None = None
    ) -> int | None:
        """Queue a new submission of the case; None if one is already queued or the case is dismissed."""
        now = now or self._now()
        with self._session() as session:
            case = session.get(CaseRow, case_id, with_for_update=True)
            if case is None or case.status == CaseStatus.DISMISSED.value:
                return None
            waiting = session.scalar(
                select(func.count())
                .select_from(SubmissionRow)
                .where(SubmissionRow.case_id == case_id)
                .where(
                    SubmissionRow.state.in_(
                        [
                            SubmissionState.QUEUED.value,
                            SubmissionState.SENDING.value,
                            SubmissionState.CHECKING.value,
                        ]
                    )
                )
            )
            if waiting:
                return None
            first = session.scalar(
                select(SubmissionRow)
                .where(SubmissionRow.case_id == case_id)
                .order_by(SubmissionRow.id)
                .limit(1)
            )
            submission = SubmissionRow(
                case_id=case_id,
                kind=case.kind,
                state=SubmissionState.QUEUED.value,
                category=case.category,
                recipient=first.recipient if first else None,
                requested_by=actor,
                created_at=now,
                not_before=not_before,
                checks_done=0,
                send_attempts=0,
            )
            session.add(submission)
            later = not_before > now + timedelta(seconds=5)
            session.add(
                CaseActionRow(
                    case_id=case_id,
                    action="resubmit_scheduled" if later else "resubmitted",
                    actor=actor,
                    at=now,
                    detail=not_before.isoformat() if later else "",
                )
            )
            if not later:
                case.status = CaseStatus.SUBMITTING.value
            case.card_dirty = True
            case.updated_at = now
            session.flush()
            return submission.id

    @survives_reconnect
    def mark_resubmission_sent(self, case_id: int, *, scheduled_by: str) -> None:
        """Record on the card that a scheduled resubmission has now gone to Microsoft."""
        now = self._now()
        with self._session() as session:
            session.add(
                CaseActionRow(
                    case_id=case_id,
                    action="resubmitted",
                    actor="phishbot",
                    at=now,
                    detail=f"scheduled by {scheduled_by}",
                )
            )


def _is_power_of_two(number: int) -> bool:
    return number > 0 and number & (number - 1) == 0
