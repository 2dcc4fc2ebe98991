"""Work that listeners hand over after ack(), run on a few threads of its own.

Bolt runs each listener in the request thread (process_before_response) and answers Slack when it returns; if
the slow part of a request (Slack and Graph calls, the case's database writes) ran there, the answer would wait
for it. Listeners therefore record the request, ack, start its carry-out here, and return; a carry-out lost
with the process is found undone in the inbox and run again (bot.cases.slack_requests).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

# Few threads on purpose: the work is I/O-bound and shares the GIL with the threads that ack.
WORK_THREADS = 6
# Work that must happen within Slack's three-second trigger (opening a modal) has threads of its own, so a queue
# of reports in the others never makes it late.
URGENT_THREADS = 2


class HandoverPool:
    """The threads that run what listeners hand over after ack(). (A replica process is a *worker* in the store.)"""

    def __init__(self, threads: int = WORK_THREADS, urgent_threads: int = URGENT_THREADS) -> None:
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="work")
        self._urgent = ThreadPoolExecutor(max_workers=urgent_threads, thread_name_prefix="urgent")
        self._lock = threading.Lock()
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def submit(self, work: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._submit_to(self._pool, work, args, kwargs)

    def submit_urgent(self, work: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Work with a deadline of seconds (a modal to open): ahead of whatever waits in `submit`'s queue."""
        self._submit_to(self._urgent, work, args, kwargs)

    def _submit_to(
        self, pool: ThreadPoolExecutor, work: Callable[..., Any], args: tuple, kwargs: dict
    ) -> None:
        with self._lock:
            self._in_flight += 1
        future = pool.submit(work, *args, **kwargs)
        future.add_done_callback(self._finished)

    def _finished(self, future: Future) -> None:
        with self._lock:
            self._in_flight -= 1
        error = future.exception()
        if error is not None:
            log.error("work after ack failed: %s", type(error).__name__, exc_info=error)

    def shutdown(self, wait: bool = True) -> None:
        """Finish the work already handed over (wait=True), take no more."""
        self._urgent.shutdown(wait=wait, cancel_futures=False)
        self._pool.shutdown(wait=wait, cancel_futures=False)
