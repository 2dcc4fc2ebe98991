"""Persistence behind one interface. Every claim of work is an atomic UPDATE … WHERE, so two threads (or, later,
two replicas) never do the same work; uniqueness (one case per message, one reporter per case, one event per
id) is a database constraint."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from sqlalchemy import create_engine, event, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from bot.domain import (
    CaseAction,
    CaseKind,
    CaseStatus,
    CaseView,
    Category,
    ReportedMessage,
    SubmissionState,
    Verdict,
)
from bot.models import (
    AuditRow,
    CaseActionRow,
    CaseContentRow,
    CaseRow,
    ReporterRow,
    SeenEventRow,
    SubmissionRow,
    VerdictRow,
)

log = logging.getLogger(__name__)

# A worker that claimed a submission and died is presumed dead after this long; the work is then claimable again.
CLAIM_LEASE = timedelta(minutes=5)
# A card post claimed but never recorded (the process died mid-call) may be retried after this long.
CARD_CLAIM_LEASE = timedelta(minutes=2)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class NewReport:
    dedupe_key: str
    kind: CaseKind
    category: Category
    door: str
    reporter_id: str
    reporter_email: str | None
    channel_id: str | None
    subject: str = ""
    note: str = ""
    message: ReportedMessage | None = None
    url: str | None = None
    raw: bytes | None = None


@dataclass(frozen=True)
class OpenedCase:
    case_id: int
    created: bool  # a new case (and a queued submission) was made
    joined: bool  # the reporter was added to an existing case
    submission_id: int | None  # the queued submission of a new case


@dataclass(frozen=True)
class SendWork:
    submission_id: int
    case_id: int
    kind: CaseKind
    category: str
    recipient: str | None
    url: str | None
    raw: bytes | None
    attempts: int
    scheduled_by: str | None  # the responder who scheduled this resubmission for later, if it was one


@dataclass(frozen=True)
class CheckWork:
    submission_id: int
    case_id: int
    kind: CaseKind
    microsoft_id: str
    sent_at: datetime
    checks_done: int


@dataclass(frozen=True)
class ReporterToTell:
    reporter_row_id: int
    user_id: str
    channel_id: str | None


@dataclass(frozen=True)
class CaseSummary:
    case_id: int
    status: CaseStatus
    subject: str
    created_at: datetime
    verdict: Verdict | None


class Store:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.engine = _make_engine(database_url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    # --- schema --------------------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the newest revision (Alembic)."""
        from alembic import command

        with self.engine.begin() as connection:
            config = _alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def schema_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    @staticmethod
    def head_revision() -> str | None:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(_alembic_config()).get_current_head()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - readiness answers yes or no; the reason is logged
            log.warning("database is not reachable", exc_info=True)
            return False

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    # --- idempotency -----------------------------------------------------------------------------------------

    def first_time(self, key: str) -> bool:
        """True exactly once per key (a Slack event id, a click id), across threads and processes."""
        try:
            with self._session() as session:
                session.add(SeenEventRow(key=key[:255], seen_at=utcnow()))
            return True
        except IntegrityError:
            return False

    # --- intake ----------------------------------------------------------------------------------------------

    def open_case(self, report: NewReport) -> OpenedCase:
        """One case per reported message: a new case with its queued submission, or the reporter joins."""
        now = utcnow()
        try:
            with self._session() as session:
                case = CaseRow(
                    dedupe_key=report.dedupe_key[:300],
                    kind=report.kind.value,
                    status=CaseStatus.SUBMITTING.value,
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
                session.add(_reporter_row(case_id, report, now))
                session.execute(
                    update(CaseRow).where(CaseRow.id == case_id).values(card_dirty=True, updated_at=now)
                )
            return OpenedCase(case_id, created=False, joined=True, submission_id=None)
        except IntegrityError:
            return OpenedCase(case_id, created=False, joined=False, submission_id=None)

    # --- sending to Microsoft ----------------------------------------------------------------------------------

    def due_to_send(self, now: datetime | None = None, limit: int = 100) -> list[int]:
        now = now or utcnow()
        with self._session() as session:
            rows = session.scalars(
                select(SubmissionRow.id).where(_sendable(now)).order_by(SubmissionRow.not_before).limit(limit)
            )
            return list(rows)

    def claim_send(self, submission_id: int, now: datetime | None = None) -> SendWork | None:
        """Claim one submission for sending; None when another worker has it or it is not due."""
        now = now or utcnow()
        with self._session() as session:
            claimed = session.execute(
                update(SubmissionRow)
                .where(SubmissionRow.id == submission_id)
                .where(_sendable(now))
                .values(
                    state=SubmissionState.SENDING.value,
                    claimed_until=now + CLAIM_LEASE,
                    send_attempts=SubmissionRow.send_attempts + 1,
                )
            ).rowcount
            if claimed != 1:
                return None
            submission = session.get(SubmissionRow, submission_id)
            case = session.get(CaseRow, submission.case_id)
            content = session.get(CaseContentRow, case.id)
            case.status = CaseStatus.SUBMITTING.value
            case.updated_at = now
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
            )

    def record_sent(
        self, submission_id: int, microsoft_id: str, first_check_at: datetime, verdict: Verdict | None
    ) -> None:
        now = utcnow()
        with self._session() as session:
            submission = session.get(SubmissionRow, submission_id)
            submission.state = SubmissionState.CHECKING.value
            submission.microsoft_id = microsoft_id
            submission.sent_at = now
            submission.claimed_until = None
            submission.next_check_at = first_check_at
            submission.last_error = None
            if verdict is not None:
                _add_verdict(session, submission, verdict, now)
            case = session.get(CaseRow, submission.case_id)
            case.status = CaseStatus.CHECKING.value
            case.error = None
            case.updated_at = now
            case.card_dirty = True

    def record_send_failure(self, submission_id: int, error: str, retry_at: datetime | None) -> None:
        """A failed send: queued again for `retry_at`, or failed for good (the case shows the error)."""
        now = utcnow()
        with self._session() as session:
            submission = session.get(SubmissionRow, submission_id)
            submission.last_error = error
            submission.claimed_until = None
            case = session.get(CaseRow, submission.case_id)
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

    # --- verdict checks ----------------------------------------------------------------------------------------

    def claim_due_checks(self, now: datetime | None = None, limit: int = 1000) -> list[CheckWork]:
        """Claim every due check (up to `limit`): next_check_at moves past the lease, so no one else reads them."""
        now = now or utcnow()
        lease_end = now + CLAIM_LEASE
        with self._session() as session:
            candidates = list(
                session.scalars(
                    select(SubmissionRow.id)
                    .where(SubmissionRow.state == SubmissionState.CHECKING.value)
                    .where(SubmissionRow.next_check_at <= now)
                    .order_by(SubmissionRow.next_check_at)
                    .limit(limit)
                )
            )
        work: list[CheckWork] = []
        for submission_id in candidates:
            with self._session() as session:
                claimed = session.execute(
                    update(SubmissionRow)
                    .where(SubmissionRow.id == submission_id)
                    .where(SubmissionRow.state == SubmissionState.CHECKING.value)
                    .where(SubmissionRow.next_check_at <= now)
                    .values(next_check_at=lease_end)
                ).rowcount
                if claimed != 1:
                    continue
                row = session.get(SubmissionRow, submission_id)
                work.append(
                    CheckWork(
                        submission_id=row.id,
                        case_id=row.case_id,
                        kind=CaseKind(row.kind),
                        microsoft_id=row.microsoft_id or "",
                        sent_at=row.sent_at or row.created_at,
                        checks_done=row.checks_done,
                    )
                )
        return work

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
        now = utcnow()
        with self._session() as session:
            submission = session.get(SubmissionRow, submission_id)
            if submission.state != SubmissionState.CHECKING.value:
                return False
            submission.checks_done += 1
            submission.last_error = error
            case = session.get(CaseRow, submission.case_id)
            if verdict is not None:
                _add_verdict(session, submission, verdict, now)
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
            case.card_dirty = True
            return ended

    def open_check_count(self) -> int:
        with self._session() as session:
            return session.scalar(
                select(func.count())
                .select_from(SubmissionRow)
                .where(SubmissionRow.state == SubmissionState.CHECKING.value)
            )

    # --- the card ---------------------------------------------------------------------------------------------

    def claim_card_post(self, case_id: int, now: datetime | None = None) -> bool:
        """True for the one worker that may post the case's first card."""
        now = now or utcnow()
        with self._session() as session:
            return (
                session.execute(
                    update(CaseRow)
                    .where(CaseRow.id == case_id)
                    .where(CaseRow.card_ts.is_(None))
                    .where(
                        (CaseRow.card_claimed_at.is_(None))
                        | (CaseRow.card_claimed_at <= now - CARD_CLAIM_LEASE)
                    )
                    .values(card_claimed_at=now)
                ).rowcount
                == 1
            )

    def card_claim_time(self, case_id: int) -> datetime | None:
        with self._session() as session:
            return session.scalar(select(CaseRow.card_claimed_at).where(CaseRow.id == case_id))

    def record_card_posted(self, case_id: int, channel: str, ts: str) -> None:
        with self._session() as session:
            session.execute(
                update(CaseRow).where(CaseRow.id == case_id).values(card_channel=channel, card_ts=ts)
            )

    def release_card_claim(self, case_id: int) -> None:
        with self._session() as session:
            session.execute(
                update(CaseRow)
                .where(CaseRow.id == case_id)
                .where(CaseRow.card_ts.is_(None))
                .values(card_claimed_at=None)
            )

    def card_location(self, case_id: int) -> tuple[str, str] | None:
        with self._session() as session:
            row = session.execute(
                select(CaseRow.card_channel, CaseRow.card_ts).where(CaseRow.id == case_id)
            ).one()
            return (row.card_channel, row.card_ts) if row.card_ts else None

    def take_card_dirty(self, case_id: int) -> bool:
        """Clear the case's dirty flag; True if it was set (the caller then edits the card)."""
        with self._session() as session:
            return (
                session.execute(
                    update(CaseRow)
                    .where(CaseRow.id == case_id)
                    .where(CaseRow.card_dirty.is_(True))
                    .values(card_dirty=False)
                ).rowcount
                == 1
            )

    def mark_card_dirty(self, case_id: int) -> None:
        with self._session() as session:
            session.execute(update(CaseRow).where(CaseRow.id == case_id).values(card_dirty=True))

    def dirty_cards(self, limit: int = 100) -> list[int]:
        with self._session() as session:
            return list(
                session.scalars(
                    select(CaseRow.id).where(CaseRow.card_dirty.is_(True)).order_by(CaseRow.id).limit(limit)
                )
            )

    # --- reporters ---------------------------------------------------------------------------------------------

    def reporters_to_tell(self, case_id: int) -> list[ReporterToTell]:
        with self._session() as session:
            rows = session.scalars(
                select(ReporterRow)
                .where(ReporterRow.case_id == case_id)
                .where(ReporterRow.outcome_sent_at.is_(None))
            )
            return [ReporterToTell(r.id, r.user_id, r.channel_id) for r in rows]

    def claim_reporter_outcome(self, reporter_row_id: int) -> bool:
        """True once per reporter: the outcome message is sent at most once."""
        with self._session() as session:
            return (
                session.execute(
                    update(ReporterRow)
                    .where(ReporterRow.id == reporter_row_id)
                    .where(ReporterRow.outcome_sent_at.is_(None))
                    .values(outcome_sent_at=utcnow())
                ).rowcount
                == 1
            )

    def release_reporter_outcome(self, reporter_row_id: int) -> None:
        with self._session() as session:
            session.execute(
                update(ReporterRow).where(ReporterRow.id == reporter_row_id).values(outcome_sent_at=None)
            )

    def cases_with_untold_reporters(self, limit: int = 100) -> list[int]:
        """Finished cases with a reporter who has not yet been told the outcome (a DM that failed earlier)."""
        finished = [CaseStatus.VERDICT.value, CaseStatus.GAVE_UP.value, CaseStatus.DISMISSED.value]
        with self._session() as session:
            return list(
                session.scalars(
                    select(ReporterRow.case_id)
                    .join(CaseRow, CaseRow.id == ReporterRow.case_id)
                    .where(CaseRow.status.in_(finished))
                    .where(ReporterRow.outcome_sent_at.is_(None))
                    .distinct()
                    .limit(limit)
                )
            )

    def cases_reported_by(self, user_id: str, limit: int = 10) -> list[CaseSummary]:
        with self._session() as session:
            cases = session.scalars(
                select(CaseRow)
                .join(ReporterRow, ReporterRow.case_id == CaseRow.id)
                .where(ReporterRow.user_id == user_id)
                .order_by(CaseRow.id.desc())
                .limit(limit)
            )
            return [
                CaseSummary(
                    c.id, CaseStatus(c.status), c.subject, c.created_at, _latest_verdict(session, c.id)
                )
                for c in cases
            ]

    # --- responder actions -------------------------------------------------------------------------------------

    def case_exists(self, case_id: int) -> bool:
        with self._session() as session:
            return session.get(CaseRow, case_id) is not None

    def last_sent_at(self, case_id: int) -> datetime | None:
        with self._session() as session:
            return session.scalar(
                select(func.max(SubmissionRow.sent_at)).where(SubmissionRow.case_id == case_id)
            )

    def pending_resubmission(self, case_id: int) -> datetime | None:
        with self._session() as session:
            return session.scalar(
                select(SubmissionRow.not_before)
                .where(SubmissionRow.case_id == case_id)
                .where(SubmissionRow.state.in_([SubmissionState.QUEUED.value, SubmissionState.SENDING.value]))
                .order_by(SubmissionRow.id.desc())
                .limit(1)
            )

    def queue_resubmission(self, case_id: int, actor: str, not_before: datetime) -> int | None:
        """Queue a new submission of the case; None if one is already queued or the case is dismissed."""
        now = utcnow()
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

    def dismiss(self, case_id: int, actor: str) -> bool:
        """Mark the case not-phishing; False if it was already dismissed. Open checks stop; reporters are told."""
        now = utcnow()
        with self._session() as session:
            changed = session.execute(
                update(CaseRow)
                .where(CaseRow.id == case_id)
                .where(CaseRow.status != CaseStatus.DISMISSED.value)
                .values(status=CaseStatus.DISMISSED.value, card_dirty=True, updated_at=now)
            ).rowcount
            if changed != 1:
                return False
            session.execute(
                update(SubmissionRow)
                .where(SubmissionRow.case_id == case_id)
                .where(SubmissionRow.state.in_([SubmissionState.QUEUED.value]))
                .values(state=SubmissionState.GAVE_UP.value, finished_at=now, last_error="dismissed")
            )
            session.add(CaseActionRow(case_id=case_id, action="dismissed", actor=actor, at=now, detail=""))
            # Reporters hear the dismissal even if they were already told an earlier outcome.
            session.execute(
                update(ReporterRow).where(ReporterRow.case_id == case_id).values(outcome_sent_at=None)
            )
            return True

    def mark_resubmission_sent(self, case_id: int, *, scheduled_by: str) -> None:
        """Record on the card that a scheduled resubmission has now gone to Microsoft."""
        now = utcnow()
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

    # --- audit -------------------------------------------------------------------------------------------------

    def audit(
        self, actor: str, action: str, outcome: str, *, case_id: int | None = None, detail: str = ""
    ) -> None:
        with self._session() as session:
            session.add(
                AuditRow(
                    at=utcnow(),
                    actor=actor,
                    action=action,
                    case_id=case_id,
                    outcome=outcome,
                    detail=detail[:2000],
                )
            )

    def audit_entries(self, case_id: int | None = None) -> list[dict[str, Any]]:
        with self._session() as session:
            query = select(AuditRow).order_by(AuditRow.id)
            if case_id is not None:
                query = query.where(AuditRow.case_id == case_id)
            return [
                {
                    "at": r.at,
                    "actor": r.actor,
                    "action": r.action,
                    "case_id": r.case_id,
                    "outcome": r.outcome,
                    "detail": r.detail,
                }
                for r in session.scalars(query)
            ]

    # --- views -------------------------------------------------------------------------------------------------

    def case_view(self, case_id: int) -> CaseView:
        with self._session() as session:
            case = session.get(CaseRow, case_id)
            if case is None:
                raise KeyError(case_id)
            reporters = tuple(r.user_id for r in case.reporters)
            latest = case.submissions[-1] if case.submissions else None
            sent = [s for s in case.submissions if s.microsoft_id]
            current = sent[-1] if sent else None
            verdict = _latest_verdict(session, case.id)
            pending = [
                s
                for s in case.submissions
                if s.state == SubmissionState.QUEUED.value and s.not_before > utcnow()
            ]
            actions = tuple(
                CaseAction(action=a.action, actor=a.actor, at=a.at, detail=a.detail)
                for a in session.scalars(
                    select(CaseActionRow).where(CaseActionRow.case_id == case_id).order_by(CaseActionRow.id)
                )
            )
            first_note = case.reporters[0].note if case.reporters else case.note
            return CaseView(
                case_id=case.id,
                kind=CaseKind(case.kind),
                status=CaseStatus(case.status),
                category=Category(case.category),
                created_at=case.created_at,
                reporters=reporters,
                message=ReportedMessage.from_dict(case.message_json) if case.message_json else None,
                url=case.url,
                note=first_note or "",
                submission_id=current.microsoft_id if current else None,
                submitted_at=current.sent_at if current else None,
                checks_done=current.checks_done if current else 0,
                next_check_at=(
                    current.next_check_at
                    if current and current.state == SubmissionState.CHECKING.value
                    else None
                ),
                verdict=verdict,
                error=case.error or (latest.last_error if latest and latest.state == "failed" else None),
                actions=actions,
                resubmit_due_at=pending[-1].not_before if pending else None,
            )


def _sendable(now: datetime) -> ColumnElement[bool]:
    """Queued and due, or claimed by a worker whose lease ran out (it died mid-send)."""
    return ((SubmissionRow.state == SubmissionState.QUEUED.value) & (SubmissionRow.not_before <= now)) | (
        (SubmissionRow.state == SubmissionState.SENDING.value) & (SubmissionRow.claimed_until <= now)
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


def _add_verdict(session: Session, submission: SubmissionRow, verdict: Verdict, now: datetime) -> None:
    data = verdict.to_dict()
    previous = session.scalar(
        select(VerdictRow)
        .where(VerdictRow.submission_id == submission.id)
        .order_by(VerdictRow.id.desc())
        .limit(1)
    )
    if previous is not None and previous.result == _jsonable(data):
        return
    session.add(
        VerdictRow(
            submission_id=submission.id,
            observed_at=now,
            status=verdict.status,
            category=verdict.category,
            detail=verdict.detail,
            is_final=verdict.is_final,
            result=_jsonable(data),
        )
    )


def _latest_verdict(session: Session, case_id: int) -> Verdict | None:
    row = session.scalar(
        select(VerdictRow)
        .join(SubmissionRow, SubmissionRow.id == VerdictRow.submission_id)
        .where(SubmissionRow.case_id == case_id)
        .order_by(VerdictRow.id.desc())
        .limit(1)
    )
    return Verdict.from_dict(row.result) if row is not None else None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("bot") / "migrations"))
    return config


def _make_engine(database_url: str) -> Engine:
    if database_url.startswith("sqlite"):
        engine = create_engine(
            database_url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_pre_ping=True,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # pysqlite's own BEGIN is deferred: two threads that read then write deadlock into "database is
            # locked". We issue BEGIN IMMEDIATE ourselves (below), so writers queue on busy_timeout instead.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            # WAL lets the listener threads read while the sweep writes; foreign keys are off by default.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(database_url, pool_pre_ping=True, pool_size=10, max_overflow=10)
