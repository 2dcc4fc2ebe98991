"""APScheduler runs a few jobs — the sweep, a leadership heartbeat, the weekly digest — on every replica; only the
leader's jobs do anything.

Due work lives in our tables (design §7), so the scheduler's own job store can stay in memory: a restart
loses nothing, and the first sweep runs as soon as the scheduler starts. APScheduler 3 does not coordinate
schedulers that share a job store, so coordination is ours: each job asks the leadership first (a PostgreSQL
advisory lock, or the SQLite process lock), and a follower's jobs return at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from bot.runtime.leadership import HEARTBEAT_SECONDS, AdvisoryLockLeader, Role, SoleLeader

log = logging.getLogger(__name__)

# A digest whose time passed while no replica led (a fail-over at 9:00) still goes out this late.
DIGEST_GRACE = timedelta(hours=1)


class Sweeper:
    def __init__(
        self,
        sweep: Callable[[], None],
        *,
        every_seconds: float,
        leadership: SoleLeader | AdvisoryLockLeader | None = None,
        digest: Callable[[datetime], object] | None = None,
        digest_trigger: CronTrigger | None = None,
        on_role: Callable[[Role], None] | None = None,
        on_sweep: Callable[[float], None] | None = None,
        on_lead: Callable[[], None] | None = None,
        keep_alive: Callable[[], None] | None = None,
        keep_alive_seconds: float = 5.0,
    ) -> None:
        self._sweep = sweep
        self._keep_alive = keep_alive
        self._on_lead = on_lead
        self._leading = False
        self._lead_lock = threading.Lock()
        self._leadership = leadership if leadership is not None else SoleLeader()
        self._digest = digest
        self._digest_trigger = digest_trigger
        self._on_role = on_role
        self._on_sweep = on_sweep
        self._scheduler = BackgroundScheduler(timezone=UTC)
        self._scheduler.add_job(
            self._run,
            "interval",
            seconds=every_seconds,
            id="sweep",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )
        # Keeps the lock session busy while a long sweep runs, and lets a follower notice a dead leader
        # between sweeps.
        self._scheduler.add_job(
            self._heartbeat,
            "interval",
            seconds=min(every_seconds, HEARTBEAT_SECONDS),
            id="leadership",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
        )
        if keep_alive is not None:
            # Every replica, leader or not: the work this process has claimed stays its own while it lives.
            self._scheduler.add_job(
                self._stay_alive,
                "interval",
                seconds=keep_alive_seconds,
                id="alive",
                max_instances=1,
                coalesce=True,
                next_run_time=datetime.now(UTC),
            )
        if digest is not None and digest_trigger is not None:
            self._scheduler.add_job(
                self._run_digest,
                digest_trigger,
                id="digest",
                max_instances=1,
                coalesce=True,
                misfire_grace_time=int(DIGEST_GRACE.total_seconds()),
            )

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    @property
    def role(self) -> Role:
        return self._leadership.role if self.running else "stopped"

    def start(self) -> None:
        self._scheduler.start()

    def stop(self, wait: bool = True) -> None:
        """Stop the jobs (waiting for a running sweep when `wait`), then give up leadership at once."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)
        self._leadership.release()
        self._tell_role()

    def _leads(self) -> bool:
        with self._lead_lock:
            leads = self._leadership.refresh()
            took_over = leads and not self._leading
            self._leading = leads
            self._tell_role()
            if took_over and self._on_lead is not None:
                try:
                    self._on_lead()
                except Exception:
                    log.exception("taking over the scheduler's leftover work failed; leases will expire")
        return leads

    def _tell_role(self) -> None:
        if self._on_role is not None:
            self._on_role(self._leadership.role)

    def _heartbeat(self) -> None:
        self._leads()

    def _stay_alive(self) -> None:
        try:
            if self._keep_alive is not None:
                self._keep_alive()
        except Exception as exc:  # noqa: BLE001 - the database is away; the next beat tries again
            log.warning("worker heartbeat not recorded (%s)", type(exc).__name__)

    def _run(self) -> None:
        try:
            if not self._leads():
                return
            started = time.monotonic()
            self._sweep()
            if self._on_sweep is not None:
                self._on_sweep(time.monotonic() - started)
        except Exception:
            # One failed round (database restarting, Slack down) must not stop the next one.
            log.exception("sweep failed; the next round will try again")

    def _run_digest(self) -> None:
        try:
            if not self._leads() or self._digest is None or self._digest_trigger is None:
                return
            self._digest(last_fire_time(self._digest_trigger, datetime.now(UTC)))
        except Exception:
            log.exception("the weekly digest failed")


def last_fire_time(trigger: CronTrigger, now: datetime) -> datetime:
    """The scheduled time of the run that is due now: the same on every replica, whenever it actually runs, so it
    names that digest (posting it twice is refused by the store)."""
    for window in (timedelta(minutes=1), DIGEST_GRACE):  # a run is usually seconds late: look there first
        fire = trigger.get_next_fire_time(None, now - window)
        last = None
        while fire is not None and fire <= now:
            last = fire
            fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        if last is not None:
            return last.astimezone(UTC)
    return now.replace(second=0, microsecond=0).astimezone(UTC)
