"""Slack's published Web API rate limits, for the Slack emulator (opt-in: `SlackEmulator.enforce_rate_limits()`).

Slack limits "per API method per workspace/team per app" in tiers, and chat.postMessage (a "special" tier) at about
one message per second per channel with a workspace-wide cap besides; a call over the limit is answered HTTP 429
with `Retry-After: <whole seconds>` and `{"ok": false, "error": "ratelimited"}`.
Source: https://docs.slack.dev/apis/web-api/rate-limits ("Tier 1 1+ per minute … A small amount of burst behavior is
tolerated", "Tier 2 20+ per minute … occasional bursts", "Tier 3 50+ per minute … Sporadic bursts are welcome",
"Tier 4 100+ per minute … generous burst behavior", "chat.postMessage generally allows posting one message per second
per channel, while also maintaining a workspace-wide limit", "Posting messages: 1 per second, short bursts >1
allowed"). Each method's tier is the one its reference page gives (docs.slack.dev/reference/methods/<method>; the
same table as slackapi/java-slack-sdk MethodsRateLimits.java); /work/shared/reference/slack.md §3.4 lists them.

Slack publishes rates, not bucket sizes, so the model is a token bucket per (method, workspace) — per (method,
channel) too for the posting methods — refilled at the published rate, holding at most BURST_SECONDS of it: a quiet
app may spend a minute's allowance at once (that is what "bursts" buys), a busy one gets the rate. The "+" in "50+"
means Slack may allow more; the model allows exactly the published number, so what passes here passes there.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

# How much of its rate a bucket holds: a minute's worth (Tier 3: 50 calls at once, then one every 1.2 s).
BURST_SECONDS = 60.0

TIER_1 = 1.0  # per minute
TIER_2 = 20.0
TIER_3 = 50.0
TIER_4 = 100.0
# chat.postMessage / chat.postEphemeral to one channel: "one message per second per channel", short bursts
# allowed (a few), and "several hundred per minute" for the whole workspace.
PER_CHANNEL_PER_MINUTE = 60.0
PER_CHANNEL_BURST = 5.0
POSTING_WORKSPACE_PER_MINUTE = 300.0

METHOD_TIERS: dict[str, float] = {
    "apps.connections.open": TIER_1,
    "usergroups.users.list": TIER_2,
    "usergroups.list": TIER_2,
    "chat.update": TIER_3,
    "chat.delete": TIER_3,
    "conversations.open": TIER_3,
    "conversations.history": TIER_3,
    "conversations.replies": TIER_3,
    "conversations.info": TIER_3,
    "users.lookupByEmail": TIER_3,
    "users.info": TIER_4,
    "files.info": TIER_4,
    "files.getUploadURLExternal": TIER_4,
    "files.completeUploadExternal": TIER_4,
    "views.open": TIER_4,
    "views.push": TIER_4,
    "views.update": TIER_4,
    "views.publish": TIER_4,
    "chat.getPermalink": TIER_4,  # "special" at Slack: hundreds a minute; Tier 4 here is the stricter reading
}
# The "special" tier: per channel, plus a workspace-wide cap. (chat.postEphemeral's page says Tier 4; the per-channel
# limit is applied to it too, as Slack's posting limit is about messages appearing in a channel.)
POSTING_METHODS = frozenset({"chat.postMessage", "chat.postEphemeral"})
# auth.test: "special", hundreds a minute; the bot calls it once. Not limited here.


@dataclass
class _Bucket:
    per_second: float
    capacity: float
    tokens: float
    at: float

    def take(self, now: float) -> float:
        """0 if a call may go now (and takes its token); else the seconds until one may."""
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.per_second)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.per_second


class SlackRateLimiter:
    """Decides, call by call, whether Slack would take it; counts calls and refusals per method."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self.calls: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()

    def admit(self, method: str, channel: object = None) -> int | None:
        """None when Slack takes the call; else the Retry-After it answers with (whole seconds, at least 1)."""
        with self._lock:
            self.calls[method] += 1
            now = self._clock()
            waits = [
                self._bucket(key, per_minute, burst, now).take(now)
                for key, per_minute, burst in self._limits(method, channel)
            ]
            wait = max(waits, default=0.0)
            if wait <= 0:
                return None
            # A refused call spends nothing: give back what the other buckets of this call took.
            for (key, _per_minute, _burst), taken in zip(self._limits(method, channel), waits, strict=True):
                if taken == 0:
                    self._buckets[key].tokens += 1.0
            self.refused[method] += 1
            return max(1, math.ceil(wait))

    def counts(self) -> dict[str, tuple[int, int]]:
        """method -> (calls, of which refused with 429)."""
        with self._lock:
            return {method: (n, self.refused[method]) for method, n in sorted(self.calls.items())}

    @staticmethod
    def _limits(method: str, channel: object) -> list[tuple[tuple[str, str], float, float]]:
        if method in POSTING_METHODS:
            return [
                ((method, f"channel:{channel}"), PER_CHANNEL_PER_MINUTE, PER_CHANNEL_BURST),
                (("posting", "workspace"), POSTING_WORKSPACE_PER_MINUTE, POSTING_WORKSPACE_PER_MINUTE),
            ]
        per_minute = METHOD_TIERS.get(method)
        if per_minute is None:
            return []
        # Tier 1's "small amount of burst": two at once (a Socket Mode app opens its two connections together).
        return [((method, "workspace"), per_minute, max(2.0, per_minute * BURST_SECONDS / 60.0))]

    def _bucket(self, key: tuple[str, str], per_minute: float, burst: float, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(per_minute / 60.0, burst, burst, now)
        return bucket
