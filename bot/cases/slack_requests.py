"""Every Slack request phishbot acts on is recorded before its ack, then carried out from the record.

Slack never retries a slash command, a click or a modal submission it saw acknowledged, nor an event: once the
ack left, the request must survive whatever happens to this process. So a listener `take`s the request (one row
in the store's inbox, written in the request thread), acks, and `start`s it: the post-ack threads carry it out
from the record and mark it done. A process killed anywhere after the ack leaves the row undone and its claim
dead; the sweep's first step takes it over (`due`, `take_over`), here or on another replica, and carries it out
once. A request Slack sends again (an event retry, a replay) has the same key and is recorded once.

Carrying out a request twice is what a crash in the middle of it costs, and it is harmless: a report joins the
case it opened the first time (one reporter per case), a click is judged and audited again.

What each kind of request asks for is the listener module's business: handlers register a carry-out per kind
(`route`), a function of the request's body.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.microsoft import ShuttingDown
from bot.runtime.clock import Clock
from bot.runtime.handover import HandoverPool
from bot.store import Inbox, InboxItem

log = logging.getLogger(__name__)

CarryOut = Callable[[dict], object]

# A request whose carry-out raised is tried again this much later per attempt made, up to MAX_ATTEMPTS.
RETRY_STEP = timedelta(seconds=30)
MAX_ATTEMPTS = 5


class NotRecorded(Exception):
    """The request could not be written down (the database is out of reach): it must not be acked as taken."""


class SlackRequests:
    def __init__(self, *, inbox: Inbox, handover: HandoverPool, clock: Clock) -> None:
        self._inbox = inbox
        self._handover = handover
        self._clock = clock
        self._routes: dict[str, CarryOut] = {}

    def route(self, kind: str, carry_out: CarryOut) -> None:
        self._routes[kind] = carry_out

    def take(self, kind: str, body: dict) -> InboxItem | None:
        """In the request thread, before the ack: record the request. None when Slack sent it before (the same
        event id or trigger): ack it, and carry out nothing."""
        try:
            return self._inbox.take(request_key(kind, body), kind, body)
        except Exception as exc:  # any failure to write it down: Slack must not hear it was taken
            log.error("Slack request %s not recorded: %s", kind, type(exc).__name__)
            raise NotRecorded(kind) from exc

    def start(self, item: InboxItem | None, *, urgent: bool = False) -> None:
        """After the ack: carry the request out on the post-ack threads (`urgent`: it opens a modal)."""
        if item is None:
            return
        if urgent:
            self._handover.submit_urgent(self._carry_out, item)
        else:
            self._handover.submit(self._carry_out, item)

    # --- the sweep's step: requests whose taker died --------------------------------------------------------------

    def due(self, now: datetime) -> list[int]:
        return self._inbox.due(now)

    def take_over(self, item_id: int) -> None:
        item = self._inbox.claim(item_id, self._clock.now())
        if item is None:
            return  # another worker has it, or it was done meanwhile
        log.info("taking over Slack request %s (%s, attempt %s)", item.id, item.kind, item.attempts)
        self._carry_out(item)

    def hand_back(self, item_id: int, _now: datetime) -> None:
        self._inbox.hand_back(item_id)

    # --- carrying out ----------------------------------------------------------------------------------------------

    def _carry_out(self, item: InboxItem) -> None:
        carry_out = self._routes.get(item.kind)
        if carry_out is None:
            # A request of a kind this version does not know (recorded by a newer one, during a rolling update).
            self._failed(item, f"no carry-out for {item.kind!r}")
            return
        try:
            carry_out(item.body)
        except ShuttingDown:
            # SIGTERM ended a wait mid-way: the next process (or another replica) carries it out, at once.
            self._inbox.hand_back(item.id)
            return
        except Exception as exc:
            log.error(
                "Slack request %s (%s) failed: %s", item.id, item.kind, type(exc).__name__, exc_info=exc
            )
            self._failed(item, type(exc).__name__)
            return
        self._inbox.finish(item.id)

    def _failed(self, item: InboxItem, error: str) -> None:
        if item.attempts >= MAX_ATTEMPTS:
            log.error("gave up on Slack request %s (%s) after %s attempts", item.id, item.kind, item.attempts)
            self._inbox.finish(item.id, error)
            return
        self._inbox.retry_later(item.id, self._clock.now() + RETRY_STEP * item.attempts, error)


def request_key(kind: str, body: dict) -> str:
    """Slack's identity of a request: an event's id (the same on each retry), or the interaction's trigger (one
    per slash command, click, shortcut and modal submission). A request with neither is its own."""
    for field in ("event_id", "trigger_id"):
        value = body.get(field)
        if isinstance(value, str) and value:
            return f"{kind}:{value}"
    return f"{kind}:{uuid.uuid4().hex}"
