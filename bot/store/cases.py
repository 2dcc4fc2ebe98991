"""Cases: one per reported message, opened by intake (or joined), dismissed by a responder, and read whole as
the `CaseView` every card and message is drawn from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.domain import CaseStatus, CaseView, SubmissionSource, SubmissionState
from bot.store.case_views import case_view
from bot.store.database import survives_reconnect
from bot.store.models import CaseActionRow, CaseContentRow, CaseRow, ReporterRow, SubmissionRow
from bot.store.records import FollowedSubmission, NewReport, OpenedCase
from bot.store.repository import Repository, add_verdict, changed


class Cases(Repository):
    """A case and the first submission it queues; the reporters who join it."""

    @survives_reconnect
    def open_case(self, report: NewReport) -> OpenedCase:
        """One case per reported message: a new case with its queued submission, or the reporter joins."""
        now = self._now()
        try:
            with self._session() as session:
                case = _new_case(session, report, CaseStatus.SUBMITTING, now)
                session.add(_reporter_row(case.id, report, now))
                submission = SubmissionRow(
                    case_id=case.id,
                    kind=report.kind.value,
                    state=SubmissionState.QUEUED.value,
                    category=report.category.value,
                    recipient=report.reporter_email,
                    requested_by=report.reporter_id,
                    created_at=now,
                    not_before=now,
                    checks_done=0,
                    send_attempts=0,
                )
                session.add(submission)
                session.flush()
                return OpenedCase(case.id, created=True, joined=False, submission_id=submission.id)
        except IntegrityError:
            pass  # the message was reported before: join that case
        with self._session() as session:
            case_id = session.scalar(select(CaseRow.id).where(CaseRow.dedupe_key == report.dedupe_key[:300]))
            if (
                case_id is None
            ):  # pragma: no cover - the conflicting row cannot vanish (cases are never deleted)
                raise RuntimeError("case disappeared while joining it")
        try:
            with self._session() as session:
                reporter = _reporter_row(case_id, report, now)
                status = session.scalar(select(CaseRow.status).where(CaseRow.id == case_id))
                if status in _FINISHED_STATUSES:
                    # Joining a finished case: the acknowledgement carries the outcome, so the sweep must not
                    # send it again (marked here, in the same transaction, so there is no window for it).
                    reporter.outcome_sent_at = now
                session.add(reporter)
                _keep_copy(session, case_id, report)
                changed(
                    session,
                    update(CaseRow).where(CaseRow.id == case_id).values(card_dirty=True, updated_at=now),
                )
            return OpenedCase(case_id, created=False, joined=True, submission_id=None)
        except IntegrityError:
            return OpenedCase(case_id, created=False, joined=False, submission_id=None)

    @survives_reconnect
    def open_user_report(self, report: NewReport, followed: FollowedSubmission) -> OpenedCase | None:
        """A message an employee reported with the Report button: a new case that follows their submission (no
        submission of phishbot's own is queued), or their report and submission join the case of that message.
        None when this submission is phishbot's already (a listing seen twice: after a crash, by two replicas)."""
        for _ in range(3):
            try:
                return self._take_user_report(report, followed)
            except IntegrityError:
                # Another thread or replica made the case, the reporter row or this very submission meanwhile:
                # look again, in a new transaction.
                continue
        raise RuntimeError("a user report kept conflicting with concurrent writes")

    def _take_user_report(self, report: NewReport, followed: FollowedSubmission) -> OpenedCase | None:
        now = self._now()
        with self._session() as session:
            known = session.scalar(
                select(SubmissionRow.id).where(SubmissionRow.microsoft_id == followed.microsoft_id[:64])
            )
            if known is not None:
                return None
            final = followed.next_check_at is None
            case = session.scalar(select(CaseRow).where(CaseRow.dedupe_key == report.dedupe_key[:300]))
            created = case is None
            if case is None:
                case = _new_case(session, report, CaseStatus.VERDICT if final else CaseStatus.CHECKING, now)
            else:
                if case.status in (CaseStatus.GAVE_UP.value, CaseStatus.FAILED.value):
                    case.status = (CaseStatus.VERDICT if final else CaseStatus.CHECKING).value
                    case.error = None
                _keep_copy(session, case.id, report)
                case.card_dirty = True
                case.updated_at = now
            joined = False
            present = session.scalar(
                select(ReporterRow.id)
                .where(ReporterRow.case_id == case.id)
                .where(ReporterRow.user_id == report.reporter_id)
            )
            if present is None:
                reporter = _reporter_row(case.id, report, now)
                # The Report button's reporter hears the result from Microsoft (user-reported settings), and from
                # phishbot when a responder marks it and notifies: not from the verdict step.
                reporter.outcome_sent_at = now
                session.add(reporter)
                joined = not created
            submission = SubmissionRow(
                case_id=case.id,
                kind=report.kind.value,
                state=(SubmissionState.FINAL if final else SubmissionState.CHECKING).value,
                category=followed.category,
                recipient=followed.recipient[:320] or None,
                requested_by=report.reporter_id[:32],
                source=SubmissionSource.USER.value,
                microsoft_id=followed.microsoft_id[:64],
                created_at=now,
                not_before=now,
                sent_at=followed.created_at,
                next_check_at=followed.next_check_at,
                checks_done=0,
                send_attempts=0,
                finished_at=now if final else None,
            )
            session.add(submission)
            session.flush()
            add_verdict(session, submission, followed.verdict, now)
            return OpenedCase(case.id, created=created, joined=joined, submission_id=submission.id)

    @survives_reconnect
    def case_exists(self, case_id: int) -> bool:
        with self._session() as session:
            return session.get(CaseRow, case_id) is not None

    @survives_reconnect
    def case_view(self, case_id: int) -> CaseView:
        with self._session() as session:
            return case_view(session, case_id, self._now())

    @survives_reconnect
    def dismiss(self, case_id: int, actor: str) -> bool:
        """Mark the case not-phishing; False if it was already dismissed. Open checks stop; reporters are told."""
        now = self._now()
        with self._session() as session:
            dismissed = changed(
                session,
                update(CaseRow)
                .where(CaseRow.id == case_id)
                .where(CaseRow.status != CaseStatus.DISMISSED.value)
                .values(status=CaseStatus.DISMISSED.value, card_dirty=True, updated_at=now),
            )
            if dismissed != 1:
                return False
            changed(
                session,
                update(SubmissionRow)
                .where(SubmissionRow.case_id == case_id)
                .where(SubmissionRow.state.in_([SubmissionState.QUEUED.value]))
                .values(state=SubmissionState.GAVE_UP.value, finished_at=now, last_error="dismissed"),
            )
            session.add(CaseActionRow(case_id=case_id, action="dismissed", actor=actor, at=now, detail=""))
            # Reporters hear the dismissal even if they were already told an earlier outcome.
            changed(
                session,
                update(ReporterRow)
                .where(ReporterRow.case_id == case_id)
                .values(outcome_sent_at=None, outcome_claimed_by=None),
            )
            return True

    @survives_reconnect
    def record_network_message_id(self, case_id: int, network_message_id: str) -> None:
        """Remember the reported message's NetworkMessageId (the first one hunting found) for the card's links."""
        if not network_message_id:
            return
        with self._session() as session:
            changed(
                session,
                update(CaseRow)
                .where(CaseRow.id == case_id)
                .where(CaseRow.network_message_id.is_(None))
                .values(network_message_id=network_message_id[:64], card_dirty=True, updated_at=self._now()),
            )


_FINISHED_STATUSES = frozenset(
    {CaseStatus.VERDICT.value, CaseStatus.GAVE_UP.value, CaseStatus.DISMISSED.value}
)


def _new_case(session: Session, report: NewReport, status: CaseStatus, now: datetime) -> CaseRow:
    """The case of a message reported for the first time, with the bytes reported (kept apart)."""
    case = CaseRow(
        dedupe_key=report.dedupe_key[:300],
        kind=report.kind.value,
        status=status.value,
        category=report.category.value,
        door=report.door,
        subject=report.subject[:500],
        message_json=report.message.to_dict() if report.message else None,
        url=report.url,
        note=report.note,
        created_at=now,
        updated_at=now,
        card_dirty=True,
    )
    session.add(case)
    session.flush()
    if report.raw is not None:
        session.add(CaseContentRow(case_id=case.id, raw=report.raw))
    return case


def _keep_copy(session: Session, case_id: int, report: NewReport) -> None:
    """A case known only by what Microsoft said of it (reported with the Report button, the reporter's mailbox out
    of reach) takes the bytes a later report brings: the card gets the message's sections, Resubmit and Block
    something to send."""
    if report.raw is None or report.message is None:
        return
    if session.scalar(select(CaseContentRow.case_id).where(CaseContentRow.case_id == case_id)) is not None:
        return
    session.add(CaseContentRow(case_id=case_id, raw=report.raw))
    changed(
        session, update(CaseRow).where(CaseRow.id == case_id).values(message_json=report.message.to_dict())
    )


def _reporter_row(case_id: int, report: NewReport, now: datetime) -> ReporterRow:
    return ReporterRow(
        case_id=case_id,
        user_id=report.reporter_id,
        email=report.reporter_email,
        door=report.door,
        channel_id=report.channel_id,
        note=report.note,
        reported_at=now,
    )
