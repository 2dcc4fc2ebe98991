"""A clock the tests move: time passes only when `advance` says so, so "a minute later" takes no minute.

`following_real_time=True` lets real time flow underneath and adds what the test skipped: for a whole
in-process bot, whose emulators and threads still live in real time, a poll gap is skipped, never waited out.
It only moves forward, so what the store stamped with the real time is never in the clock's future.
`skip_waits=True` makes a wait on the clock (the Graph client's back-off and Retry-After) move it on instead.
`pace` is how many of its seconds pass per real second while following real time: a test suite runs the poll
gaps and Microsoft's verdict times a few times faster than real time, the emulators' own waits with them.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class FakeClock:
    def __init__(
        self,
        start: datetime | None = None,
        *,
        following_real_time: bool = False,
        skip_waits: bool = False,
        pace: float = 1.0,
    ) -> None:
        if pace <= 0:
            raise ValueError("a clock's pace is positive")
        self._start = start or datetime.now(UTC)
        self._real_start = time.monotonic()
        self._following = following_real_time
        self._skip_waits = skip_waits
        self._pace = pace
        self._skipped = 0.0
        self._lock = threading.Lock()

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go back")
        with self._lock:
            self._skipped += seconds

    def real_wait(self, seconds: float) -> float:
        if not self._skip_waits:
            return seconds
        self.advance(max(seconds, 0.0))
        return 0.0

    def monotonic(self) -> float:
        with self._lock:
            passed = (time.monotonic() - self._real_start) * self._pace if self._following else 0.0
            return 1_000.0 + passed + self._skipped

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.monotonic() - 1_000.0)
