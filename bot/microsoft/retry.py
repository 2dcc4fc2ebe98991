"""The one retry policy for everything phishbot asks Microsoft: Graph requests, the inner requests of a
``$batch``, and the identity service's token and discovery requests.

What is worth another attempt: a 429 or a 5xx (after the server's Retry-After when it gives one), a timeout,
a dropped connection. The loops that apply it are `GraphTransport.send` and `GraphTransport.batch` for Graph
and `AppToken` for the identity service; nothing else in phishbot retries a Microsoft call.
"""

from __future__ import annotations

import email.utils
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# A request that failed this way may well succeed when sent again; other transport errors (a refused TLS
# certificate, a malformed URL) will not.
RETRYABLE_TRANSPORT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0
    timeout: float = 30.0  # per request

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")
        if min(self.base_delay, self.max_delay, self.max_retry_after) < 0 or self.timeout <= 0:
            raise ValueError("RetryPolicy delays must not be negative and the timeout must be positive")

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        The server's Retry-After wins when given (capped, so a hostile or broken value cannot park a worker
        for hours); otherwise exponential backoff with jitter, so that threads throttled together do not
        come back together.
        """
        if retry_after is not None and math.isfinite(retry_after):
            return min(max(retry_after, 0.0), self.max_retry_after)
        backoff = min(self.max_delay, self.base_delay * 2 ** min(max(attempt, 1) - 1, 32))
        return backoff * random.uniform(0.5, 1.0)


def parse_retry_after(value: str | int | float | None, *, now: datetime | None = None) -> float | None:
    """Retry-After in seconds, from delta-seconds or an HTTP-date (RFC 9110 §10.2.3); None if unusable."""
    if value is None:
        return None
    if isinstance(value, int | float):
        return max(float(value), 0.0) if math.isfinite(value) else None
    text = str(value).strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)
