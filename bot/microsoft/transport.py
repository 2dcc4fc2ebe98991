"""How a Graph request travels: one httpx client, the app token, the Prefer header, and the retry loops.

`GraphTransport.send` is the one loop every Graph request goes through: 429 and 5xx answers (after their
Retry-After), timeouts and dropped connections are sent again under the `RetryPolicy`; a 401 gets one fresh
token. `GraphTransport.batch` sends ``$batch`` envelopes through `send` and sends again, under the same
policy, only the inner requests Graph throttled. The endpoint groups build paths and bodies; nothing above
this module sees a token, a status code or a Retry-After.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from bot.microsoft.auth import Report, TokenSource
from bot.microsoft.batch import BatchCall, batch_chunks, envelope, read_answers
from bot.microsoft.errors import (
    AuthError,
    GraphError,
    describe_transport_error,
    error_detail,
    error_fields,
)
from bot.microsoft.retry import RETRYABLE_STATUSES, RETRYABLE_TRANSPORT_ERRORS, RetryPolicy, parse_retry_after

logger = logging.getLogger(__name__)

PREFER_UNKNOWN_ENUMS = "include-unknown-enum-members"


def build_http(verify: ssl.SSLContext | bool, proxy: str | None, timeout: float) -> httpx.Client:
    # trust_env stays on so HTTPS_PROXY / NO_PROXY (and SSL_CERT_FILE when verify is True) apply as for
    # any other outbound HTTPS; MSAL gets a client built the same way, so one CA setting serves both.
    return httpx.Client(
        verify=verify,
        proxy=proxy,
        timeout=httpx.Timeout(timeout),
        follow_redirects=False,
        headers={"User-Agent": "phishbot"},
    )


def _next_page(page: dict, params: dict[str, str]) -> dict[str, str] | None:
    """The query for the page after `page` of a Graph list, or None when it was the last. Only the paging token
    is taken from `@odata.nextLink`: the next request goes to our Graph, whatever the link names."""
    link = page.get("@odata.nextLink")
    tokens = parse_qs(urlsplit(link).query).get("$skiptoken") if isinstance(link, str) else None
    return {**params, "$skiptoken": tokens[0]} if tokens else None


def path_segment(value: str) -> str:
    """`value` (a submission or message id) as one segment of a Graph path."""
    if not value:
        raise ValueError("id is empty")
    # Ids come back from our store; encoding keeps a damaged one from turning into another Graph path.
    return quote(str(value), safe="")


class GraphTransport:
    """Graph requests under the retry policy. Thread-safe: httpx clients and AppToken are."""

    def __init__(
        self,
        *,
        graph_url: str,
        token: TokenSource,
        http: httpx.Client,
        retry: RetryPolicy,
        sleep: Callable[[float], None],
        report: Report,
    ) -> None:
        self._graph_url = graph_url.rstrip("/")
        self._token = token
        self._http = http
        self._retry = retry
        self._sleep = sleep
        self._report = report

    def close(self) -> None:
        self._http.close()

    def send(
        self,
        method: str,
        path: str,
        json: Any = None,
        headers: dict[str, str] | None = None,
        *,
        label: str,
        permission: str | None = None,
        response_headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        raw_content: list[bytes] | None = None,
    ) -> dict:
        """One Graph request under the retry policy; returns the JSON object of the 2xx answer.

        ``response_headers``, when given, receives the 2xx answer's headers (lower-case names): a 202's
        ``Location`` is the only thing some Graph actions answer with. ``params`` is the query string (kept
        out of error messages and logs: OData filters carry reporters' addresses and attackers' subjects).
        ``raw_content``, when given, receives the 2xx answer's bytes instead (``$value``), and {} is returned."""
        url = self._graph_url + path
        operation = f"{method} {path}"
        content = None
        request_headers = {"Accept": "application/json", "Prefer": PREFER_UNKNOWN_ENUMS}
        if json is not None:
            # Serialized once: a 25 MB report must not be re-encoded on every retry.
            content = _json_bytes(json)
            request_headers["Content-Type"] = "application/json"
        request_headers.update(headers or {})
        attempt = 0
        token_renewed = False
        while True:
            attempt += 1
            token = self._token.get()
            started = time.monotonic()
            try:
                response = self._http.request(
                    method,
                    url,
                    params=params,
                    content=content,
                    headers={**request_headers, "Authorization": f"Bearer {token}"},
                )
            except RETRYABLE_TRANSPORT_ERRORS as exc:
                self._report(label, None, time.monotonic() - started)
                logger.debug("graph %s -> %s", operation, type(exc).__name__)
                if attempt >= self._retry.max_attempts:
                    raise GraphError(
                        f"Microsoft Graph could not be reached for {operation} after {attempt} attempts: "
                        f"{describe_transport_error(exc, self._retry.timeout)}",
                        retryable=True,
                        operation=operation,
                    ) from None
                self._sleep(self._retry.delay(attempt, None))
                continue
            status = response.status_code
            self._report(label, status, time.monotonic() - started)
            logger.debug("graph %s -> %d", operation, status)
            if 200 <= status < 300:
                if response_headers is not None:
                    response_headers.update({k.lower(): v for k, v in response.headers.items()})
                if raw_content is not None:
                    raw_content.append(response.content)
                    return {}
                return _json_object(response, operation)
            if status == 401 and not token_renewed:
                # Graph rejected a token MSAL still thought valid (revoked, clock skew, emulator reset): fetch
                # a fresh one once. Not counted as an attempt: nothing is wrong with Graph.
                token_renewed = True
                attempt -= 1
                self._token.forget(token)
                continue
            code, message = _graph_error(response)
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if status in RETRYABLE_STATUSES:
                if attempt >= self._retry.max_attempts:
                    raise GraphError(
                        f"Microsoft Graph kept answering {status} for {operation} after {attempt} attempts"
                        + error_detail(code, message, response),
                        status=status,
                        code=code,
                        retryable=True,
                        retry_after=retry_after,
                        operation=operation,
                    )
                self._sleep(self._retry.delay(attempt, retry_after))
                continue
            raise _permanent_error(status, code, message, response, operation, permission)

    def collect(
        self,
        path: str,
        params: dict[str, str] | None = None,
        *,
        label: str,
        permission: str | None = None,
        max_pages: int = 5,
    ) -> list[dict]:
        """The items of a Graph list, page after page (`@odata.nextLink`), at most `max_pages` pages."""
        return self.collect_pages(path, params, label=label, permission=permission, max_pages=max_pages)[0]

    def collect_pages(
        self,
        path: str,
        params: dict[str, str] | None = None,
        *,
        label: str,
        permission: str | None = None,
        max_pages: int = 5,
    ) -> tuple[list[dict], bool]:
        """`collect`, and whether that is the whole list (False: `max_pages` pages were read and more remain)."""
        found: list[dict] = []
        query = dict(params or {})
        for _ in range(max_pages):
            page = self.send("GET", path, label=label, permission=permission, params=query or None)
            found.extend(item for item in page.get("value") or [] if isinstance(item, dict))
            following = _next_page(page, query)
            if following is None:
                return found, True
            query = following
        return found, False

    def batch(
        self,
        calls: Sequence[BatchCall],
        *,
        version: str = "v1.0",
        permission: str | None = None,
        per_group: int | None = None,
    ) -> dict[str, dict | GraphError]:
        """Send many Graph requests in ``POST /{version}/$batch`` envelopes of at most 20, one envelope at a time.

        Returns one entry per call key: the inner answer's JSON object (``{}`` for 204), or a GraphError for
        that call. Inner 429/5xx answers are sent again (only those, after the longest inner Retry-After of
        the round) until the retry policy's attempts are spent. A failing envelope (after `send`'s retries)
        gives its error to every call not yet answered and stops. AuthError is raised, not returned.
        ``per_group`` caps how many calls of one ``group`` share an envelope: Outlook runs at most four
        requests per mailbox at once, and envelopes are sent one after another, so that is also the most in
        flight per mailbox.
        """
        results: dict[str, dict | GraphError] = {}
        pending = list({call.key: call for call in calls}.values())
        attempt = 0
        while pending:
            attempt += 1
            again: list[BatchCall] = []
            retry_afters: list[float] = []
            for chunk in batch_chunks(pending, per_group):
                try:
                    answers = self._batch_round(chunk, version, permission)
                except AuthError:
                    raise
                except GraphError as failure:
                    for call in pending:
                        results.setdefault(call.key, failure)
                    return results
                for call in chunk:
                    outcome = answers[call.key]
                    if isinstance(outcome, GraphError) and outcome.retryable:
                        if attempt < self._retry.max_attempts:
                            again.append(call)
                            if outcome.retry_after is not None:
                                retry_afters.append(outcome.retry_after)
                            continue
                        outcome = GraphError(
                            f"{outcome} after {attempt} attempts",
                            status=outcome.status,
                            code=outcome.code,
                            retryable=True,
                            retry_after=outcome.retry_after,
                            operation=outcome.operation,
                        )
                    results[call.key] = outcome
            if again:
                pause = self._retry.delay(attempt, max(retry_afters) if retry_afters else None)
                logger.debug("graph $batch: %d throttled requests again in %.2fs", len(again), pause)
                self._sleep(pause)
            pending = again
        return results

    def _batch_round(
        self, chunk: Sequence[BatchCall], version: str, permission: str | None
    ) -> dict[str, dict | GraphError]:
        body, by_request_id = envelope(chunk)
        label = f"POST /{version}/$batch"
        answer = self.send("POST", f"/{version}/$batch", json=body, label=label, permission=permission)
        return read_answers(answer, by_request_id, label, permission)


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _json_object(response: httpx.Response, operation: str) -> dict:
    if not response.content:
        return {}
    try:
        value = response.json()
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise GraphError(
            f"Microsoft Graph answered {operation} with {response.status_code}, but not with a JSON object",
            status=response.status_code,
            code="malformedResponse",
            retryable=True,
            operation=operation,
        )
    return value


def _graph_error(response: httpx.Response) -> tuple[str | None, str | None]:
    try:
        body = response.json()
    except ValueError:
        return None, None
    return error_fields(body)


def _permanent_error(
    status: int,
    code: str | None,
    message: str | None,
    response: httpx.Response,
    operation: str,
    permission: str | None,
) -> GraphError:
    reason = response.reason_phrase or ""
    text = f"Microsoft Graph refused {operation}: {status} {reason}".rstrip() + error_detail(
        code, message, response
    )
    if status == 401:
        return AuthError(
            text
            + "; a fresh token was refused too: check GRAPH_URL and MS_AUTHORITY_HOST are the same cloud",
            status=status,
            code=code,
            operation=operation,
        )
    if status == 403 and permission:
        text += f"; the app registration needs the application permission {permission} with admin consent"
    return GraphError(text, status=status, code=code, retryable=False, operation=operation)
