"""APScheduler runs one interval job — the sweep — that picks up whatever the store says is due.

Due work lives in our tables (design §7), so the scheduler's own job store can stay in memory: a restart
loses nothing, and the first sweep runs as soon as the scheduler starts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)


class Sweeper:
    def __init__(self, sweep: Callable[[], None], *, every_seconds: float) -> None:
        self._sweep = sweep
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

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self) -> None:
        self._scheduler.start()

    def stop(self, wait: bool = True) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)

    def _run(self) -> None:
        try:
            self._sweep()
        except Exception:
            # One failed round (database restarting, Slack down) must not stop the next one.
            log.exception("sweep failed; the next round will try again")
