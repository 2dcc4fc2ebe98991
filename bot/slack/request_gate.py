"""The gate in front of Bolt for HTTP mode: only signed, well-formed Slack requests reach the app.

Bolt verifies signatures too, but it answers 500 when a header or a payload is malformed (a timestamp that
is not a number, a view without a type, JSON that is not an object). Anything Slack could never send is
refused here with 401 or 400 and a log line, so the bot never answers an attacker with a 500.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from slack_sdk.signature import SignatureVerifier

log = logging.getLogger(__name__)

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


class Refused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class SlackRequestGate:
    def __init__(self, handler: WsgiApp, signing_secret: str) -> None:
        self._handler = handler
        self._verifier = SignatureVerifier(signing_secret)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length > 0 else b""
            self._check(body, environ)
        except Refused as refused:
            log.warning("refused a request to /slack/events: %s", refused)
            return _reply(start_response, refused.status, str(refused))
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            return self._handler(environ, start_response)
        except Exception as exc:  # noqa: BLE001 - whatever Bolt trips on, the caller gets a 400, not a 500
            log.warning("Bolt could not handle a signed request (%s); answered 400", type(exc).__name__)
            return _reply(start_response, 400, "malformed request")

    def _check(self, body: bytes, environ: dict) -> None:
        timestamp = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP", "")
        signature = environ.get("HTTP_X_SLACK_SIGNATURE", "")
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            raise Refused(401, "missing or malformed X-Slack-Request-Timestamp")
        try:
            valid = self._verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
        except UnicodeDecodeError:
            valid = False  # Slack signs UTF-8 text; these bytes cannot carry its signature
        if not valid:
            raise Refused(401, "invalid or expired signature")
        content_type = environ.get("CONTENT_TYPE", "")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused(400, "body is not UTF-8") from None
        if content_type.startswith("application/json"):
            check_event_envelope(_json_object(text))
        else:
            check_form(text)


# Slack sends these with every slash command; the listener relies on them (the trigger opens the form, the
# response_url carries every answer after the ack).
SLASH_COMMAND_FIELDS = ("command", "user_id", "trigger_id", "response_url")


def check_form(text: str) -> None:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise Refused(400, "body is not a form") from None
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise Refused(400, "a form field is repeated")  # which one would Bolt read? Slack never repeats one
    if "payload" in fields:
        check_interaction(_json_object(fields["payload"]))
    elif "command" in fields:
        missing = [name for name in SLASH_COMMAND_FIELDS if not fields.get(name)]
        if missing:
            raise Refused(400, f"slash command without {', '.join(missing)}")
        if not _is_slack_id(fields["user_id"]):
            raise Refused(400, "malformed user_id")
        _check_response_url(fields["response_url"])
    else:
        raise Refused(400, "neither a slash command nor an interaction")


# Someone clicked, submitted or chose a shortcut: Slack always says who.
PERSONAL_INTERACTIONS = frozenset(
    {"block_actions", "view_submission", "view_closed", "message_action", "shortcut"}
)


def check_interaction(payload: dict[str, Any]) -> None:
    kind = payload.get("type")
    if not isinstance(kind, str):
        raise Refused(400, "interaction without a type")
    if kind in PERSONAL_INTERACTIONS and "user" not in payload:
        raise Refused(400, f"{kind[:40]} without a user")
    _optional_object(payload, "user", require_id=True)
    _optional_object(payload, "team")
    _optional_object(payload, "channel")
    _optional_object(payload, "container")
    actions = payload.get("actions")
    if kind == "block_actions" or actions is not None:
        _check_actions(actions)
    view = payload.get("view")
    if kind in {"view_submission", "view_closed"} or view is not None:
        _check_view(view)
    if "message" in payload and not isinstance(payload["message"], dict):
        raise Refused(400, "malformed message")
    _check_interaction_response_url(payload, kind)
    if not isinstance(payload.get("trigger_id", ""), str):
        raise Refused(400, "malformed trigger_id")


def _check_actions(actions: object) -> None:
    if not isinstance(actions, list) or not actions:
        raise Refused(400, "block_actions without actions")
    for action in actions:
        if not isinstance(action, dict) or not isinstance(action.get("action_id"), str):
            raise Refused(400, "action without an action_id")
        if "value" in action and not isinstance(action["value"], str | type(None)):
            raise Refused(400, "action value is not a string")


def _check_view(view: object) -> None:
    if not isinstance(view, dict) or not isinstance(view.get("type"), str):
        raise Refused(400, "view without a type")
    if not all(
        isinstance(view.get(key, ""), str) for key in ("callback_id", "private_metadata", "id", "hash")
    ):
        raise Refused(400, "malformed view")
    if not isinstance(view.get("state", {}), dict):
        raise Refused(400, "malformed view")


def _check_interaction_response_url(payload: dict[str, Any], kind: str) -> None:
    if "response_url" in payload:
        _check_response_url(payload["response_url"])
    elif kind == "message_action" or (kind == "block_actions" and "view" not in payload):
        # Slack sends one with every message shortcut and every click on a message; only a click inside a
        # modal has none (it has the view instead).
        raise Refused(400, f"{kind} without a response_url")


# What the message listener reads of an event: text (or null) whenever Slack sends it.
EVENT_TEXT_FIELDS = ("channel", "user", "subtype", "ts", "thread_ts", "text", "channel_type", "bot_id")


def check_event_envelope(envelope: dict[str, Any]) -> None:
    kind = envelope.get("type")
    if kind == "url_verification":
        if not isinstance(envelope.get("challenge"), str):
            raise Refused(400, "url_verification without a challenge")
        return
    if kind != "event_callback":
        raise Refused(400, "not an event callback")
    event = envelope.get("event")
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise Refused(400, "event without a type")
    if not all(isinstance(event.get(key), str | None) for key in EVENT_TEXT_FIELDS):
        raise Refused(400, "malformed event")
    files = event.get("files")
    if files is not None and (not isinstance(files, list) or not all(isinstance(f, dict) for f in files)):
        raise Refused(400, "malformed files")


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        raise Refused(400, "payload is not JSON") from None
    if not isinstance(value, dict):
        raise Refused(400, "payload is not a JSON object")
    # JSON may escape half of a surrogate pair ("\ud800"): Slack sends Unicode text, never that, and such a
    # string fails later, wherever it is encoded (the database, the next Slack call). The search is cheap; the
    # full check runs only when an escape of that range is there at all (an escaped emoji is a whole pair).
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise Refused(400, "payload text is not Unicode") from None
    return value


def _check_response_url(value: object) -> None:
    """Answers after the ack are posted to it: it must be a URL (Slack's own; the signature vouches for that)."""
    try:
        parts = urlsplit(value) if isinstance(value, str) else None
    except ValueError:  # e.g. an unclosed IPv6 bracket
        parts = None
    if parts is None or parts.scheme not in {"https", "http"} or not parts.netloc:
        raise Refused(400, "malformed response_url")


def _optional_object(payload: dict[str, Any], key: str, *, require_id: bool = False) -> None:
    if key not in payload:
        return
    value = payload[key]
    if not isinstance(value, dict) or (require_id and not _is_slack_id(value.get("id"))):
        raise Refused(400, f"malformed {key}")


def _is_slack_id(value: object) -> bool:
    """A Slack id (U0ALICE01, W…, T…): it is stored, audited and sent back to Slack as it came."""
    return isinstance(value, str) and 0 < len(value) <= 64 and value.isascii() and value.isalnum()


def _reply(start_response: Callable, status: int, message: str) -> list[bytes]:
    body = json.dumps({"error": message}).encode()
    reason = {400: "Bad Request", 401: "Unauthorized"}.get(status, "Error")
    start_response(
        f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
