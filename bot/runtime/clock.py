"""The time every service reads: one injectable clock, so a test moves time forward instead of sleeping.

`now()` stamps and compares due work (aware UTC, what the store keeps); `monotonic()` times the in-process caches
(responder groups, people, a refused Mail.Read), which must not jump when the wall clock is set.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real time: what `phishbot run` uses."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()
