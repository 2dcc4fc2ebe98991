"""Shutting down without losing work: a flag the long-running parts look at, and a sleep that wakes for it.

The Graph client's retry policy sleeps between attempts (a Retry-After can ask for two minutes). Given
`Stopping.sleep`, that wait ends the moment SIGTERM arrives, with `ShuttingDown` — a retryable GraphError, so
every caller that already handles Graph failures hands the work back (a queued submission stays queued, a
claimed verdict check is released) instead of holding the process past its 30 seconds.
"""

from __future__ import annotations

import threading

from bot.microsoft import ShuttingDown


class Stopping:
    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def sleep(self, seconds: float) -> None:
        """time.sleep that raises ShuttingDown as soon as shutdown begins (and at once if it has)."""
        if self._event.wait(max(seconds, 0.0)) or self._event.is_set():
            raise ShuttingDown()

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds`; True when shutdown began."""
        return self._event.wait(seconds)
