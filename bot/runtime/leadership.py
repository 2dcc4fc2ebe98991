"""Who runs the scheduler: exactly one replica at a time.

* **PostgreSQL** (several replicas): the leader holds a session-level advisory lock on a connection of its own.
  Every sweep (and a heartbeat between sweeps) checks that connection; a lost connection is lost leadership,
  and a follower takes the lock on its next try. The server drops the lock when the leader's session ends:
  at once when the process dies (its socket closes), within ~25 s when its host vanishes (TCP keepalives set on
  the session), within 30 s when it hangs (`idle_session_timeout`, PostgreSQL 14+: the heartbeat stops).
* **SQLite** (one process): an OS lock on a file next to the database is taken at start for the whole life of
  the process; a second `phishbot run` on the same file is refused, and the one process always leads.

Nothing here needs a table: work that must happen once is claimed in the store; leadership only decides who
looks for due work, so a short overlap during fail-over costs a duplicate read at worst, never a duplicate send.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

Role = Literal["leader", "follower", "stopped"]

# One 64-bit key per purpose; advisory locks are per database, so two deployments on one server never collide.
SCHEDULER_LOCK_KEY = int.from_bytes(hashlib.sha256(b"phishbot:scheduler").digest()[:8], "big", signed=True)
# The server ends a lock session that sent nothing for this long (the heartbeat runs every few seconds).
IDLE_SESSION_TIMEOUT_SECONDS = 30
HEARTBEAT_SECONDS = 5.0


class AlreadyRunning(Exception):
    """Another phishbot process holds the SQLite database."""


class UnsupportedDatabase(Exception):
    pass


def is_sqlite(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "sqlite"


def is_postgresql(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


class ProcessLock:
    """An exclusive OS lock on `<database file>.lock`, held until release() or the process ends."""

    def __init__(self, database_url: str) -> None:
        database = make_url(database_url).database or ""
        self.path = (
            None
            if database in ("", ":memory:")
            else Path(database).resolve().with_name(Path(database).name + ".lock")
        )
        self._file: Any = None

    def acquire(self) -> ProcessLock:
        if self.path is None:
            return self  # an in-memory database belongs to this process anyway
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no flock; the docs say one process per file
            log.warning("cannot lock %s on this system: make sure only one phishbot uses it", self.path)
            return self
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read(32).strip()
            handle.close()
            raise AlreadyRunning(
                f"another phishbot{f' (pid {holder})' if holder.isdigit() else ''} is already running on"
                f" {self.path.with_suffix('')}: SQLite means one process. Stop it, or use PostgreSQL"
                " (DATABASE_URL=postgresql+psycopg://…) to run several replicas"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor drops the flock
            self._file = None


class SoleLeader:
    """SQLite: the process lock makes this process the only one, so it always leads."""

    def __init__(self) -> None:
        self._stopped = False

    @property
    def role(self) -> Role:
        return "stopped" if self._stopped else "leader"

    def refresh(self) -> bool:
        return not self._stopped

    def release(self) -> None:
        self._stopped = True


class AdvisoryLockLeader:
    """PostgreSQL: leader while this replica's own session holds the scheduler's advisory lock."""

    def __init__(self, database_url: str, *, key: int = SCHEDULER_LOCK_KEY) -> None:
        self._key = key
        self._engine = create_engine(
            database_url,
            poolclass=NullPool,
            connect_args={
                "connect_timeout": 5,
                "application_name": "phishbot scheduler lock",
                # Our side notices a dead server (or a cut network) within ~25 s, too.
                "keepalives": 1,
                "keepalives_idle": 10,
                "keepalives_interval": 5,
                "keepalives_count": 3,
            },
        )
        self._connection: Connection | None = None
        self._leader = False
        self._stopped = False
        self._lock = threading.Lock()
        self.became_leader_at: float | None = None  # time.monotonic() of the last take-over

    @property
    def role(self) -> Role:
        if self._stopped:
            return "stopped"
        return "leader" if self._leader else "follower"

    def refresh(self) -> bool:
        """Check (leader) or try to take (follower) the lock; True while this replica leads."""
        with self._lock:
            if self._stopped:
                return False
            try:
                if self._connection is None:
                    self._connection = self._connect()
                if self._leader:
                    held = self._connection.execute(
                        text(
                            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                            " AND pid = pg_backend_pid()"
                        )
                    ).scalar()
                    if not held:
                        self._lose("the lock is no longer held")
                else:
                    taken = self._connection.execute(
                        text("SELECT pg_try_advisory_lock(:key)"), {"key": self._key}
                    ).scalar()
                    if taken:
                        self._leader = True
                        self.became_leader_at = time.monotonic()
                        log.info(
                            "this replica now runs the scheduler (it holds the PostgreSQL advisory lock)"
                        )
            except Exception as exc:  # noqa: BLE001 - any failure of the lock connection ends leadership
                self._drop_connection()
                if self._leader:
                    self._lose(f"the database connection was lost ({type(exc).__name__})")
                else:
                    log.warning("scheduler lock not checked: database unreachable (%s)", type(exc).__name__)
            return self._leader

    def release(self) -> None:
        """Stop leading and let another replica take over now (not after a timeout)."""
        with self._lock:
            self._stopped = True
            if self._connection is not None and self._leader:
                try:
                    self._connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
                except Exception:
                    log.debug("advisory unlock failed", exc_info=True)
            self._leader = False
            self._drop_connection()
            self._engine.dispose()

    def _connect(self) -> Connection:
        connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        # The server's side: end this session (and free the lock) when the peer vanishes or stops talking.
        for setting in (
            "SET statement_timeout = '5s'",
            "SET tcp_keepalives_idle = 10",
            "SET tcp_keepalives_interval = 5",
            "SET tcp_keepalives_count = 3",
        ):
            connection.execute(text(setting))
        version = int(connection.execute(text("SHOW server_version_num")).scalar() or 0)
        if version >= 140000:
            connection.execute(text(f"SET idle_session_timeout = '{IDLE_SESSION_TIMEOUT_SECONDS}s'"))
        return connection

    def _drop_connection(self) -> None:
        if self._connection is not None:
            try:
                self._connection.invalidate()
                self._connection.close()
            except Exception:
                log.debug("lock connection did not close cleanly", exc_info=True)
            self._connection = None

    def _lose(self, why: str) -> None:
        self._leader = False
        log.warning("this replica no longer runs the scheduler: %s; another replica can take over", why)


def leadership_for(database_url: str) -> SoleLeader | AdvisoryLockLeader:
    if is_postgresql(database_url):
        return AdvisoryLockLeader(database_url)
    if is_sqlite(database_url):
        return SoleLeader()
    raise UnsupportedDatabase(
        "DATABASE_URL: phishbot runs on SQLite (sqlite:///phishbot.db, one process) or PostgreSQL"
        " (postgresql+psycopg://…, any number of replicas)"
    )
