"""What every repository shares: its database, the claim leases, the test of a claim left by a dead worker, and
the few queries more than one aggregate needs (the latest verdict, a case's card to redraw).

Every claim of work is an atomic UPDATE … WHERE, so two threads (or two replicas) never do the same work;
uniqueness (one case per message, one reporter per case, one event per id) is a database constraint."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Executable, Select, bindparam, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from bot.domain import Verdict
from bot.store.database import Database
from bot.store.models import Base, CaseRow, SubmissionRow, VerdictRow, WorkerRow

# A worker that claimed a submission (or a block's send) and died is presumed dead after this long; the work is
# then claimable again.
CLAIM_LEASE = timedelta(minutes=5)
# A card post claimed but never recorded (the process died mid-call) may be retried after this long.
CARD_CLAIM_LEASE = timedelta(minutes=2)
# Verdict checks claimed by a sweep that died (its replica was killed) are due again after this long. Only the
# scheduler's leader claims checks, so the lease only matters on fail-over, where a minute is the promise; a
# check read twice is harmless (a read), a check lost is not.
CHECK_LEASE = timedelta(seconds=60)
# A worker that claimed a remediation and died is presumed dead after this long (it extends the lease as it goes).
REMEDIATION_LEASE = timedelta(minutes=5)
# Every running process writes a heartbeat this often (scheduler.Sweeper) ...
WORKER_HEARTBEAT_SECONDS = 2.0
# ... and one silent for this long is gone: its claims are free, whatever their lease says. Longer than a quick
# database restart, so the work of a live process is not taken from it while the server comes back.
WORKER_TIMEOUT = timedelta(seconds=10)

# The time a due query asks about, bound when it runs: the sweep asks every kind of work each round, and building
# and keying a fresh statement costs three times what running a built one does (0.45 ms of CPU against 1.45 ms),
# so each repository builds its due queries once, over these two parameters (`due_at`).
NOW: BindParameter[datetime] = bindparam("now")
# NOW - WORKER_TIMEOUT: a worker whose heartbeat is later is alive.
LIVE_SINCE: BindParameter[datetime] = bindparam("live_since")
# A condition on due work is written once, over `At`: a time (a claim's UPDATE … WHERE) or NOW (a due query).
At = datetime | BindParameter[datetime]

_Row = TypeVar("_Row", bound=Base)
_Work = TypeVar("_Work")
_Key = TypeVar("_Key")


class Repository:
    """One aggregate's reads and writes over the shared database."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._due_queries: dict[str, Select[Any]] = {}

    @property
    def database(self) -> Database:
        return self._database

    @property
    def worker_id(self) -> str:
        return self._database.worker_id

    def _session(self, *, urgent: bool = False) -> AbstractContextManager[Session]:
        return self._database.session(urgent=urgent)

    def _now(self) -> datetime:
        return self._database.now()

    def _orphaned(self, claimed_by: InstrumentedAttribute[str | None], now: At) -> ColumnElement[bool]:
        """Claimed by another worker that is gone (no recent heartbeat): the claim no longer protects anything."""
        live_since = LIVE_SINCE if isinstance(now, BindParameter) else now - WORKER_TIMEOUT
        live = select(WorkerRow.id).where(WorkerRow.seen_at > live_since)
        return claimed_by.is_not(None) & (claimed_by != self.worker_id) & claimed_by.not_in(live)

    def _due_ids(
        self,
        name: str,
        id_column: InstrumentedAttribute[int],
        due: Callable[[At], ColumnElement[bool]],
        order: Any,
        limit: int,
        now: datetime,
    ) -> list[int]:
        """Ids of the rows of one kind of due work (`name`) at `now`, oldest first (claiming them is the caller's
        next step). `due` is its condition, over NOW."""
        return self._due(
            f"{name} {limit}", lambda: select(id_column).where(due(NOW)).order_by(order).limit(limit), now
        )

    def _due(
        self, name: str, build: Callable[[], Select[_Key]], now: datetime, **times: datetime
    ) -> list[_Key]:
        """What the query `name` finds at `now`: `build` makes it over NOW (and LIVE_SINCE), once for this
        repository; `times` binds any other parameter it has."""
        query = self._due_queries.get(name)
        if query is None:
            query = self._due_queries[name] = build()
        with self._session() as session:
            return list(session.scalars(query, {**due_at(now), **times}))

    def _lease_due(
        self, model: Any, state: str, now: datetime, limit: int, to_work: Callable[[Any], _Work]
    ) -> list[_Work]:
        """Claim the rows of `model` in `state` whose next_check_at has come, oldest first (up to `limit`):
        next_check_at moves CHECK_LEASE ahead, so no other worker reads them meanwhile. `to_work` turns each
        claimed row into its work item."""

        def leasable(at: At) -> ColumnElement[bool]:
            return cast(ColumnElement[bool], (model.state == state) & (model.next_check_at <= at))

        work = []
        name = f"{model.__tablename__} {state}"
        for row_id in self._due_ids(name, model.id, leasable, model.next_check_at, limit, now):
            with self._session() as session:
                claimed = changed(
                    session,
                    update(model)
                    .where(model.id == row_id)
                    .where(leasable(now))
                    .values(next_check_at=now + CHECK_LEASE),
                )
                if claimed == 1:
                    work.append(to_work(session.get(model, row_id)))
        return work


def due_at(now: datetime) -> dict[str, datetime]:
    """The parameters of a due query built over NOW, for the time `now`."""
    return {"now": now, "live_since": now - WORKER_TIMEOUT}


def changed(session: Session, statement: Executable) -> int:
    """Run an UPDATE or DELETE; the number of rows it changed."""
    return cast(CursorResult[Any], session.execute(statement)).rowcount


def row_of(session: Session, model: type[_Row], key: object) -> _Row:
    """The row, which the caller knows exists (it holds its id from an earlier claim)."""
    found = session.get(model, key)
    if found is None:
        raise LookupError(f"no {model.__tablename__} row {key!r}")
    return found


def touch_case(session: Session, case_id: int, now: datetime) -> None:
    """Something on the case's card changed: redraw it."""
    session.execute(update(CaseRow).where(CaseRow.id == case_id).values(card_dirty=True, updated_at=now))


def latest_verdict(session: Session, case_id: int) -> Verdict | None:
    row = session.scalar(
        select(VerdictRow)
        .join(SubmissionRow, SubmissionRow.id == VerdictRow.submission_id)
        .where(SubmissionRow.case_id == case_id)
        .order_by(VerdictRow.id.desc())
        .limit(1)
    )
    return Verdict.from_dict(row.result) if row is not None else None


def add_verdict(session: Session, submission: SubmissionRow, verdict: Verdict, now: datetime) -> bool:
    """Record Microsoft's answer if it differs from the last one; True when it did."""
    data = _jsonable(verdict.to_dict())
    previous = session.scalar(
        select(VerdictRow)
        .where(VerdictRow.submission_id == submission.id)
        .order_by(VerdictRow.id.desc())
        .limit(1)
    )
    if previous is not None and previous.result == data:
        return False
    session.add(
        VerdictRow(
            submission_id=submission.id,
            observed_at=now,
            status=verdict.status,
            category=verdict.category,
            detail=verdict.detail,
            is_final=verdict.is_final,
            result=data,
        )
    )
    return True


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
