"""Slack's rate limits, in one place: when each Web API method may be called next, and the only handler of a 429.

Slack limits each method per workspace (per channel too for posting messages) and answers a call over the limit with
HTTP 429 and `Retry-After: <seconds>` (https://docs.slack.dev/apis/web-api/rate-limits); an app that keeps calling
meanwhile may be disabled. So a 429 is remembered per method, and until its Retry-After has passed:

* every caller of that method waits out the rest before calling (`RateLimitedClient.api_call`, the one WebClient
  every service is given): a reporter's reply, a DM, a users.info are late, never refused again;
* the card's drawer does not wait: an edit is only ever the latest state of a case, so `SlackNotifier.sync_card`
  asks `seconds_until("chat.update")`, leaves the card dirty and lets a later round draw it; a refused
  chat.update is not retried in its own thread either (DEFERRED).

After a 429, for RECOVERY_SECONDS, callers that have to wait are spaced at the method's published rate (PER_MINUTE),
each reserving the next slot: the callers that waited together do not all call at the same instant and meet another
429.
The retry (after waiting) is slack-sdk's RetryHandler protocol, so it also covers the per-request clients Bolt copies
from the App's client (they copy the handlers). The wait is on the services' clock, ended by SIGTERM, so a test's
clock skips it and a shutdown never waits out a long Retry-After.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from slack_sdk import WebClient
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web import SlackResponse

log = logging.getLogger(__name__)

# Methods whose callers try again on their own schedule after a 429 (the card's drawer, bot/slack/notifier.py):
# the refused call is not repeated in its thread.
DEFERRED = frozenset({"chat.update"})
# Posting is limited per channel ("one message per second per channel"): a 429 in one channel holds only that one.
PER_CHANNEL = frozenset({"chat.postMessage", "chat.postEphemeral"})
# Slack's published rates (calls a minute) of the methods phishbot calls, from each method's reference page
# (docs.slack.dev/reference/methods/<method>: Tier 2 = 20, Tier 3 = 50, Tier 4 = 100; posting: 1 a second per
# channel). Used only to space calls after a 429; an unlisted method is spaced as Tier 3.
PER_MINUTE: dict[str, float] = {
    "chat.postMessage": 60.0,
    "chat.postEphemeral": 60.0,
    "chat.update": 50.0,
    "chat.delete": 50.0,
    "conversations.open": 50.0,
    "conversations.history": 50.0,
    "conversations.info": 50.0,
    "users.lookupByEmail": 50.0,
    "users.info": 100.0,
    "files.info": 100.0,
    "views.open": 100.0,
    "views.update": 100.0,
    "views.push": 100.0,
    "views.publish": 100.0,
    "usergroups.users.list": 20.0,
    "apps.connections.open": 1.0,
}
DEFAULT_PER_MINUTE = 50.0
# How long after a 429 calls of that method stay spaced at its published rate.
RECOVERY_SECONDS = 60.0
# Without a Retry-After (Slack always sends one), a second, as slack-sdk's own handler assumes.
DEFAULT_RETRY_AFTER = 1.0
# A call refused this many times in a row gives up (its caller sees the SlackApiError and handles it).
MAX_RETRIES = 3


@dataclass
class _Limit:
    not_before: float  # no call of the method (in this channel) starts before this
    refused_at: float  # the last 429


class SlackRateLimits:
    """Per method (and channel, for posting): when the next call may start. Thread-safe; one per process."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], object] = time.sleep,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self._clock = clock  # seconds, monotonic: the services' clock (a test's moves on when it "waits")
        self._sleep = sleep
        self._stopping = stopping
        self._lock = threading.Lock()
        self._limits: dict[str, _Limit] = {}
        self.refusals = 0  # 429s seen, all methods (for the log and the tests)

    def seconds_until(self, method: str, channel: str | None = None) -> float:
        """How long before `method` may be called again (0: now)."""
        with self._lock:
            limit = self._limits.get(_key(method, channel))
            return max(0.0, limit.not_before - self._clock()) if limit is not None else 0.0

    def wait_turn(self, method: str, channel: str | None = None) -> None:
        """Wait until `method` may be called (at once when Slack has not refused it lately)."""
        key = _key(method, channel)
        with self._lock:
            limit = self._limits.get(key)
            if limit is None:
                return
            now = self._clock()
            start = max(now, limit.not_before)
            if start > now and now < limit.refused_at + RECOVERY_SECONDS:
                # Callers are waiting on a Retry-After (or on each other): each takes the next slot at the
                # published rate, so whoever comes next starts one spacing later, not at the same instant.
                limit.not_before = start + 60.0 / PER_MINUTE.get(method, DEFAULT_PER_MINUTE)
            elif start <= now and now >= limit.refused_at + RECOVERY_SECONDS:
                del self._limits[key]  # recovered long ago: forget it
        if start > now:
            log.info("slack %s: waiting %.1f s for Slack's rate limit", method, start - now)
            self._sleep(start - now)

    def refused(self, method: str, channel: str | None, retry_after: float) -> None:
        """Slack answered 429 with this Retry-After: nobody calls the method before it has passed."""
        key = _key(method, channel)
        with self._lock:
            now = self._clock()
            until = now + max(retry_after, 0.0)
            limit = self._limits.get(key)
            if limit is None:
                self._limits[key] = _Limit(not_before=until, refused_at=now)
            else:
                limit.not_before, limit.refused_at = max(limit.not_before, until), now
            self.refusals += 1
        log.warning("slack %s: rate limited, Retry-After %g s", method, retry_after)

    def stopping(self) -> bool:
        return self._stopping()

    def retry_handler(self) -> RetryHandler:
        """For the WebClient's retry_handlers (bot/services.py): the only handler of 429 answers."""
        return _RateLimitRetry(self)


class RateLimitedClient(WebClient):
    """The WebClient every service is given: each call first waits out what Slack's rate limit says."""

    def __init__(self, *args: Any, rate_limits: SlackRateLimits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.rate_limits = rate_limits

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        channel = None
        if api_method in PER_CHANNEL:
            for given in (kwargs.get("json"), kwargs.get("data"), kwargs.get("params")):
                if isinstance(given, dict) and given.get("channel"):
                    channel = str(given["channel"])
                    break
        self.rate_limits.wait_turn(api_method, channel)
        return super().api_call(api_method, **kwargs)


class _RateLimitRetry(RetryHandler):
    """A 429: remember its Retry-After for every caller of the method, then (unless DEFERRED) wait it out and call
    once more, up to MAX_RETRIES times."""

    def __init__(self, limits: SlackRateLimits) -> None:
        super().__init__(max_retry_count=MAX_RETRIES)
        self._limits = limits

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        # Not RetryHandler's: a 429 is remembered even when this call has no retry left.
        if response is None or response.status_code != 429:
            return False
        method, channel = _method_and_channel(request)
        self._limits.refused(method, channel, _retry_after(response))
        return (
            method not in DEFERRED
            and state.current_attempt < self.max_retry_count
            and not self._limits.stopping()
        )

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        method, channel = _method_and_channel(request)
        self._limits.wait_turn(method, channel)
        state.increment_current_attempt()


def _key(method: str, channel: str | None) -> str:
    return f"{method} {channel}" if method in PER_CHANNEL and channel else method


def _method_and_channel(request: HttpRequest) -> tuple[str, str | None]:
    method = urlsplit(request.url or "").path.rsplit("/", 1)[-1] or "other"
    if method not in PER_CHANNEL or not request.data:
        return method, None
    try:
        if request.data.lstrip().startswith(b"{"):
            channel = json.loads(request.data).get("channel")
        else:
            channel = next(iter(parse_qs(request.data.decode("utf-8")).get("channel") or []), None)
    except (ValueError, AttributeError):
        return method, None
    return method, str(channel) if channel else None


def _retry_after(response: HttpResponse) -> float:
    for name, value in (response.headers or {}).items():
        if name.lower() == "retry-after":
            text = value[0] if isinstance(value, list) and value else value
            try:
                return float(str(text).strip())
            except ValueError:
                break
    return DEFAULT_RETRY_AFTER
