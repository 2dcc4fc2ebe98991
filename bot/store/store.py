"""Persistence behind one interface. Every claim of work is an atomic UPDATE … WHERE, so two threads (or, later,
two replicas) never do the same work; uniqueness (one case per message, one reporter per case, one event per
id) is a database constraint."""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from sqlalchemy import create_engine, delete, event, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from bot.domain import (
    BlockEntry,
    BlockView,
    CaseAction,
    CaseKind,
    CaseStatus,
    CaseView,
    Category,
    RemediationState,
    RemediationView,
    ReportedMessage,
    SubmissionState,
    Verdict,
)
from bot.store.models import (
    AuditRow,
    BlockRequestRow,
    CaseActionRow,
    CaseContentRow,
    CaseRow,
    RemediationItemRow,
    RemediationRow,
    ReporterRow,
    SeenEventRow,
    SubmissionRow,
    VerdictRow,
    WorkerRow,
)

log = logging.getLogger(__name__)

# A worker that claimed a submission and died is presumed dead after this long; the work is then claimable again.
CLAIM_LEASE = timedelta(minutes=5)
# A card post claimed but never recorded (the process died mid-call) may be retried after this long.
CARD_CLAIM_LEASE = timedelta(minutes=2)
# Verdict checks claimed by a sweep that died (its replica was killed) are due again after this long. Only the
# scheduler's leader claims checks, so the lease only matters on fail-over, where a minute is the promise; a
# check read twice is harmless (a read), a check lost is not.
CHECK_LEASE = timedelta(seconds=60)
# Every running process writes a heartbeat this often (scheduler.Sweeper) ...
WORKER_HEARTBEAT_SECONDS = 2.0
# ... and one silent for this long is gone: its claims are free, whatever their lease says. Longer than a quick
# database restart, so the work of a live process is not taken from it while the server comes back.
WORKER_TIMEOUT = timedelta(seconds=10)


class SchemaError(Exception):
    """The database's schema is not the one this code needs; the message says what to run."""


class CommitUncertain(Exception):
    """The database connection broke while committing: the transaction may or may not have been committed, so
    it is not run again."""


# A PostgreSQL restart or fail-over: a store call waits this long for the server to come back rather than fail
# (a report taken in after Slack's ack exists nowhere else until it is recorded).
RECONNECT_SECONDS = 30.0


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
    queued_at: datetime
    # The last attempt's outcome is unknown (its worker died mid-send): Microsoft may have the submission
    # already, under an id that is none of these (the case's submissions we know of).
    resumed: bool = False
    known_ids: frozenset[str] = frozenset()


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


@dataclass(frozen=True)
class DigestCase:
    case_id: int
    created_at: datetime
    status: CaseStatus
    verdict: str | None  # category of the latest final verdict
    first_verdict_at: datetime | None


@dataclass(frozen=True)
class DigestFacts:
    """What the weekly digest is made of, for one window of time."""

    cases: list[DigestCase]  # cases opened in the window
    reports: int  # reports made in the window (a second reporter of a case counts)
    top_reporters: list[tuple[str, int]]
    seconds_to_verdict: list[float]  # report to first final verdict, for verdicts reached in the window
    audit: list[tuple[str, str, str]]  # (action, outcome, detail) of remediation and hunting entries


class Store:
    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.engine = _make_engine(database_url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # This process among the workers: every claim it makes carries this id (see WorkerRow).
        self.worker_id = uuid.uuid4().hex
        self._reconnects = not database_url.startswith("sqlite")  # a file does not restart

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

    def schema_problem(self) -> tuple[str, str] | None:
        """None when the schema is this code's; else (kind, one line saying what to do), kind being
        "empty", "behind" or "ahead"."""
        from alembic.script import ScriptDirectory
        from alembic.util import CommandError

        current, head = self.schema_revision(), self.head_revision()
        if current == head:
            return None
        if current is None:
            return "empty", "the database has no phishbot schema yet: run `phishbot migrate` first"
        try:
            known = ScriptDirectory.from_config(_alembic_config()).get_revision(current) is not None
        except CommandError:
            known = False
        if not known:
            return "ahead", (
                f"the database schema is at revision {current}, newer than this phishbot knows (it stops at"
                f" {head}): a newer release migrated it; run that release (or a newer one), not this one"
            )
        return "behind", (
            f"the database schema is at revision {current} and this phishbot needs {head}: run `phishbot migrate`"
            " (once, from one place) before starting"
        )

    def ensure_schema(self, *, migrate: bool) -> None:
        """Refuse a schema that is not this code's (SchemaError); bring an older one up to date if `migrate`."""
        problem = self.schema_problem()
        if problem is None:
            return
        kind, words = problem
        if kind == "ahead" or not migrate:
            raise SchemaError(words)
        self.migrate()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
            return True
        except Exception:
            log.warning("database is not reachable", exc_info=True)
            return False

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _session(self) -> Iterator[Session]:
        with self._sessions() as session:
            transaction = session.begin()
            try:
                yield session
                session.flush()  # a statement that fails does so here, before COMMIT: safe to run again
            except BaseException:
                try:
                    transaction.rollback()
                except Exception:
                    log.debug("rollback failed", exc_info=True)
                raise
            try:
                transaction.commit()
            except OperationalError as exc:
                raise CommitUncertain(
                    f"the database connection broke while committing ({type(exc.orig).__name__})"
                ) from exc

    def _due_ids(self, id_column: Any, due: ColumnElement[bool], order: Any, limit: int) -> list[int]:
        """Ids of the rows of one kind of due work, oldest first (claiming them is the caller's next step)."""
        with self._session() as session:
            return list(session.scalars(select(id_column).where(due).order_by(order).limit(limit)))

    def _lease_due(
        self, model: Any, state: Any, now: datetime, limit: int, to_work: Callable[[Any], Any]
    ) -> list:
        """Claim the rows of `model` in `state` whose next_check_at has come, oldest first (up to `limit`):
        next_check_at moves CHECK_LEASE ahead, so no other worker reads them meanwhile. `to_work` turns each
        claimed row into its work item."""
        due = (model.state == state) & (model.next_check_at <= now)
        work = []
        for row_id in self._due_ids(model.id, due, model.next_check_at, limit):
            with self._session() as session:
                claimed = session.execute(
                    update(model).where(model.id == row_id).where(due).values(next_check_at=now + CHECK_LEASE)
                ).rowcount
                if claimed == 1:
                    work.append(to_work(session.get(model, row_id)))
        return work

    # --- workers: whose claims are still held ----------------------------------------------------------------

    def heartbeat(self) -> None:
        """This worker is alive: its claims stay its own for another WORKER_TIMEOUT."""
        now = utcnow()
        with self._session() as session:
            seen = session.execute(
                update(WorkerRow).where(WorkerRow.id == self.worker_id).values(seen_at=now)
            ).rowcount
            if not seen:
                session.add(WorkerRow(id=self.worker_id, started_at=now, seen_at=now))
                # A worker gone for a day left nothing a claim could still name usefully.
                session.execute(delete(WorkerRow).where(WorkerRow.seen_at < now - timedelta(days=1)))

    def forget_other_workers(self) -> None:
        """Every other worker is gone (SQLite: this process holds the database's process lock): what they
        claimed is free now, not when its lease ends."""
        with self._session() as session:
            session.execute(delete(WorkerRow).where(WorkerRow.id != self.worker_id))
        self.heartbeat()

    def _orphaned(self, claimed_by: Any, now: datetime) -> ColumnElement[bool]:
        """Claimed by another worker that is gone (no recent heartbeat): the claim no longer protects anything."""
        live = select(WorkerRow.id).where(WorkerRow.seen_at > now - WORKER_TIMEOUT)
        return claimed_by.is_not(None) & (claimed_by != self.worker_id) & claimed_by.not_in(live)

    # --- idempotency -----------------------------------------------------------------------------------------

    def first_time(self, key: str) -> bool:
        """True exactly once per key (a Slack event id, a click id), across threads and processes."""
        try:
            with self._session() as session:
                session.add(SeenEventRow(key=key[:255], seen_at=utcnow()))
            return True
        except IntegrityError:
            return False

    def forget(self, key: str) -> None:
        """Undo `first_time(key)`: the work it guarded did not happen and may be tried again."""
        with self._session() as session:
            session.execute(delete(SeenEventRow).where(SeenEventRow.key == key[:255]))

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
                reporter = _reporter_row(case_id, report, now)
                status = session.scalar(select(CaseRow.status).where(CaseRow.id == case_id))
                if status in _FINISHED_STATUSES:
                    # Joining a finished case: the acknowledgement carries the outcome, so the sweep must not
                    # send it again (marked here, in the same transaction, so there is no window for it).
                    reporter.outcome_sent_at = now
                session.add(reporter)
                session.execute(
                    update(CaseRow).where(CaseRow.id == case_id).values(card_dirty=True, updated_at=now)
                )
            return OpenedCase(case_id, created=False, joined=True, submission_id=None)
        except IntegrityError:
            return OpenedCase(case_id, created=False, joined=False, submission_id=None)

    # --- sending to Microsoft ----------------------------------------------------------------------------------

    def _sendable(self, now: datetime) -> ColumnElement[bool]:
        """Queued and due, or claimed by a worker that died mid-send (gone, or its lease ran out)."""
        return ((SubmissionRow.state == SubmissionState.QUEUED.value) & (SubmissionRow.not_before <= now)) | (
            (SubmissionRow.state == SubmissionState.SENDING.value)
            & ((SubmissionRow.claimed_until <= now) | self._orphaned(SubmissionRow.claimed_by, now))
        )

    def due_to_send(self, now: datetime | None = None, limit: int = 100) -> list[int]:
        now = now or utcnow()
        return self._due_ids(SubmissionRow.id, self._sendable(now), SubmissionRow.not_before, limit)

    def claim_send(self, submission_id: int, now: datetime | None = None) -> SendWork | None:
        """Claim one submission for sending; None when another worker has it or it is not due."""
        now = now or utcnow()
        with self._session() as session:
            resumed = (
                session.scalar(select(SubmissionRow.state).where(SubmissionRow.id == submission_id))
                == SubmissionState.SENDING.value
            )
            claimed = session.execute(
                update(SubmissionRow)
                .where(SubmissionRow.id == submission_id)
                .where(self._sendable(now))
                .values(
                    state=SubmissionState.SENDING.value,
                    claimed_until=now + CLAIM_LEASE,
                    claimed_by=self.worker_id,
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
            submission.claimed_by = None
            submission.next_check_at = first_check_at
            submission.last_error = None
            if verdict is not None:
                _add_verdict(session, submission, verdict, now)
            case = session.get(CaseRow, submission.case_id)
            case.status = CaseStatus.CHECKING.value
            case.error = None
            case.updated_at = now
            case.card_dirty = True

    def retry_unsure_send(self, submission_id: int, retry_at: datetime, error: str) -> None:
        """Not sent, and whether the last attempt reached Microsoft is still unknown: claimable again at
        `retry_at`, still as a send whose outcome is unknown."""
        with self._session() as session:
            session.execute(
                update(SubmissionRow)
                .where(SubmissionRow.id == submission_id)
                .where(SubmissionRow.state == SubmissionState.SENDING.value)
                .values(claimed_until=retry_at, claimed_by=None, last_error=error)
            )

    def record_send_failure(self, submission_id: int, error: str, retry_at: datetime | None) -> None:
        """A failed send: queued again for `retry_at`, or failed for good (the case shows the error)."""
        now = utcnow()
        with self._session() as session:
            submission = session.get(SubmissionRow, submission_id)
            submission.last_error = error
            submission.claimed_until = None
            submission.claimed_by = None
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
        return self._lease_due(
            SubmissionRow,
            SubmissionState.CHECKING.value,
            now or utcnow(),
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
            changed = verdict is not None and _add_verdict(session, submission, verdict, now)
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

    def release_checks(self, submission_ids: list[int]) -> None:
        """Hand claimed checks back (shutting down before reading them): due again now, for whoever sweeps next."""
        if not submission_ids:
            return
        with self._session() as session:
            session.execute(
                update(SubmissionRow)
                .where(SubmissionRow.id.in_(submission_ids))
                .where(SubmissionRow.state == SubmissionState.CHECKING.value)
                .values(next_check_at=utcnow())
            )

    def release_leased_checks(self, now: datetime | None = None) -> int:
        """A new scheduler leader's first act: checks claimed by a leader that died would wait out their lease;
        make every check due within one lease due now (verdicts, purge verifications, blocks). Some were merely
        scheduled soon: read a little early."""
        now = now or utcnow()
        released = 0
        with self._session() as session:
            for table, checking in (
                (SubmissionRow, SubmissionState.CHECKING.value),
                (RemediationRow, RemediationState.VERIFYING.value),
                (BlockRequestRow, BlockState.CHECKING),
            ):
                released += session.execute(
                    update(table)
                    .where(table.state == checking)
                    .where(table.next_check_at > now)
                    .where(table.next_check_at <= now + CHECK_LEASE)
                    .values(next_check_at=now)
                ).rowcount
        return released

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
                        | self._orphaned(CaseRow.card_claimed_by, now)
                    )
                    .values(card_claimed_at=now, card_claimed_by=self.worker_id)
                ).rowcount
                == 1
            )

    def card_claim_time(self, case_id: int) -> datetime | None:
        with self._session() as session:
            return session.scalar(select(CaseRow.card_claimed_at).where(CaseRow.id == case_id))

    def record_card_posted(self, case_id: int, channel: str, ts: str) -> None:
        with self._session() as session:
            session.execute(
                update(CaseRow)
                .where(CaseRow.id == case_id)
                .values(card_channel=channel, card_ts=ts, card_claimed_by=None)
            )

    def release_card_claim(self, case_id: int) -> None:
        with self._session() as session:
            session.execute(
                update(CaseRow)
                .where(CaseRow.id == case_id)
                .where(CaseRow.card_ts.is_(None))
                .values(card_claimed_at=None, card_claimed_by=None)
            )

    def forget_card(self, case_id: int) -> None:
        """The card is gone from Slack (deleted): the next sync posts a new one."""
        with self._session() as session:
            session.execute(
                update(CaseRow)
                .where(CaseRow.id == case_id)
                .values(card_channel=None, card_ts=None, card_claimed_at=None, card_claimed_by=None)
            )

    def card_location(self, case_id: int) -> tuple[str, str] | None:
        with self._session() as session:
            row = session.execute(
                select(CaseRow.card_channel, CaseRow.card_ts).where(CaseRow.id == case_id)
            ).one()
            return (row.card_channel, row.card_ts) if row.card_ts else None

    def take_card_dirty(self, case_id: int) -> bool:
        """Clear the case's dirty flag; True if it was set, or if a worker that died was drawing the card (the
        caller then draws it, and says `card_drawn` after)."""
        with self._session() as session:
            return (
                session.execute(
                    update(CaseRow)
                    .where(CaseRow.id == case_id)
                    .where(CaseRow.card_dirty.is_(True) | self._orphaned(CaseRow.card_drawing_by, utcnow()))
                    .values(card_dirty=False, card_drawing_by=self.worker_id)
                ).rowcount
                == 1
            )

    def card_drawn(self, case_id: int) -> None:
        """The draw that `take_card_dirty` started is over (whether Slack took it or the card is dirty again)."""
        with self._session() as session:
            session.execute(
                update(CaseRow)
                .where(CaseRow.id == case_id)
                .where(CaseRow.card_drawing_by == self.worker_id)
                .values(card_drawing_by=None)
            )

    def case_updated_at(self, case_id: int) -> datetime | None:
        with self._session() as session:
            return session.scalar(select(CaseRow.updated_at).where(CaseRow.id == case_id))

    def mark_card_dirty(self, case_id: int) -> None:
        with self._session() as session:
            session.execute(update(CaseRow).where(CaseRow.id == case_id).values(card_dirty=True))

    def dirty_cards(self, limit: int = 100) -> list[int]:
        with self._session() as session:
            return list(
                session.scalars(
                    select(CaseRow.id)
                    .where(CaseRow.card_dirty.is_(True) | self._orphaned(CaseRow.card_drawing_by, utcnow()))
                    .order_by(CaseRow.id)
                    .limit(limit)
                )
            )

    # --- reporters ---------------------------------------------------------------------------------------------

    def _untold(self, now: datetime) -> ColumnElement[bool]:
        """Not told the outcome: never, or the worker sending it died before Slack confirmed it."""
        return ReporterRow.outcome_sent_at.is_(None) | self._orphaned(ReporterRow.outcome_claimed_by, now)

    def reporters_to_tell(self, case_id: int) -> list[ReporterToTell]:
        with self._session() as session:
            rows = session.scalars(
                select(ReporterRow).where(ReporterRow.case_id == case_id).where(self._untold(utcnow()))
            )
            return [ReporterToTell(r.id, r.user_id, r.channel_id) for r in rows]

    def claim_reporter_outcome(self, reporter_row_id: int) -> bool:
        """True once per reporter: the reporter counts as told (the acknowledgement that carried the outcome)."""
        with self._session() as session:
            return (
                session.execute(
                    update(ReporterRow)
                    .where(ReporterRow.id == reporter_row_id)
                    .where(self._untold(utcnow()))
                    .values(outcome_sent_at=utcnow(), outcome_claimed_by=None)
                ).rowcount
                == 1
            )

    def claim_outcome_message(self, reporter_row_id: int) -> bool:
        """True for the one worker that may send this reporter the outcome message now; it says
        `outcome_message_sent` once Slack took it, or `release_reporter_outcome` if Slack refused. Should the worker
        die in between, the reporter is untold again."""
        now = utcnow()
        with self._session() as session:
            return (
                session.execute(
                    update(ReporterRow)
                    .where(ReporterRow.id == reporter_row_id)
                    .where(self._untold(now))
                    .values(outcome_sent_at=now, outcome_claimed_by=self.worker_id)
                ).rowcount
                == 1
            )

    def outcome_message_sent(self, reporter_row_id: int) -> None:
        with self._session() as session:
            session.execute(
                update(ReporterRow)
                .where(ReporterRow.id == reporter_row_id)
                .where(ReporterRow.outcome_claimed_by == self.worker_id)
                .values(outcome_claimed_by=None)
            )

    def release_reporter_outcome(self, reporter_row_id: int) -> None:
        with self._session() as session:
            session.execute(
                update(ReporterRow)
                .where(ReporterRow.id == reporter_row_id)
                .values(outcome_sent_at=None, outcome_claimed_by=None)
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
                    .where(self._untold(utcnow()))
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

    def queue_resubmission(
        self, case_id: int, actor: str, not_before: datetime, now: datetime | None = None
    ) -> int | None:
        """Queue a new submission of the case; None if one is already queued or the case is dismissed."""
        now = now or utcnow()
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
                update(ReporterRow)
                .where(ReporterRow.case_id == case_id)
                .values(outcome_sent_at=None, outcome_claimed_by=None)
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

    def audit_entries(
        self, case_id: int | None = None, since: datetime | None = None
    ) -> list[dict[str, Any]]:
        with self._session() as session:
            query = select(AuditRow).order_by(AuditRow.id)
            if case_id is not None:
                query = query.where(AuditRow.case_id == case_id)
            if since is not None:
                query = query.where(AuditRow.at >= since)
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

    # --- the digest ------------------------------------------------------------------------------------------

    def digest_facts(
        self, since: datetime, until: datetime, *, audit_actions: tuple[str, ...], top: int = 5
    ) -> DigestFacts:
        with self._session() as session:
            cases = session.execute(
                select(CaseRow.id, CaseRow.created_at, CaseRow.status)
                .where(CaseRow.created_at >= since)
                .where(CaseRow.created_at < until)
                .order_by(CaseRow.id)
            ).all()
            opened_in_window = (
                select(CaseRow.id).where(CaseRow.created_at >= since).where(CaseRow.created_at < until)
            )
            latest: dict[int, str | None] = {}
            first_at: dict[int, datetime] = {}
            for case_id, observed_at, category in session.execute(
                select(SubmissionRow.case_id, VerdictRow.observed_at, VerdictRow.category)
                .join(SubmissionRow, SubmissionRow.id == VerdictRow.submission_id)
                .where(VerdictRow.is_final.is_(True))
                .where(SubmissionRow.case_id.in_(opened_in_window))
                .order_by(VerdictRow.id)
            ):
                latest[case_id] = category
                first_at.setdefault(case_id, observed_at)
            # Time to verdict counts the verdicts reached in the window, whenever their case was reported.
            first_final = func.min(VerdictRow.observed_at)
            seconds = [
                max((reached - reported).total_seconds(), 0.0)
                for reported, reached in session.execute(
                    select(CaseRow.created_at, first_final)
                    .join(SubmissionRow, SubmissionRow.case_id == CaseRow.id)
                    .join(VerdictRow, VerdictRow.submission_id == SubmissionRow.id)
                    .where(VerdictRow.is_final.is_(True))
                    .group_by(CaseRow.id, CaseRow.created_at)
                    .having(first_final >= since)
                    .having(first_final < until)
                )
            ]
            in_window = (ReporterRow.reported_at >= since) & (ReporterRow.reported_at < until)
            reports = session.scalar(select(func.count()).select_from(ReporterRow).where(in_window)) or 0
            top_reporters = [
                (user_id, count)
                for user_id, count in session.execute(
                    select(ReporterRow.user_id, func.count().label("n"))
                    .where(in_window)
                    .group_by(ReporterRow.user_id)
                    .order_by(func.count().desc(), ReporterRow.user_id)
                    .limit(top)
                )
            ]
            audit = [
                (a.action, a.outcome, a.detail)
                for a in session.execute(
                    select(AuditRow.action, AuditRow.outcome, AuditRow.detail)
                    .where(AuditRow.at >= since)
                    .where(AuditRow.at < until)
                    .where(AuditRow.action.in_(audit_actions))
                    .order_by(AuditRow.id)
                )
            ]
            return DigestFacts(
                cases=[
                    DigestCase(
                        case_id=c.id,
                        created_at=c.created_at,
                        status=CaseStatus(c.status),
                        verdict=latest.get(c.id),
                        first_verdict_at=first_at.get(c.id),
                    )
                    for c in cases
                ],
                reports=int(reports),
                top_reporters=top_reporters,
                seconds_to_verdict=seconds,
                audit=audit,
            )

    # --- remediations (purge, restore) -----------------------------------------------------------------------

    def start_remediation(
        self,
        case_id: int,
        *,
        kind: str,
        scope: str,
        action: str,
        method: str,
        actor: str,
        restores_id: int | None = None,
    ) -> int | None:
        """Take the case's one remediation slot; None when another remediation of the case holds it (the unique
        `active_case_id` decides, so two clicks, threads or replicas can never both start one)."""
        now = utcnow()
        try:
            with self._session() as session:
                row = RemediationRow(
                    case_id=case_id,
                    active_case_id=case_id,
                    kind=kind,
                    scope=scope,
                    action=action,
                    method=method,
                    state=RemediationState.FINDING.value,
                    requested_by=actor,
                    restores_id=restores_id,
                    total=0,
                    done_count=0,
                    failed_count=0,
                    missing_count=0,
                    created_at=now,
                    updated_at=now,
                    # Held by this worker while it looks for the copies; should it die, another looks again.
                    claimed_until=now + REMEDIATION_LEASE,
                    claimed_by=self.worker_id,
                )
                session.add(row)
                session.flush()
                _touch_case(session, case_id, now)
                return row.id
        except IntegrityError:
            return None

    def add_remediation_items(self, remediation_id: int, copies: Sequence[Any]) -> int:
        """Record the copies found (objects with network_message_id, recipient, internet_message_id, location)
        and move the remediation on to running, for whichever worker claims it next."""
        now = utcnow()
        with self._session() as session:
            row = session.get(RemediationRow, remediation_id)
            if copies:
                session.execute(
                    insert(RemediationItemRow),
                    [
                        {
                            "remediation_id": remediation_id,
                            "network_message_id": c.network_message_id[:64],
                            "recipient": c.recipient[:320],
                            "internet_message_id": c.internet_message_id,
                            "location": (c.location or None) and c.location[:64],
                            "state": ItemState.PENDING,
                            "mailbox_message_id": getattr(c, "mailbox_message_id", None),
                            "detail": "",
                        }
                        for c in copies
                    ],
                )
            row.total = len(copies)
            row.state = RemediationState.RUNNING.value
            row.claimed_until = None
            row.claimed_by = None
            row.updated_at = now
            _touch_case(session, row.case_id, now)
            return len(copies)

    def _remediation_runnable(self, now: datetime) -> ColumnElement[bool]:
        """Running and not held; or still looking for its copies, held by a worker that died (or overran)."""
        expired = (RemediationRow.claimed_until <= now) | self._orphaned(RemediationRow.claimed_by, now)
        return (
            (RemediationRow.state == RemediationState.RUNNING.value)
            & (RemediationRow.claimed_until.is_(None) | expired)
        ) | ((RemediationRow.state == RemediationState.FINDING.value) & expired)

    def due_remediations(self, now: datetime | None = None, limit: int = 20) -> list[int]:
        now = now or utcnow()
        return self._due_ids(RemediationRow.id, self._remediation_runnable(now), RemediationRow.id, limit)

    def claim_remediation(self, remediation_id: int, now: datetime | None = None) -> RemediationWork | None:
        """Claim a remediation for one worker (a lease, extended as it records progress): a running one, or one
        whose worker died while looking for its copies (its state says FINDING: look again)."""
        now = now or utcnow()
        with self._session() as session:
            claimed = session.execute(
                update(RemediationRow)
                .where(RemediationRow.id == remediation_id)
                .where(self._remediation_runnable(now))
                .values(claimed_until=now + REMEDIATION_LEASE, claimed_by=self.worker_id)
            ).rowcount
            if claimed != 1:
                return None
            return _remediation_work(session.get(RemediationRow, remediation_id))

    def remediation_work(self, remediation_id: int) -> RemediationWork:
        with self._session() as session:
            return _remediation_work(session.get(RemediationRow, remediation_id))

    def remediation_items(
        self, remediation_id: int, states: Sequence[str], limit: int | None = None
    ) -> list[ItemWork]:
        with self._session() as session:
            query = (
                select(RemediationItemRow)
                .where(RemediationItemRow.remediation_id == remediation_id)
                .where(RemediationItemRow.state.in_(list(states)))
                .order_by(RemediationItemRow.id)
            )
            if limit is not None:
                query = query.limit(limit)
            return [
                ItemWork(
                    item_id=i.id,
                    network_message_id=i.network_message_id,
                    recipient=i.recipient,
                    internet_message_id=i.internet_message_id,
                    location=i.location or "",
                    state=i.state,
                    mailbox_message_id=i.mailbox_message_id,
                )
                for i in session.scalars(query)
            ]

    def record_remediation_items(self, remediation_id: int, updates: Sequence[ItemUpdate]) -> None:
        """Store what happened to some copies; the counts on the card follow, and the lease is extended."""
        now = utcnow()
        with self._session() as session:
            for item in updates:
                values: dict[str, Any] = {"state": item.state, "detail": item.detail[:500]}
                if item.mailbox_message_id is not None:
                    values["mailbox_message_id"] = item.mailbox_message_id
                if item.location is not None:
                    values["location"] = item.location[:64]
                session.execute(
                    update(RemediationItemRow)
                    .where(RemediationItemRow.id == item.item_id)
                    .where(RemediationItemRow.remediation_id == remediation_id)
                    .values(**values)
                )
            row = session.get(RemediationRow, remediation_id)
            counts = dict(
                session.execute(
                    select(RemediationItemRow.state, func.count())
                    .where(RemediationItemRow.remediation_id == remediation_id)
                    .group_by(RemediationItemRow.state)
                ).all()
            )
            row.done_count = counts.get(ItemState.DONE, 0)
            row.failed_count = counts.get(ItemState.FAILED, 0)
            row.missing_count = counts.get(ItemState.MISSING, 0)
            row.updated_at = now
            if row.claimed_until is not None:
                row.claimed_until = now + REMEDIATION_LEASE
            _touch_case(session, row.case_id, now)

    def add_action_center_url(self, remediation_id: int, url: str) -> None:
        with self._session() as session:
            row = session.get(RemediationRow, remediation_id)
            row.action_center_urls = [*(row.action_center_urls or []), url[:2000]]
            row.updated_at = utcnow()
            _touch_case(session, row.case_id, row.updated_at)

    def switch_remediation_method(self, remediation_id: int, method: str, reason: str) -> None:
        with self._session() as session:
            row = session.get(RemediationRow, remediation_id)
            row.method = method
            row.error = reason[:1000]
            row.updated_at = utcnow()
            _touch_case(session, row.case_id, row.updated_at)

    def remediation_submitted(
        self, remediation_id: int, *, next_check_at: datetime, give_up_at: datetime
    ) -> None:
        """Microsoft accepted every copy: from now on the delivery locations are read again until done."""
        with self._session() as session:
            row = session.get(RemediationRow, remediation_id)
            row.state = RemediationState.VERIFYING.value
            row.claimed_until = None
            row.claimed_by = None
            row.next_check_at = next_check_at
            row.give_up_at = give_up_at
            row.updated_at = utcnow()
            _touch_case(session, row.case_id, row.updated_at)

    def release_remediation(self, remediation_id: int, retry_at: datetime, error: str | None = None) -> None:
        """Stop working on it for now (Graph is unwell, or shutting down); due again at `retry_at`."""
        with self._session() as session:
            row = session.get(RemediationRow, remediation_id)
            row.claimed_until = retry_at
            row.claimed_by = None  # not before retry_at, whoever is alive then
            if error is not None:
                row.error = error[:1000]
            row.updated_at = utcnow()
            _touch_case(session, row.case_id, row.updated_at)

    def finish_remediation(
        self,
        remediation_id: int,
        state: RemediationState,
        error: str | None = None,
        *,
        audit: tuple[str, str, str, str] | None = None,
    ) -> bool:
        """End it (done, partial or failed) and free the case's slot, with its audit entry (actor, action,
        outcome, detail) in the same transaction. False if it had already ended."""
        now = utcnow()
        with self._session() as session:
            row = session.get(RemediationRow, remediation_id)
            if row.active_case_id is None:
                return False
            if audit is not None:
                actor, action, outcome, detail = audit
                session.add(
                    AuditRow(
                        at=now,
                        actor=actor,
                        action=action,
                        case_id=row.case_id,
                        outcome=outcome,
                        detail=detail[:2000],
                    )
                )
            row.state = state.value
            row.active_case_id = None
            row.claimed_until = None
            row.claimed_by = None
            row.next_check_at = None
            row.finished_at = now
            row.updated_at = now
            if error is not None:
                row.error = error[:1000]
            _touch_case(session, row.case_id, now)
            return True

    def claim_due_verifications(self, now: datetime | None = None, limit: int = 50) -> list[RemediationWork]:
        return self._lease_due(
            RemediationRow, RemediationState.VERIFYING.value, now or utcnow(), limit, _remediation_work
        )

    def schedule_verification(self, remediation_id: int, next_check_at: datetime) -> None:
        with self._session() as session:
            session.execute(
                update(RemediationRow)
                .where(RemediationRow.id == remediation_id)
                .where(RemediationRow.state == RemediationState.VERIFYING.value)
                .values(next_check_at=next_check_at)
            )

    def record_network_message_id(self, case_id: int, network_message_id: str) -> None:
        """Remember the reported message's NetworkMessageId (the first one hunting found) for the card's links."""
        if not network_message_id:
            return
        with self._session() as session:
            session.execute(
                update(CaseRow)
                .where(CaseRow.id == case_id)
                .where(CaseRow.network_message_id.is_(None))
                .values(network_message_id=network_message_id[:64], card_dirty=True, updated_at=utcnow())
            )

    # --- blocks (Tenant Allow/Block List) --------------------------------------------------------------------

    def submission_times(self, case_id: int, exclude_block_id: int | None = None) -> list[datetime]:
        """When the bot sent this case's message to Microsoft: verdict submissions and blocks alike (Microsoft
        throttles the same item whatever the submission is for). A send in flight counts as now."""
        now = utcnow()
        with self._session() as session:
            times = list(
                session.scalars(
                    select(SubmissionRow.sent_at)
                    .where(SubmissionRow.case_id == case_id)
                    .where(SubmissionRow.sent_at.is_not(None))
                )
            )
            times += list(
                session.scalars(
                    select(BlockRequestRow.sent_at)
                    .where(BlockRequestRow.case_id == case_id)
                    .where(BlockRequestRow.sent_at.is_not(None))
                )
            )
            in_flight = session.scalar(
                select(func.count())
                .select_from(SubmissionRow)
                .where(SubmissionRow.case_id == case_id)
                .where(SubmissionRow.state == SubmissionState.SENDING.value)
            ) + session.scalar(
                select(func.count())
                .select_from(BlockRequestRow)
                .where(BlockRequestRow.case_id == case_id)
                .where(BlockRequestRow.state == BlockState.SENDING)
                .where(BlockRequestRow.id != (exclude_block_id or 0))
            )
            return sorted(times + [now] * int(in_flight or 0))

    def queue_block(
        self,
        case_id: int,
        actor: str,
        *,
        expires_days: int,
        note: str,
        not_before: datetime,
        automatic: bool = False,
    ) -> int | None:
        """Record a block to send at `not_before`. None when one is already waiting or being sent for the case,
        or (automatic) when the case was already considered for an automatic block."""
        now = utcnow()
        try:
            with self._session() as session:
                session.get(CaseRow, case_id, with_for_update=True)
                waiting = session.scalar(
                    select(func.count())
                    .select_from(BlockRequestRow)
                    .where(BlockRequestRow.case_id == case_id)
                    .where(BlockRequestRow.state.in_([BlockState.SCHEDULED, BlockState.SENDING]))
                )
                if waiting and not automatic:
                    return None
                row = BlockRequestRow(
                    case_id=case_id,
                    auto_case_id=case_id if automatic else None,
                    automatic=automatic,
                    requested_by=actor,
                    state=BlockState.SCHEDULED,
                    expires_days=expires_days,
                    note=note[:1000],
                    created_at=now,
                    not_before=not_before,
                    checks_done=0,
                )
                session.add(row)
                session.flush()
                _touch_case(session, case_id, now)
                return row.id
        except IntegrityError:
            return None

    def skip_auto_block(self, case_id: int, reason: str) -> bool:
        """Record that the case was considered for an automatic block and not blocked (a simulation...)."""
        now = utcnow()
        try:
            with self._session() as session:
                session.add(
                    BlockRequestRow(
                        case_id=case_id,
                        auto_case_id=case_id,
                        automatic=True,
                        requested_by="phishbot",
                        state=BlockState.SKIPPED,
                        expires_days=0,
                        note="",
                        created_at=now,
                        not_before=now,
                        checks_done=0,
                        last_error=reason[:1000],
                        finished_at=now,
                    )
                )
                _touch_case(session, case_id, now)
            return True
        except IntegrityError:
            return False

    def auto_block_candidates(self, categories: Sequence[str], limit: int = 50) -> list[tuple[int, Verdict]]:
        """Email cases with a final verdict in `categories` never yet considered for an automatic block, with
        their latest verdict (the caller decides: block, or skip a simulation)."""
        if not categories:
            return []
        with self._session() as session:
            considered = select(BlockRequestRow.auto_case_id).where(BlockRequestRow.auto_case_id.is_not(None))
            case_ids = list(
                session.scalars(
                    select(SubmissionRow.case_id)
                    .join(VerdictRow, VerdictRow.submission_id == SubmissionRow.id)
                    .join(CaseRow, CaseRow.id == SubmissionRow.case_id)
                    .where(VerdictRow.is_final.is_(True))
                    .where(VerdictRow.category.in_(list(categories)))
                    .where(CaseRow.kind == CaseKind.EMAIL.value)
                    .where(CaseRow.status == CaseStatus.VERDICT.value)
                    .where(SubmissionRow.case_id.not_in(considered))
                    .distinct()
                    .limit(limit)
                )
            )
            found = []
            for case_id in case_ids:
                verdict = _latest_verdict(session, case_id)
                if verdict is not None:
                    found.append((case_id, verdict))
            return found

    def due_blocks(self, now: datetime | None = None, limit: int = 50) -> list[int]:
        now = now or utcnow()
        return self._due_ids(BlockRequestRow.id, self._block_sendable(now), BlockRequestRow.not_before, limit)

    def _block_sendable(self, now: datetime) -> ColumnElement[bool]:
        return ((BlockRequestRow.state == BlockState.SCHEDULED) & (BlockRequestRow.not_before <= now)) | (
            (BlockRequestRow.state == BlockState.SENDING)
            & ((BlockRequestRow.claimed_until <= now) | self._orphaned(BlockRequestRow.claimed_by, now))
        )

    def claim_block_send(self, block_id: int, now: datetime | None = None) -> BlockSendWork | None:
        now = now or utcnow()
        with self._session() as session:
            claimed = session.execute(
                update(BlockRequestRow)
                .where(BlockRequestRow.id == block_id)
                .where(self._block_sendable(now))
                .values(state=BlockState.SENDING, claimed_until=now + CLAIM_LEASE, claimed_by=self.worker_id)
            ).rowcount
            if claimed != 1:
                return None
            row = session.get(BlockRequestRow, block_id)
            case = session.get(CaseRow, row.case_id)
            content = session.get(CaseContentRow, row.case_id)
            recipient = session.scalar(
                select(SubmissionRow.recipient)
                .where(SubmissionRow.case_id == row.case_id)
                .where(SubmissionRow.recipient.is_not(None))
                .order_by(SubmissionRow.id)
                .limit(1)
            )
            _touch_case(session, row.case_id, now)
            return BlockSendWork(
                block_id=row.id,
                case_id=row.case_id,
                raw=content.raw if content else None,
                recipient=recipient,
                category=case.category,
                expires_days=row.expires_days,
                note=row.note,
                automatic=row.automatic,
                requested_by=row.requested_by,
                case_dismissed=case.status == CaseStatus.DISMISSED.value,
            )

    def reschedule_block(self, block_id: int, not_before: datetime, reason: str | None = None) -> None:
        with self._session() as session:
            row = session.get(BlockRequestRow, block_id)
            row.state = BlockState.SCHEDULED
            row.not_before = not_before
            row.claimed_until = None
            row.claimed_by = None
            row.last_error = reason[:1000] if reason else None
            _touch_case(session, row.case_id, utcnow())

    def record_block_sent(self, block_id: int, microsoft_id: str, next_check_at: datetime) -> None:
        now = utcnow()
        with self._session() as session:
            row = session.get(BlockRequestRow, block_id)
            row.state = BlockState.CHECKING
            row.microsoft_id = microsoft_id[:64] or None
            row.sent_at = now
            row.claimed_until = None
            row.claimed_by = None
            row.next_check_at = next_check_at
            row.last_error = None
            _touch_case(session, row.case_id, now)

    def record_block_failure(self, block_id: int, error: str) -> None:
        now = utcnow()
        with self._session() as session:
            row = session.get(BlockRequestRow, block_id)
            row.state = BlockState.FAILED
            row.claimed_until = None
            row.claimed_by = None
            row.last_error = error[:1000]
            row.finished_at = now
            _touch_case(session, row.case_id, now)

    def claim_due_block_checks(self, now: datetime | None = None, limit: int = 200) -> list[BlockCheckWork]:
        return self._lease_due(
            BlockRequestRow,
            BlockState.CHECKING,
            now or utcnow(),
            limit,
            lambda row: BlockCheckWork(
                block_id=row.id,
                case_id=row.case_id,
                microsoft_id=row.microsoft_id or "",
                sent_at=row.sent_at or row.created_at,
                checks_done=row.checks_done,
            ),
        )

    def record_block_check(
        self,
        block_id: int,
        results: list[dict[str, Any]] | None,
        *,
        finished: str | None,
        next_check_at: datetime | None,
        error: str | None = None,
        audit: tuple[str, str, str, str] | None = None,
    ) -> bool:
        """Store what Microsoft says about a block's entries; `finished` ("done", "gave_up") ends the checks,
        with `audit` (actor, action, outcome, detail) in the same transaction. True when this check ended them."""
        now = utcnow()
        with self._session() as session:
            row = session.get(BlockRequestRow, block_id)
            if row.state != BlockState.CHECKING:
                return False
            if finished and audit is not None:
                actor, action, outcome, detail = audit
                session.add(
                    AuditRow(
                        at=now,
                        actor=actor,
                        action=action,
                        case_id=row.case_id,
                        outcome=outcome,
                        detail=detail[:2000],
                    )
                )
            row.checks_done += 1
            if results is not None:
                row.results = results
            row.last_error = error[:1000] if error else None
            if finished:
                row.state = finished
                row.next_check_at = None
                row.finished_at = now
            else:
                row.next_check_at = next_check_at
            _touch_case(session, row.case_id, now)
            return bool(finished)

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
                network_message_id=case.network_message_id,
                remediations=_remediation_views(session, case.id),
                blocks=_block_views(session, case.id),
            )


def _survives_reconnect(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a store method again when PostgreSQL went away before its transaction committed (a restart, a
    fail-over): the server rolled the transaction back, so running it again is safe. For up to RECONNECT_SECONDS,
    then the error stands."""

    @functools.wraps(method)
    def run(self: Store, *args: Any, **kwargs: Any) -> Any:
        deadline = time.monotonic() + RECONNECT_SECONDS
        pause = 0.1
        while True:
            try:
                return method(self, *args, **kwargs)
            except OperationalError as exc:
                if not self._reconnects or time.monotonic() + pause > deadline:
                    raise
                log.warning(
                    "database unavailable in %s (%s); trying again", method.__name__, type(exc.orig).__name__
                )
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    return run


# Answered at once, database or not: readiness, metrics and the schema steps an operator runs.
_FAIL_FAST = frozenset(
    {"ping", "close", "migrate", "schema_revision", "head_revision", "schema_problem", "ensure_schema",
     "open_check_count"}
)  # fmt: skip
for _name, _method in list(vars(Store).items()):
    if not _name.startswith("_") and _name not in _FAIL_FAST and callable(_method):
        setattr(Store, _name, _survives_reconnect(_method))


_FINISHED_STATUSES = frozenset(
    {CaseStatus.VERDICT.value, CaseStatus.GAVE_UP.value, CaseStatus.DISMISSED.value}
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


def _is_power_of_two(number: int) -> bool:
    return number > 0 and number & (number - 1) == 0


def _add_verdict(session: Session, submission: SubmissionRow, verdict: Verdict, now: datetime) -> bool:
    """Record Microsoft's answer if it differs from the last one; True when it did."""
    data = verdict.to_dict()
    previous = session.scalar(
        select(VerdictRow)
        .where(VerdictRow.submission_id == submission.id)
        .order_by(VerdictRow.id.desc())
        .limit(1)
    )
    if previous is not None and previous.result == _jsonable(data):
        return False
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
    return True


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
    config.set_main_option("script_location", str(resources.files("bot.store") / "migrations"))
    return config


def _make_engine(database_url: str) -> Engine:
    if database_url.startswith("sqlite"):
        engine = create_engine(
            database_url,
            connect_args={"check_same_thread": False, "timeout": 30},
            # No pre-ping: a file does not drop connections, and the ping was one more query per checkout.
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # pysqlite's own BEGIN is deferred: two threads that read then write deadlock into "database is
            # locked". We issue BEGIN IMMEDIATE ourselves (below), so writers queue on busy_timeout instead.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            # WAL lets the listener threads read while the sweep writes; foreign keys are off by default.
            cursor.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL syncs at checkpoints, not at every commit: a commit survives the process being
            # killed (what the crash tests prove), and only a power cut can undo the last few, which the store's
            # claims and the look-up before a resend tolerate. FULL cost an fsync per card and per verdict.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(database_url, pool_pre_ping=True, pool_size=10, max_overflow=10)


# --- remediation and block work ----------------------------------------------------------------------------------

# A worker that claimed a remediation and died is presumed dead after this long (it extends the lease as it goes).
REMEDIATION_LEASE = timedelta(minutes=5)


class ItemState:
    PENDING = "pending"  # not yet sent anywhere
    SUBMITTED = "submitted"  # Defender accepted it; waiting to see it happen
    DONE = "done"  # removed (purge) or back in the inbox (restore)
    FAILED = "failed"
    MISSING = "missing"  # the mailbox API found no such message


class BlockState:
    SCHEDULED = "scheduled"
    SENDING = "sending"
    CHECKING = "checking"
    DONE = "done"
    FAILED = "failed"
    GAVE_UP = "gave_up"
    SKIPPED = "skipped"  # an automatic block that was not made (a simulation)


@dataclass(frozen=True)
class RemediationWork:
    remediation_id: int
    case_id: int
    kind: str
    scope: str
    action: str
    method: str
    state: RemediationState
    total: int
    requested_by: str
    restores_id: int | None
    created_at: datetime
    give_up_at: datetime | None


@dataclass(frozen=True)
class ItemWork:
    item_id: int
    network_message_id: str
    recipient: str
    internet_message_id: str
    location: str
    state: str
    mailbox_message_id: str | None


@dataclass(frozen=True)
class ItemUpdate:
    item_id: int
    state: str
    detail: str = ""
    mailbox_message_id: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class BlockSendWork:
    block_id: int
    case_id: int
    raw: bytes | None
    recipient: str | None
    category: str
    expires_days: int
    note: str
    automatic: bool
    requested_by: str
    case_dismissed: bool


@dataclass(frozen=True)
class BlockCheckWork:
    block_id: int
    case_id: int
    microsoft_id: str
    sent_at: datetime
    checks_done: int


def _touch_case(session: Session, case_id: int, now: datetime) -> None:
    session.execute(update(CaseRow).where(CaseRow.id == case_id).values(card_dirty=True, updated_at=now))


def _remediation_work(row: RemediationRow) -> RemediationWork:
    return RemediationWork(
        remediation_id=row.id,
        case_id=row.case_id,
        kind=row.kind,
        scope=row.scope,
        action=row.action,
        method=row.method,
        state=RemediationState(row.state),
        total=row.total,
        requested_by=row.requested_by,
        restores_id=row.restores_id,
        created_at=row.created_at,
        give_up_at=row.give_up_at,
    )


def _remediation_views(session: Session, case_id: int) -> tuple[RemediationView, ...]:
    views = []
    for row in session.scalars(
        select(RemediationRow).where(RemediationRow.case_id == case_id).order_by(RemediationRow.id)
    ):
        remaining: tuple[str, ...] = ()
        if row.state in (RemediationState.PARTIAL.value, RemediationState.FAILED.value) and row.total:
            remaining = tuple(
                session.scalars(
                    select(RemediationItemRow.recipient)
                    .where(RemediationItemRow.remediation_id == row.id)
                    .where(RemediationItemRow.state != ItemState.DONE)
                    .order_by(RemediationItemRow.id)
                    .limit(5)
                )
            )
        views.append(
            RemediationView(
                remediation_id=row.id,
                kind=row.kind,
                scope=row.scope,
                action=row.action,
                method=row.method,
                state=RemediationState(row.state),
                requested_by=row.requested_by,
                created_at=row.created_at,
                total=row.total,
                done=row.done_count,
                failed=row.failed_count,
                missing=row.missing_count,
                action_center_urls=tuple(row.action_center_urls or ()),
                error=row.error,
                finished_at=row.finished_at,
                remaining=remaining,
            )
        )
    return tuple(views)


def _block_views(session: Session, case_id: int) -> tuple[BlockView, ...]:
    views = []
    for row in session.scalars(
        select(BlockRequestRow).where(BlockRequestRow.case_id == case_id).order_by(BlockRequestRow.id)
    ):
        entries = tuple(
            BlockEntry(
                entry_type=str(item.get("entryType") or ""),
                value=str(item.get("value") or ""),
                status=str(item.get("status") or ""),
                expires=str(item["expirationDateTime"]) if item.get("expirationDateTime") else None,
            )
            for item in (row.results or [])
            if isinstance(item, dict)
        )
        views.append(
            BlockView(
                block_id=row.id,
                state=row.state,
                automatic=row.automatic,
                requested_by=row.requested_by,
                created_at=row.created_at,
                not_before=row.not_before,
                expires_days=row.expires_days,
                sent_at=row.sent_at,
                submission_id=row.microsoft_id,
                entries=entries,
                error=row.last_error,
            )
        )
    return tuple(views)
