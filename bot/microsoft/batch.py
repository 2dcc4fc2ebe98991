"""JSON batching (``POST /{version}/$batch``): the envelope phishbot sends and how it reads the answers.

No I/O here: `GraphTransport.batch` sends the envelopes and retries the throttled inner requests under the
one retry policy. Each inner answer becomes the JSON object of a success or a GraphError worded like the
errors of single requests, so callers cannot tell (and need not care) that a request travelled in a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.microsoft.errors import GraphError, error_detail, error_fields
from bot.microsoft.retry import RETRYABLE_STATUSES, parse_retry_after

BATCH_LIMIT = 20  # "JSON batch requests are currently limited to 20 individual requests"


@dataclass(frozen=True)
class BatchCall:
    """One request inside a ``$batch`` envelope; ``key`` names its answer, ``url`` is relative to the version."""

    key: str
    method: str
    url: str
    body: dict | None = None
    headers: dict[str, str] | None = None
    group: str | None = None  # e.g. the mailbox: see GraphTransport.batch(per_group=...)
    operation: str = ""  # for error messages
    not_found: str | None = None  # the sentence for an inner 404, when a 404 means something specific


def batch_chunks(calls: Sequence[BatchCall], per_group: int | None) -> list[list[BatchCall]]:
    """Envelopes of at most 20 calls, with at most `per_group` calls of one group in each, in call order."""
    chunks: list[list[BatchCall]] = []
    remaining = list(calls)
    while remaining:
        chunk: list[BatchCall] = []
        counts: dict[str, int] = {}
        deferred: list[BatchCall] = []
        for call in remaining:
            group_count = counts.get(call.group, 0) if call.group is not None else 0
            if len(chunk) < BATCH_LIMIT and (
                per_group is None or call.group is None or group_count < per_group
            ):
                chunk.append(call)
                if call.group is not None:
                    counts[call.group] = group_count + 1
            else:
                deferred.append(call)
        chunks.append(chunk)
        remaining = deferred
    return chunks


def envelope(chunk: Sequence[BatchCall]) -> tuple[dict[str, Any], dict[str, BatchCall]]:
    """The ``$batch`` request body for `chunk`, and which call each inner request id stands for."""
    by_request_id: dict[str, BatchCall] = {}
    requests = []
    for index, call in enumerate(chunk, start=1):
        request_id = str(index)
        by_request_id[request_id] = call
        request: dict[str, Any] = {"id": request_id, "method": call.method, "url": call.url}
        headers = dict(call.headers or {})
        if call.body is not None:
            headers.setdefault("Content-Type", "application/json")
            request["body"] = call.body
        if headers:
            request["headers"] = headers
        requests.append(request)
    return {"requests": requests}, by_request_id


def read_answers(
    answer: dict, by_request_id: dict[str, BatchCall], label: str, permission: str | None
) -> dict[str, dict | GraphError]:
    """One outcome per call key from the ``$batch`` answer; a call the answer leaves out gets a retryable error."""
    responses = answer.get("responses")
    if not isinstance(responses, list):
        raise GraphError(
            f"Microsoft Graph answered {label} without a 'responses' list",
            retryable=True,
            operation=label,
        )
    answers: dict[str, dict | GraphError] = {}
    for inner in responses:
        if not isinstance(inner, dict) or str(inner.get("id")) not in by_request_id:
            continue
        call = by_request_id[str(inner.get("id"))]
        answers[call.key] = _inner_outcome(inner, call, permission)
    for call in by_request_id.values():
        answers.setdefault(
            call.key,
            GraphError(
                f"Microsoft Graph's $batch answer had no response for {call.operation or call.key}",
                retryable=True,
                operation=label,
            ),
        )
    return answers


def _inner_outcome(inner: dict, call: BatchCall, permission: str | None) -> dict | GraphError:
    operation = call.operation or f"{call.method} {call.url.split('?', 1)[0]} in $batch"
    raw_status: Any = inner.get("status")
    try:
        status = int(raw_status)
    except (TypeError, ValueError):
        return GraphError(
            f"Microsoft Graph's $batch answer for {operation} has no status",
            retryable=True,
            operation=operation,
        )
    body = inner.get("body")
    if 200 <= status < 300:
        if isinstance(body, dict):
            return body
        if body is None or body == "":
            return {}  # 202/204: nothing to say but success
        return GraphError(
            f"Microsoft Graph answered {operation} with {status} but the body is not a JSON object",
            status=status,
            code="malformedResponse",
            retryable=True,
            operation=operation,
        )
    headers = inner.get("headers")
    if not isinstance(headers, dict):
        headers = {}
    retry_after = parse_retry_after(
        next((value for name, value in headers.items() if str(name).lower() == "retry-after"), None)
    )
    code, message = error_fields(body)
    retryable = status in RETRYABLE_STATUSES
    if retryable:
        text = f"Microsoft Graph kept answering {status} for {operation}" + error_detail(code, message)
    elif status == 404 and call.not_found:
        text = call.not_found + error_detail(code, message)
    else:
        text = f"Microsoft Graph refused {operation}: {status}" + error_detail(code, message)
        if status == 403 and permission:
            text += f"; the app registration needs the application permission {permission}"
    return GraphError(
        text, status=status, code=code, retryable=retryable, retry_after=retry_after, operation=operation
    )
