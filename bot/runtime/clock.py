"""The time every service reads: one injectable clock, so a test moves time forward instead of sleeping.

`now()` stamps and compares due work (aware UTC, what the store keeps); `monotonic()` times the in-process caches
(responder groups, people, a refused Mail.Read), which must not jump when the wall clock is set; `real_wait()`
says how much of a wait (a Retry-After, a back-off) is spent in real time, so a test's clock can skip it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def real_wait(self, seconds: float) -> float:
        """The real seconds a wait of `seconds` on this clock takes (the caller does the waiting, so it can
        still be woken)."""
        ...


class SystemClock:
    """The real time: what `phishbot run` uses."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def real_wait(self, seconds: float) -> float:
        return seconds
