"""What a failed Microsoft call raises, and the care its text gets.

A GraphError's message is shown to people and logged, so every piece of Microsoft's answer that goes into
one passes through `short` first: control characters out, at most a few hundred characters.
"""

from __future__ import annotations

import re

import httpx

MAX_TEXT = 300  # Graph and Entra error text is shown to people and logged: keep it short
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]+")


class GraphError(Exception):
    """A Graph call failed. The message is safe for logs and for a person: operation, HTTP status, Graph's
    error code and message. It never holds a token, a secret, a private key or a reported email."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retryable = retryable
        self.retry_after = retry_after
        self.operation = operation

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r}, status={self.status!r}, code={self.code!r})"


class AuthError(GraphError):
    """No access token could be obtained; the message names the setting to check."""


class ShuttingDown(GraphError):
    """The retry policy's wait was cut short by shutdown (bot.runtime.lifecycle.Stopping.sleep). Retryable, so
    every caller that already handles Graph failures hands the work back instead of holding the process."""

    def __init__(self) -> None:
        super().__init__("phishbot is shutting down; the work is handed back", retryable=True)


def short(text: str) -> str:
    text = _CONTROL_CHARACTERS.sub(" ", text).strip()
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def describe_transport_error(exc: Exception, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g} s ({type(exc).__name__})"
    detail = short(str(exc))
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def error_fields(body: object) -> tuple[str | None, str | None]:
    """Graph's ``error.code`` and ``error.message`` from an answer's JSON body, shortened; None where absent."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    code = error.get("code")
    message = error.get("message")
    return (short(str(code)) if code else None, short(str(message)) if message else None)


def error_detail(code: str | None, message: str | None, response: httpx.Response | None = None) -> str:
    """The ``(code: message) [request-id …]`` tail of an error message: what Microsoft support asks for."""
    parts = [part for part in (code, message) if part]
    text = f" ({': '.join(parts)})" if parts else ""
    request_id = response.headers.get("request-id") if response is not None else None
    if request_id:
        text += f" [request-id {short(request_id)}]"
    return text
