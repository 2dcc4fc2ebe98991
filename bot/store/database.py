"""The database: one engine and its sessions, the schema (Alembic), readiness, and the one retry policy for a
database that went away (a PostgreSQL restart or fail-over), applied explicitly with `@survives_reconnect` to the
repository methods that wait it out."""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, Protocol, TypeVar

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

_Result = TypeVar("_Result")

# A PostgreSQL restart or fail-over: a store call waits this long for the server to come back rather than fail
# (a report taken in after Slack's ack exists nowhere else until it is recorded).
RECONNECT_SECONDS = 30.0


class SchemaError(Exception):
    """The database's schema is not the one this code needs; the message says what to run."""


class CommitUncertain(Exception):
    """The database connection broke while committing: the transaction may or may not have been committed, so
    it is not run again."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class Database:
    """One database: what every repository shares. Readiness, metrics and the schema steps an operator runs are
    answered at once, database or not: none of its own methods waits out a reconnect."""

    def __init__(self, database_url: str, *, now: Callable[[], datetime] = utcnow) -> None:
        self.database_url = database_url
        # The time every repository stamps and compares due work with: the services' clock (a test's moves).
        self.now = now
        self.engine = _make_engine(database_url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # This process among the workers: every claim it makes carries this id (see WorkerRow).
        self.worker_id = uuid.uuid4().hex
        self.reconnects = not database_url.startswith("sqlite")  # a file does not restart
        self._turns = _WriterTurns() if database_url.startswith("sqlite") else None

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
    @functools.cache  # the migrations this code ships with do not change while it runs; reading them is costly
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

    # --- transactions ----------------------------------------------------------------------------------------

    @contextmanager
    def session(self, *, ahead: bool = False) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back if it raises. A connection that breaks
        during COMMIT raises CommitUncertain (never retried: it may have been committed). `ahead`: Slack is
        waiting for this one (a request recorded before its ack); on SQLite it goes before the queued others."""
        if self._turns is None:
            with self._transaction() as session:
                yield session
        else:
            with self._turns.turn(ahead=ahead), self._transaction() as session:
                yield session

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
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

    def run(self, name: str, call: Callable[[], _Result], *, within: float = RECONNECT_SECONDS) -> _Result:
        """Run `call` again when PostgreSQL went away before its transaction committed (a restart, a fail-over):
        the server rolled the transaction back, so running it again is safe. For up to `within` seconds, then
        the error stands. `name` is the operation, for the log."""
        deadline = time.monotonic() + within
        pause = 0.1
        while True:
            try:
                return call()
            except OperationalError as exc:
                if not self.reconnects or time.monotonic() + pause > deadline:
                    raise
                log.warning("database unavailable in %s (%s); trying again", name, type(exc.orig).__name__)
            time.sleep(pause)
            pause = min(pause * 2, 2.0)


class _OnDatabase(Protocol):
    @property
    def database(self) -> Database: ...


_Repository = TypeVar("_Repository", bound=_OnDatabase)
_Arguments = ParamSpec("_Arguments")


def survives_reconnect(
    method: Callable[Concatenate[_Repository, _Arguments], _Result],
) -> Callable[Concatenate[_Repository, _Arguments], _Result]:
    """This repository method waits out a database restart (`Database.run`) instead of failing at once."""

    @functools.wraps(method)
    def run(self: _Repository, *args: _Arguments.args, **kwargs: _Arguments.kwargs) -> _Result:
        return self.database.run(method.__name__, lambda: method(self, *args, **kwargs))

    return run


def _alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(resources.files("bot.store") / "migrations"))
    return config


# SQLite's busy_timeout; a turn waited for this long is not waited for any longer (SQLite's own wait decides).
SQLITE_BUSY_SECONDS = 30.0


class _WriterTurns:
    """SQLite has one writer at a time and every transaction here is one (BEGIN IMMEDIATE, below), so this
    process's threads take turns on a condition instead of in SQLite's busy handler, which sleeps 1, 2, 5, 10 …
    up to 100 ms between tries: under load a waiting transaction slept long after the lock was free, and the
    post-ack threads and the requests waiting for their ack queued up behind one another (open-loop ack
    benchmark, bench/ack.py). Here the next one goes the moment the last commits, and a transaction Slack waits
    for (`ahead`) goes before the queue. Another process on the same file still meets SQLite's busy handler.
    A thread already in a turn (a transaction inside a transaction) goes on."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._holder: int | None = None
        self._depth = 0
        self._ahead_waiting = 0

    @contextmanager
    def turn(self, *, ahead: bool = False) -> Iterator[None]:
        me = threading.get_ident()
        deadline = time.monotonic() + SQLITE_BUSY_SECONDS
        with self._condition:
            if self._holder == me:
                self._depth += 1
            else:
                if ahead:
                    self._ahead_waiting += 1
                try:
                    while self._holder is not None or (not ahead and self._ahead_waiting):
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        self._condition.wait(left)
                finally:
                    if ahead:
                        self._ahead_waiting -= 1
                if self._holder is not None:  # waited long enough: leave it to SQLite's busy handler
                    me = 0
                else:
                    self._holder, self._depth = me, 1
        try:
            yield
        finally:
            if me:
                with self._condition:
                    self._depth -= 1
                    if self._depth == 0:
                        self._holder = None
                        self._condition.notify_all()


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
