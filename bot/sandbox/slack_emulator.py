"""A loopback Slack for `phishbot demo` and for the tests.

Two halves share one in-memory workspace:

* the **Web API** half answers the bot's ``WebClient`` (``base_url=emulator.api_url``). It keeps users,
  channels, messages, files, modals and Home tabs (``views.publish``: ``homes``), and it refuses what Slack
  refuses: a wrong token, Block Kit that Slack would reject (checked with slack_sdk's own models), an expired
  ``trigger_id``, an update of a message the bot did not post. It also serves ``url_private_download`` the way
  Slack does: with a wrong token the answer is *200 with an HTML sign-in page*, not a 401.
* the **client** half plays the people and Slack's delivery: it signs slash commands, events (among them
  ``app_home_opened``: ``open_app_home``), button clicks (also on a Home tab), and modal submissions with the
  signing secret and POSTs them to the bot's endpoint (``app_url``), carrying ``response_url`` and
  ``trigger_id`` values that the API half then honours.

Everything listens on 127.0.0.1; nothing happens at import time.
"""

from __future__ import annotations

import base64
import copy
import html
import inspect
import json
import secrets
import string
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import httpx
from slack_sdk.models.basic_objects import JsonObject
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from slack_sdk.signature import SignatureVerifier

from bot.sandbox.slack_rate_limits import SlackRateLimiter
from bot.sandbox.tls import default_client_context

if TYPE_CHECKING:
    from bot.sandbox.socket_mode import SocketModeEmulator

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_MESSAGE_TEXT = 40_000
MAX_VIEW_BYTES = 250_000  # views.open answers view_too_large above this
MAX_VIEW_STACK = 3  # a root view plus two pushes
MAX_API_BODY = 4 * 1024 * 1024
MAX_UPLOAD_BODY = 64 * 1024 * 1024
RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_TTL = 30 * 60.0
SLACK_ACK_DEADLINE = 3.0
WAIT_FOR_RECHECK = 0.1  # seconds between two looks of `wait_for` when the bot makes no request

# What an emulator grants by default (the scopes manifest.yml asks for); `SlackEmulator(scopes=...)` narrows it.
BOT_SCOPES = (
    "commands,chat:write,files:read,files:write,channels:history,groups:history,channels:read,groups:read,"
    "im:write,users:read,users:read.email,usergroups:read"
)
# Methods that answer `missing_scope` unless one of these scopes was granted (as Slack does).
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.delete": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "conversations.open": ("im:write", "mpim:write", "channels:manage", "groups:write"),
    "conversations.history": ("channels:history", "groups:history", "im:history", "mpim:history"),
    "conversations.replies": ("channels:history", "groups:history", "im:history", "mpim:history"),
    "conversations.info": ("channels:read", "groups:read", "im:read", "mpim:read"),
    "users.info": ("users:read",),
    "users.lookupByEmail": ("users:read.email",),
    "usergroups.users.list": ("usergroups:read",),
    "files.info": ("files:read",),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
}

_JSON_ARGS = ("blocks", "attachments", "metadata", "view", "files")
_ID_ALPHABET = string.ascii_uppercase + string.digits
_BLOCK_ID_ALPHABET = string.ascii_letters + string.digits

SIGN_IN_PAGE = (
    '<!DOCTYPE html>\n<html lang="en-US">\n<head><meta charset="utf-8"><title>Slack</title></head>\n'
    "<body><main><h1>Sign in to Sandbox</h1>"
    "<p>Enter your workspace's Slack URL.</p>"
    '<form action="/signin" method="post"><input name="domain"><button>Continue</button></form>'
    "</main></body>\n</html>\n"
)


# --------------------------------------------------------------------------------------------------------
# public records
# --------------------------------------------------------------------------------------------------------


@dataclass
class PostedMessage:
    """A message as it stands now (after any chat.update), as a snapshot."""

    ts: str
    channel: str
    text: str
    blocks: list[dict]
    thread_ts: str | None
    metadata: dict | None
    updates: int  # times chat.update (or a replace_original response) changed it
    user: str = ""
    files: list[dict] = field(default_factory=list)


@dataclass
class ApiCall:
    """One Web API request as the emulator received it (``token`` never shows in repr)."""

    method: str
    args: dict[str, Any]
    token: str | None = field(repr=False)
    at: float
    status: int = 200
    error: str | None = None
    # When it came, on the emulator's `clock` (a test's clock: what the bot's waits are measured on).
    clock_at: float = 0.0


class NotYet(AssertionError, LookupError):
    """Nothing of that kind has happened yet (wait_for treats it as "keep waiting")."""


class _ApiError(Exception):
    def __init__(self, error: str, **extra: Any):
        super().__init__(error)
        self.error = error
        self.extra = extra


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> _Reply:
        return cls(status, json.dumps(payload).encode(), headers=headers or {})

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8") -> _Reply:
        return cls(status, text.encode(), content_type=content_type)


@dataclass
class _Fault:
    status: int  # 0: no failure, the call is done and only its answer is held (`hold_answer_next`)
    retry_after: float | None
    error: str | None
    remaining: int
    delay: float | None = None


@dataclass
class _Message:
    channel: str
    ts: str
    user: str
    text: str
    blocks: list[dict]
    thread_ts: str | None = None
    metadata: dict | None = None
    updates: int = 0
    files: list[dict] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)  # bot_id, subtype, username … as Slack shows them
    slack_blocks: list[dict] = field(default_factory=list)  # blocks as Slack echoes them (ids filled in)
    edited_ts: str | None = None

    def snapshot(self) -> PostedMessage:
        return PostedMessage(
            ts=self.ts,
            channel=self.channel,
            text=self.text,
            blocks=copy.deepcopy(self.blocks),
            thread_ts=self.thread_ts,
            metadata=copy.deepcopy(self.metadata),
            updates=self.updates,
            user=self.user,
            files=copy.deepcopy(self.files),
        )


@dataclass
class _Channel:
    id: str
    name: str
    is_private: bool
    members: set[str]
    created: int
    im_user: str | None = None

    @property
    def is_im(self) -> bool:
        return self.im_user is not None

    @property
    def channel_type(self) -> str:
        if self.is_im:
            return "im"
        return "group" if self.is_private else "channel"


# --------------------------------------------------------------------------------------------------------
# Block Kit checks
# --------------------------------------------------------------------------------------------------------


def _validate_model_tree(node: Any) -> None:
    # slack_sdk's validate_json() stops at the block; buttons, confirms and text objects below it carry
    # their own validators (button text ≤ 75, value ≤ 2000 …), so walk down and run them too.
    if isinstance(node, JsonObject):
        node.validate_json()
        for value in vars(node).values():
            _validate_model_tree(value)
    elif isinstance(node, list | tuple):
        for item in node:
            _validate_model_tree(item)


def _raw_tree_errors(node: Any, where: str) -> list[str]:
    """What Slack rejects but slack_sdk's models let through: empty text objects, mrkdwn where only
    plain_text is allowed."""
    errors: list[str] = []
    if isinstance(node, dict):
        kind = node.get("type")
        if kind in ("plain_text", "mrkdwn"):
            text = node.get("text")
            if not isinstance(text, str) or not text:
                errors.append(f"must be more than 0 characters [json-pointer:{where}/text]")
        if kind in ("header", "button"):
            text_obj = node.get("text")
            if isinstance(text_obj, dict) and text_obj.get("type") != "plain_text":
                errors.append(f"must be a valid enum value [json-pointer:{where}/text/type]")
        for key, value in node.items():
            errors.extend(_raw_tree_errors(value, f"{where}/{key}"))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            errors.extend(_raw_tree_errors(item, f"{where}/{index}"))
    return errors


def _element_action_ids(block: dict) -> list[str]:
    elements: list[Any] = []
    if isinstance(block.get("elements"), list):
        elements.extend(block["elements"])
    for key in ("accessory", "element"):
        if isinstance(block.get(key), dict):
            elements.append(block[key])
    return [e["action_id"] for e in elements if isinstance(e, dict) and isinstance(e.get("action_id"), str)]


def _one_block_errors(raw: Any, where: str) -> list[str]:
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        return [f"must be an object with a string type [json-pointer:{where}]"]
    try:
        parsed = Block.parse(raw)
        if parsed is None:
            return [f"unsupported block type {raw['type']!r} [json-pointer:{where}/type]"]
        _validate_model_tree(parsed)
    except Exception as exc:  # noqa: BLE001 - any garbled block must become a Slack-style error, never a crash
        return [f"{exc} [json-pointer:{where}]"]
    errors = [
        f"invalid additional property: {key} [json-pointer:{where}]"
        for key in sorted(set(raw) - set(parsed.attributes) - {"type"})
    ]
    errors.extend(_raw_tree_errors(raw, where))
    action_ids = _element_action_ids(raw)
    for duplicate in sorted({a for a in action_ids if action_ids.count(a) > 1}):
        errors.append(f"duplicate action_id {duplicate!r} [json-pointer:{where}]")
    return errors


def block_kit_errors(
    blocks: Any, *, max_blocks: int | None = MAX_MESSAGE_BLOCKS, pointer: str = "/blocks"
) -> list[str]:
    """Slack-style error strings for a list of blocks (empty when Slack would accept it)."""
    if not isinstance(blocks, list):
        return [f"must be an array [json-pointer:{pointer}]"]
    errors: list[str] = []
    if max_blocks is not None and len(blocks) > max_blocks:
        errors.append(f"no more than {max_blocks} items allowed [json-pointer:{pointer}]")
    seen_block_ids: set[str] = set()
    for index, raw in enumerate(blocks):
        where = f"{pointer}/{index}"
        errors.extend(_one_block_errors(raw, where))
        block_id = raw.get("block_id") if isinstance(raw, dict) else None
        if isinstance(block_id, str):
            if block_id in seen_block_ids:
                errors.append(f"duplicate block_id {block_id!r} [json-pointer:{where}/block_id]")
            seen_block_ids.add(block_id)
    return errors


def view_errors(view: Any) -> list[str]:
    """Slack-style error strings for a modal/home view (empty when Slack would accept it)."""
    if not isinstance(view, dict):
        return ["must be an object [json-pointer:/view]"]
    blocks = view.get("blocks")
    errors = block_kit_errors(blocks if blocks is not None else [], max_blocks=None, pointer="/view/blocks")
    try:
        View(**view).validate_json()
    except Exception as exc:  # noqa: BLE001 - a garbled view must become a Slack-style error, never a crash
        errors.append(f"{exc} [json-pointer:/view]")
    for key in ("title", "submit", "close"):
        text_obj = view.get(key)
        if isinstance(text_obj, dict) and text_obj.get("type") != "plain_text":
            errors.append(f"must be a valid enum value [json-pointer:/view/{key}/type]")
    has_input = isinstance(blocks, list) and any(
        isinstance(b, dict) and b.get("type") == "input" for b in blocks
    )
    if view.get("type") == "modal" and has_input and not view.get("submit"):
        errors.append("must provide a submit property when using input blocks [json-pointer:/view]")
    return errors


# --------------------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------------------


def _random_id(prefix: str, length: int = 10) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def _as_json(value: Any) -> Any:
    """Form-encoded calls carry blocks, views and metadata as JSON strings; JSON calls carry them as-is."""
    if isinstance(value, str):
        return json.loads(value)
    return value


def _slack_echo(blocks: list[dict]) -> list[dict]:
    """Blocks as Slack hands them back: every block has a block_id, every interactive element an
    action_id, text objects carry their defaults."""

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: fill(v) for k, v in node.items()}
            if out.get("type") == "mrkdwn" and "text" in out:
                out.setdefault("verbatim", False)
            elif out.get("type") == "plain_text" and "text" in out:
                out.setdefault("emoji", True)
            return out
        if isinstance(node, list):
            return [fill(item) for item in node]
        return node

    echoed = []
    for raw in blocks:
        block = fill(raw)
        if isinstance(block, dict):
            block.setdefault("block_id", "".join(secrets.choice(_BLOCK_ID_ALPHABET) for _ in range(5)))
            children = list(block.get("elements") or []) if block.get("type") == "actions" else []
            for key in ("accessory", "element"):
                if isinstance(block.get(key), dict):
                    children.append(block[key])
            for element in children:
                if isinstance(element, dict) and element.get("type") not in (None, "image"):
                    element.setdefault(
                        "action_id", "".join(secrets.choice(_BLOCK_ID_ALPHABET) for _ in range(5))
                    )
        echoed.append(block)
    return echoed


def _buttons(blocks: Iterable[dict]) -> Iterable[tuple[dict, dict]]:
    """(block, button) pairs for every button in the blocks."""
    for block in blocks:
        if not isinstance(block, dict):
            continue
        candidates = list(block.get("elements") or []) if block.get("type") == "actions" else []
        if isinstance(block.get("accessory"), dict):
            candidates.append(block["accessory"])
        for element in candidates:
            if isinstance(element, dict) and element.get("type") == "button":
                yield block, element


def _empty_state_value(element: dict) -> dict[str, Any]:
    """The state a Slack client submits for an input nobody touched (initial values count as touched)."""
    kind = element.get("type", "")
    value: dict[str, Any] = {"type": kind}
    if kind in ("plain_text_input", "url_text_input", "email_text_input", "number_input"):
        value["value"] = element.get("initial_value")
    elif kind in ("static_select", "radio_buttons", "external_select"):
        value["selected_option"] = element.get("initial_option")
    elif kind in ("checkboxes", "multi_static_select", "multi_external_select"):
        value["selected_options"] = list(element.get("initial_options") or [])
    elif kind == "file_input":
        value["files"] = []
    elif kind == "datepicker":
        value["selected_date"] = element.get("initial_date")
    elif kind == "timepicker":
        value["selected_time"] = element.get("initial_time")
    elif kind in ("users_select", "conversations_select", "channels_select"):
        key = {"users_select": "user", "conversations_select": "conversation", "channels_select": "channel"}[
            kind
        ]
        value[f"selected_{key}"] = element.get(f"initial_{key}")
    elif kind in ("multi_users_select", "multi_conversations_select", "multi_channels_select"):
        key = kind.split("_")[1]
        value[f"selected_{key}"] = list(element.get(f"initial_{key}") or [])
    return value


def _state_is_empty(value: dict[str, Any]) -> bool:
    payload = [v for k, v in value.items() if k != "type"]
    return all(v in (None, "", [], {}) for v in payload)


def _option_by_value(element: dict, wanted: str) -> dict:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    for option in options:
        if option.get("value") == wanted:
            return option
    known = [o.get("value") for o in options]
    raise AssertionError(f"no option with value {wanted!r} in {element.get('action_id')!r}; options: {known}")


# --------------------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    emulator: SlackEmulator


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "SlackEmulator/1"
    sys_version = ""
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the demo's terminal belongs to the demo."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, verb: str) -> None:
        emulator = self.server.emulator
        try:
            length_header = (self.headers.get("Content-Length") or "0").strip()
            length = int(length_header) if length_header.isdigit() else -1
            limit = MAX_UPLOAD_BODY if self.path.startswith("/upload/") else MAX_API_BODY
            if length < 0:
                self.close_connection = True
                reply = _Reply.json({"ok": False, "error": "invalid_content_length"}, status=400)
            elif length > limit:
                self.close_connection = True  # the unread body must not be taken for the next request
                reply = _Reply.json({"ok": False, "error": "request_too_large"}, status=413)
            else:
                body = self.rfile.read(length) if length else b""
                reply = emulator._route(verb, self.path, self.headers, body)
        except Exception:  # noqa: BLE001 - one bad request must not stop the server; the failure is kept
            emulator._record_server_error(traceback.format_exc())
            self.close_connection = True
            reply = _Reply.json({"ok": False, "error": "internal_error"}, status=500)
        emulator._note_activity()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(reply.body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(reply.body)
        except OSError:
            self.close_connection = True  # the client went away; nothing to tell it


# --------------------------------------------------------------------------------------------------------
# the emulator
# --------------------------------------------------------------------------------------------------------


class SlackEmulator:
    """A Slack workspace on a loopback port: the Web API for the bot, and the people who use the bot."""

    def __init__(
        self,
        *,
        bot_token: str = "xoxb-sandbox-token",  # noqa: S107 - a sandbox value, valid nowhere but here
        signing_secret: str = "sandbox-signing-secret",  # noqa: S107 - a sandbox value
        app_token: str = "xapp-1-A0PHISHBOT-sandbox-app-token",  # noqa: S107 - a sandbox value
        team_id: str = "T0SANDBOX",
        bot_user_id: str = "U0PHISHBOT",
        validate_blocks: bool = True,
        scopes: Iterable[str] | None = None,
    ):
        self.bot_token = bot_token
        self.signing_secret = signing_secret
        self._signer = SignatureVerifier(signing_secret)
        self.team_id = team_id
        self.team_domain = "sandbox"
        self.bot_user_id = bot_user_id
        self.bot_id = "B0PHISHBOT"
        self.app_id = "A0PHISHBOT"
        self.validate_blocks = validate_blocks
        # The bot token's scopes: sent in X-OAuth-Scopes and enforced per METHOD_SCOPES. May be changed later.
        self.scopes: list[str] = list(scopes) if scopes is not None else BOT_SCOPES.split(",")
        self.trigger_ttl = SLACK_ACK_DEADLINE  # trigger_ids expire this many seconds after issue
        self.app_url: str | None = None
        self._delivery = threading.local()  # delivering_to(): this thread's app URL, over app_url
        # Socket Mode: apps.connections.open hands out URLs of this server (bot/sandbox/socket_mode.py), and with
        # transport "socket" the people below deliver over it instead of POSTing to app_url.
        self.app_token = app_token
        self.socket_mode: SocketModeEmulator | None = None
        self.transport: str = "http"
        # More of the Web API and of Slack's pages (bot.sandbox.slack_manifest_api attaches the App Manifest API):
        # method -> handler(args, token) -> the answer's JSON; page path -> handler(query) -> (status, HTML).
        self.extra_methods: dict[str, Callable[[dict[str, Any], str | None], dict[str, Any]]] = {}
        self.extra_pages: dict[str, Callable[[dict[str, str]], tuple[int, str]]] = {}

        self.calls: list[ApiCall] = []
        self.ephemerals: list[dict] = []
        self.responses: list[dict] = []
        self.views: dict[str, dict] = {}
        self.homes: dict[str, dict] = {}  # user id -> the Home tab views.publish last put there
        self.files: dict[str, dict] = {}
        self.invalid_block_errors: list[str] = []
        self.warnings: list[str] = []  # things Slack tolerates or shows as an error to the person
        self.server_errors: list[str] = []  # tracebacks of emulator bugs (tests assert it stays empty)
        self.last_event: dict | None = None

        self._lock = threading.RLock()
        # Counts the requests the bot made; `wait_for` sleeps on it instead of polling the test's condition
        # every few milliseconds (a condition that reads the bot's database costs a dozen queries a look).
        self._activity = threading.Condition(threading.Lock())
        self._activity_count = 0
        self._users: dict[str, dict] = {}
        self._locales: dict[str, str] = {}  # users.info shows them only with include_locale=true
        self._usergroups: dict[str, list[str]] = {}
        self._channels: dict[str, _Channel] = {}
        self._ims: dict[str, str] = {}  # user id -> IM channel id
        self._messages: dict[str, list[_Message]] = {}
        self._file_content: dict[str, bytes] = {}
        self._pending_uploads: dict[str, dict] = {}
        self._triggers: dict[str, dict] = {}
        self._response_urls: dict[str, dict] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        # Slack's published rate limits, when a test or bench asks for them (`enforce_rate_limits`).
        self.rate_limiter: SlackRateLimiter | None = None
        # The time `ApiCall.clock_at` and the rate limits read (seconds): a test sets its bot's clock here, so that
        # "no call before Retry-After had passed" is measured on the clock the bot waits on.
        self.clock: Callable[[], float] = time.monotonic
        self._view_order: list[str] = []
        self._last_ts_us = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._http: httpx.Client | None = None
        self.port: int | None = None

        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.open": self._conversations_open,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.info": self._conversations_info,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "usergroups.users.list": self._usergroups_users_list,
            "files.info": self._files_info,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "apps.connections.open": self._apps_connections_open,
        }

        self.add_user("USLACKBOT", name="slackbot", is_bot=True)
        self.add_user(bot_user_id, name="phishbot", is_bot=True)

    def __repr__(self) -> str:
        return f"SlackEmulator(api_url={self.api_url if self._server else None!r}, team_id={self.team_id!r})"

    # ---------------------------------------------------------------------------------------- lifecycle

    def start(self) -> SlackEmulator:
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", 0), _Handler)
        server.emulator = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="slack-emulator", daemon=True
        )
        self._thread.start()
        self._http = httpx.Client(
            verify=default_client_context(), timeout=httpx.Timeout(30.0), trust_env=False
        )
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._http is not None:
            self._http.close()
        self._server = None
        self._thread = None
        self._http = None

    def __enter__(self) -> SlackEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def install_app(self, app_id: str, *, bot_token: str, signing_secret: str, scopes: Iterable[str]) -> None:
        """Make `app_id` the app installed in this workspace: its bot token, signing secret and scopes from now on."""
        with self._lock:
            self.app_id = app_id
            self.bot_token = bot_token
            self.signing_secret = signing_secret
            self._signer = SignatureVerifier(signing_secret)
            self.scopes = list(scopes)

    @property
    def root_url(self) -> str:
        if self.port is None:
            raise RuntimeError("SlackEmulator is not started")
        return f"http://127.0.0.1:{self.port}/"

    @property
    def api_url(self) -> str:
        return self.root_url + "api/"

    # ---------------------------------------------------------------------------------------- directory

    def add_user(
        self,
        user_id: str,
        *,
        name: str,
        email: str | None = None,
        is_bot: bool = False,
        deleted: bool = False,
        real_name: str | None = None,
        locale: str = "en-US",
    ) -> dict:
        profile: dict[str, Any] = {
            "real_name": real_name or name,
            "real_name_normalized": real_name or name,
            "display_name": name,
            "display_name_normalized": name,
            "team": self.team_id,
        }
        if email:
            profile["email"] = email
        user = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": deleted,
            "real_name": real_name or name,
            "tz": "Etc/UTC",
            "tz_label": "Coordinated Universal Time",
            "tz_offset": 0,
            "profile": profile,
            "is_admin": False,
            "is_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(time.time()),
        }
        with self._lock:
            self._users[user_id] = user
            self._locales[user_id] = locale
        return copy.deepcopy(user)

    def add_usergroup(self, group_id: str, members: list[str]) -> None:
        with self._lock:
            self._usergroups[group_id] = list(members)

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        members: Iterable[str] = (),
        is_private: bool = False,
        bot_member: bool = True,
    ) -> None:
        """A channel; the bot is a member unless ``bot_member=False`` (then Slack answers not_in_channel)."""
        member_set = set(members)
        if bot_member:
            member_set.add(self.bot_user_id)
        with self._lock:
            self._channels[channel_id] = _Channel(
                id=channel_id,
                name=name.lstrip("#"),
                is_private=is_private,
                members=member_set,
                created=int(time.time()),
            )
            self._messages.setdefault(channel_id, [])

    def im_channel(self, user_id: str) -> str:
        """The bot's IM channel id with that user (opened if needed, as conversations.open does)."""
        with self._lock:
            if user_id not in self._users:
                raise AssertionError(f"unknown user {user_id!r}: add_user() it first")
            return self._open_im(user_id)

    # ---------------------------------------------------------------------------------------- recording

    def calls_to(self, method: str) -> list[ApiCall]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def messages(self, channel: str, *, include_users: bool = False) -> list[PostedMessage]:
        """The bot's messages in a channel (thread replies included), current state, in post order.
        ``include_users=True`` adds what people posted (uploads, email forwards)."""
        with self._lock:
            return [
                m.snapshot()
                for m in self._messages.get(channel, [])
                if include_users or m.user == self.bot_user_id
            ]

    def dms(self, user_id: str) -> list[PostedMessage]:
        with self._lock:
            channel = self._ims.get(user_id)
            return self.messages(channel) if channel else []

    def last_view(self) -> dict:
        """The view object (with ``id``, ``hash``, ``blocks``…) most recently opened, pushed or updated."""
        with self._lock:
            if not self._view_order:
                raise NotYet("no view has been opened")
            return copy.deepcopy(self.views[self._view_order[-1]]["view"])

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Until ``predicate()`` is truthy, return its value. Lookup errors count as "not yet". It is asked
        again after each request the bot makes here, and every WAIT_FOR_RECHECK seconds for what changes
        without one (the bot's own database)."""
        deadline = time.monotonic() + timeout
        last_exc: BaseException | None = None
        while True:
            with self._activity:
                seen = self._activity_count
            try:
                result = predicate()
            except (LookupError, AttributeError, TypeError, ValueError) as exc:
                result, last_exc = None, exc
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._wait_for_activity(after=seen, timeout=min(WAIT_FOR_RECHECK, remaining))
        raise AssertionError(self._wait_failure(predicate, timeout, last_exc))

    def _wait_for_activity(self, *, after: int, timeout: float) -> None:
        with self._activity:
            self._activity.wait_for(lambda: self._activity_count != after, timeout=timeout)

    def _note_activity(self) -> None:
        with self._activity:
            self._activity_count += 1
            self._activity.notify_all()

    def _wait_failure(
        self, predicate: Callable[[], Any], timeout: float, last_exc: BaseException | None
    ) -> str:
        try:
            source = inspect.getsource(predicate).strip()
        except (OSError, TypeError):
            source = repr(predicate)
        with self._lock:
            recent = [
                f"  {c.method} -> {c.status}{' ' + c.error if c.error else ''}" for c in self.calls[-15:]
            ]
            lines = [f"wait_for timed out after {timeout:g}s: {source}"]
            if last_exc is not None:
                lines.append(f"last error from the predicate: {last_exc!r}")
            lines.append("recent Slack API calls:" if recent else "no Slack API calls were made")
            lines.extend(recent)
            for title, items in (
                ("invalid blocks", self.invalid_block_errors),
                ("warnings", self.warnings),
                ("emulator errors", [e.splitlines()[-1] for e in self.server_errors]),
            ):
                if items:
                    lines.append(f"{title}: {items[-5:]}")
        return "\n".join(lines)

    def _record_server_error(self, text: str) -> None:
        with self._lock:
            self.server_errors.append(text)

    # ---------------------------------------------------------------------------------------- faults

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: float | None = 1,
        times: int = 1,
        error: str | None = None,
        delay: float | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail. ``method`` is a Web API method name, or
        ``"response_url"``, ``"file_download"`` or ``"file_upload"`` for those endpoints.

        429 → HTTP 429 with Retry-After and ``{"ok":false,"error":"ratelimited"}``; 200 with ``error`` →
        ``{"ok":false,"error":error}``; 5xx → that HTTP status with a JSON error body. ``delay`` holds the
        call that many seconds first (and Slack does nothing): a call still in flight when a test kills the
        bot."""
        if status == 200 and not error:
            raise ValueError("fail_next(status=200) needs error=, e.g. error='channel_not_found'")
        if retry_after is not None and float(retry_after) != int(retry_after):
            raise ValueError("Slack sends Retry-After in whole seconds (slack_sdk parses it with int())")
        with self._lock:
            self._faults.setdefault(method, deque()).append(
                _Fault(status=status, retry_after=retry_after, error=error, remaining=times, delay=delay)
            )

    def enforce_rate_limits(self, *, clock: Callable[[], float] | None = None) -> SlackRateLimiter:
        """From now on, answer like Slack past its published rate limits (bot/sandbox/slack_rate_limits.py): HTTP 429
        with Retry-After once a method's (or a channel's) allowance is spent. Off by default. `clock` (seconds) is
        the one the allowance refills on (the emulator's `clock` when not given): a test's clock, so that a
        Retry-After skipped on it counts as waited.
        The limiter counts calls and refusals per method (`counts()`)."""
        with self._lock:
            self.rate_limiter = SlackRateLimiter(clock=clock or self.clock)
            return self.rate_limiter

    def hold_answer_next(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Do the next ``times`` calls of the Web API ``method`` (a message is posted, a card edited), then hold
        each answer ``seconds``: Slack did it, and a bot killed meanwhile never heard so."""
        if method not in self._methods:
            raise ValueError(f"hold_answer_next takes a Web API method, not {method!r}")
        with self._lock:
            self._faults.setdefault(method, deque()).append(
                _Fault(status=0, retry_after=None, error=None, remaining=times, delay=seconds)
            )

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            queue = self._faults.get(method)
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.popleft()
            return fault

    @staticmethod
    def _fault_reply(fault: _Fault) -> _Reply:
        if fault.delay:
            time.sleep(fault.delay)
        headers: dict[str, str] = {}
        if fault.status == 429:
            error = fault.error or "ratelimited"
            if fault.retry_after is not None:
                headers["Retry-After"] = str(int(fault.retry_after))
        elif fault.status == 503:
            error = fault.error or "service_unavailable"
        elif fault.status >= 500:
            error = fault.error or "internal_error"
        else:
            error = fault.error or "request_failed"
        return _Reply.json({"ok": False, "error": error}, status=fault.status, headers=headers)

    # ---------------------------------------------------------------------------------------- routing

    def _route(self, verb: str, raw_path: str, headers: Any, body: bytes) -> _Reply:
        parts = urlsplit(raw_path)
        path = parts.path
        if path.startswith("/api/"):
            return self._api(path[len("/api/") :], parts.query, headers, body)
        if path.startswith("/response/") and verb == "POST":
            return self._response_url_post(path[len("/response/") :], body)
        if path.startswith("/files-pri/") and verb == "GET":
            return self._file_download(path, headers)
        if path.startswith("/upload/") and verb == "POST":
            return self._file_upload(path[len("/upload/") :], body)
        if path in self.extra_pages and verb == "GET":
            status, page = self.extra_pages[path](dict(parse_qsl(parts.query)))
            return _Reply.text(page, status=status, content_type="text/html; charset=utf-8")
        if path.startswith("/archives/") and verb == "GET":
            return _Reply.text(
                "This is a permalink into the phishbot sandbox; open Slack to see the message.\n"
            )
        return _Reply.text("Not Found\n", status=404)

    def _api(self, method: str, query: str, headers: Any, body: bytes) -> _Reply:
        args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
        parse_error = None
        if body:
            if content_type == "application/json":
                try:
                    decoded = json.loads(body)
                except ValueError:
                    decoded = None
                if isinstance(decoded, dict):
                    args.update(decoded)
                else:
                    parse_error = "invalid_json"
            elif content_type in ("application/x-www-form-urlencoded", ""):
                try:
                    args.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
                except UnicodeDecodeError:
                    parse_error = "invalid_form_data"
            else:
                parse_error = "invalid_form_data"
        authorization = headers.get("Authorization") or ""
        token = authorization[len("Bearer ") :].strip() if authorization.startswith("Bearer ") else None
        body_token = args.pop("token", None)
        token = token or (body_token if isinstance(body_token, str) else None)
        for key in _JSON_ARGS:
            # Form-encoded calls carry these as JSON text; record them decoded, as JSON calls carry them.
            if isinstance(args.get(key), str):
                try:
                    args[key] = json.loads(args[key])
                except ValueError:
                    pass  # left as sent; the method answers with Slack's error for it

        call = ApiCall(method=method, args=args, token=token, at=time.time(), clock_at=self.clock())
        with self._lock:
            self.calls.append(call)
        reply = self._answer(method, args, token, parse_error)
        call.status = reply.status
        try:
            answer = json.loads(reply.body)
        except ValueError:
            answer = {}
        if isinstance(answer, dict) and not answer.get("ok", False):
            call.error = answer.get("error")
        reply.headers.setdefault("X-OAuth-Scopes", ",".join(self.scopes))
        return reply

    def _answer(
        self, method: str, args: dict[str, Any], token: str | None, parse_error: str | None
    ) -> _Reply:
        extra = self.extra_methods.get(method)
        if extra is not None:
            # Its own tokens (app configuration tokens), its own checks; faults apply as to any method.
            fault = self._take_fault(method)
            if parse_error or (fault is not None and fault.status):
                return self._fault_reply(fault) if fault else _Reply.json({"ok": False, "error": parse_error})
            with self._lock:
                return _Reply.json(extra(args, token))
        handler = self._methods.get(method)
        if handler is None:
            return _Reply.json({"ok": False, "error": "unknown_method"})
        if not token:
            return _Reply.json({"ok": False, "error": "not_authed"})
        if method == "apps.connections.open":
            # Only the app-level token opens connections; a bot token is the wrong type of token.
            if not token.startswith("xapp-"):
                return _Reply.json(
                    {
                        "ok": False,
                        "error": "not_allowed_token_type" if token == self.bot_token else "invalid_auth",
                    }
                )
            if not secrets.compare_digest(token.encode(), self.app_token.encode()):
                return _Reply.json({"ok": False, "error": "invalid_auth"})
            fault = self._take_fault(method)
            if fault is not None and fault.status:
                return self._fault_reply(fault)
            with self._lock:
                return _Reply.json(self._apps_connections_open(args))
        if token.startswith("xapp-"):
            return _Reply.json({"ok": False, "error": "not_allowed_token_type"})
        if not secrets.compare_digest(token.encode(), self.bot_token.encode()):
            return _Reply.json({"ok": False, "error": "invalid_auth"})
        if parse_error:
            return _Reply.json({"ok": False, "error": parse_error})
        needed = METHOD_SCOPES.get(method)
        granted = list(self.scopes)
        if needed and not set(needed) & set(granted):
            return _Reply.json(
                {"ok": False, "error": "missing_scope", "needed": needed[0], "provided": ",".join(granted)}
            )
        fault = self._take_fault(method)
        if fault is not None and fault.status:
            return self._fault_reply(fault)
        limiter = self.rate_limiter
        retry_after = limiter.admit(method, args.get("channel")) if limiter is not None else None
        if retry_after is not None:
            return _Reply.json(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(retry_after)}
            )
        with self._lock:
            try:
                result = handler(args)
            except _ApiError as exc:
                result = {"ok": False, "error": exc.error, **exc.extra}
            except (ValueError, TypeError, AttributeError):
                result = {"ok": False, "error": "invalid_arguments"}
        if fault is not None and fault.delay:
            time.sleep(fault.delay)  # hold_answer_next: done, and the answer is late
        return _Reply.json(result)

    # ---------------------------------------------------------------------------------------- helpers (locked)

    def _next_ts(self) -> str:
        now_us = int(time.time() * 1_000_000)
        if now_us <= self._last_ts_us:
            now_us = self._last_ts_us + 1
        self._last_ts_us = now_us
        return f"{now_us // 1_000_000}.{now_us % 1_000_000:06d}"

    def _open_im(self, user_id: str) -> str:
        channel_id = self._ims.get(user_id)
        if channel_id is None:
            channel_id = "D" + user_id[1:]
            if channel_id in self._channels:
                channel_id = _random_id("D")
            self._channels[channel_id] = _Channel(
                id=channel_id,
                name=user_id,
                is_private=True,
                members={user_id, self.bot_user_id},
                created=int(time.time()),
                im_user=user_id,
            )
            self._messages.setdefault(channel_id, [])
            self._ims[user_id] = channel_id
        return channel_id

    def _channel(self, value: Any, *, allow_user: bool = False, allow_name: bool = False) -> _Channel:
        if not isinstance(value, str) or not value:
            raise _ApiError("channel_not_found")
        if value in self._channels:
            return self._channels[value]
        if allow_user and value[0] in "UW":
            if value not in self._users:
                raise _ApiError("channel_not_found")
            return self._channels[self._open_im(value)]
        if allow_name:
            name = value.lstrip("#")
            for channel in self._channels.values():
                if not channel.is_im and channel.name == name:
                    return channel
        raise _ApiError("channel_not_found")

    def _require_bot_in(self, channel: _Channel) -> None:
        if self.bot_user_id not in channel.members:
            raise _ApiError("channel_not_found" if channel.is_private else "not_in_channel")

    def _find_message(self, channel_id: str, ts: Any) -> _Message | None:
        for message in self._messages.get(channel_id, []):
            if message.ts == ts:
                return message
        return None

    def _reject_blocks(self, method: str, errors: list[str]) -> None:
        self.invalid_block_errors.extend(f"{method}: {e}" for e in errors)
        raise _ApiError(
            "invalid_blocks", errors=errors, response_metadata={"messages": [f"[ERROR] {e}" for e in errors]}
        )

    def _content(
        self, method: str, args: dict[str, Any], *, require: bool = True
    ) -> tuple[str | None, list | None]:
        """Text and blocks of a message call, checked as Slack checks them. None means "not given"."""
        text = args.get("text")
        if text is not None and not isinstance(text, str):
            text = str(text)
        blocks = None
        if "blocks" in args and args["blocks"] not in (None, ""):
            try:
                blocks = _as_json(args["blocks"])
            except ValueError as exc:
                self.invalid_block_errors.append(f"{method}: blocks are not JSON")
                raise _ApiError("invalid_blocks_format") from exc
            if self.validate_blocks:
                errors = block_kit_errors(blocks)
                if errors:
                    self._reject_blocks(method, errors)
            elif not isinstance(blocks, list):
                raise _ApiError("invalid_blocks_format")
        if text is not None and len(text) > MAX_MESSAGE_TEXT:
            self.invalid_block_errors.append(
                f"{method}: text is {len(text)} characters (limit {MAX_MESSAGE_TEXT})"
            )
            raise _ApiError("msg_too_long")
        has_attachments = bool(args.get("attachments"))
        if require and not text and not blocks and not has_attachments:
            raise _ApiError("no_text")
        if require and blocks and not text:
            self.warnings.append(f"{method} without text: notifications and screen readers get nothing")
        return text, blocks

    @staticmethod
    def _metadata(value: Any) -> dict | None:
        if value in (None, ""):
            return None
        try:
            metadata = _as_json(value)
        except ValueError as exc:
            raise _ApiError("invalid_metadata_format") from exc
        if (
            not isinstance(metadata, dict)
            or not isinstance(metadata.get("event_type"), str)
            or not metadata["event_type"]
            or not isinstance(metadata.get("event_payload"), dict)
        ):
            raise _ApiError("invalid_metadata_format")
        return metadata

    def _slack_message(self, message: _Message, *, with_metadata: bool = False) -> dict:
        out: dict[str, Any] = {
            "type": "message",
            "ts": message.ts,
            "user": message.user,
            "text": message.text,
            "team": self.team_id,
        }
        out.update(copy.deepcopy(message.extra))
        if message.slack_blocks:
            out["blocks"] = copy.deepcopy(message.slack_blocks)
        if message.files:
            out["files"] = copy.deepcopy(message.files)
            out.setdefault("upload", True)
        if message.thread_ts:
            out["thread_ts"] = message.thread_ts
        else:
            replies = [m for m in self._messages.get(message.channel, []) if m.thread_ts == message.ts]
            if replies:  # Slack marks a thread's parent with its own ts
                out["thread_ts"] = message.ts
                out["reply_count"] = len(replies)
                out["latest_reply"] = replies[-1].ts
        if message.edited_ts:
            out["edited"] = {"user": message.user, "ts": message.edited_ts}
        if with_metadata and message.metadata is not None:
            out["metadata"] = copy.deepcopy(message.metadata)
        return out

    def _add_message(
        self,
        channel: _Channel,
        *,
        user: str,
        text: str,
        blocks: list | None,
        thread_ts: str | None = None,
        metadata: dict | None = None,
        files: list[dict] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> _Message:
        ts = self._next_ts()
        message = _Message(
            channel=channel.id,
            ts=ts,
            user=user,
            text=text or "",
            blocks=copy.deepcopy(blocks or []),
            thread_ts=thread_ts or None,
            metadata=copy.deepcopy(metadata),
            files=copy.deepcopy(files or []),
            extra=dict(extra or {}),
            slack_blocks=_slack_echo(blocks or []),
        )
        if thread_ts:
            parent = self._find_message(channel.id, thread_ts)
            if parent is None:
                self.warnings.append(f"thread_ts {thread_ts} is not a message in {channel.id}")
        self._messages.setdefault(channel.id, []).append(message)
        return message

    def _bot_extra(self) -> dict[str, Any]:
        return {
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": "phishbot",
                "team_id": self.team_id,
            },
        }

    # ---------------------------------------------------------------------------------------- Web API methods

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": self.root_url,
            "team": "Sandbox",
            "user": "phishbot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"), allow_user=True, allow_name=True)
        self._require_bot_in(channel)
        text, blocks = self._content("chat.postMessage", args)
        metadata = self._metadata(args.get("metadata"))
        extra = self._bot_extra()
        if args.get("attachments"):
            extra["attachments"] = _as_json(args["attachments"])
        message = self._add_message(
            channel,
            user=self.bot_user_id,
            text=text or "",
            blocks=blocks,
            thread_ts=args.get("thread_ts") or None,
            metadata=metadata,
            extra=extra,
        )
        return {"ok": True, "channel": channel.id, "ts": message.ts, "message": self._slack_message(message)}

    def _own_message(self, args: dict[str, Any], ts_key: str, not_yours: str) -> tuple[_Channel, _Message]:
        channel = self._channel(args.get("channel"))
        message = self._find_message(channel.id, args.get(ts_key))
        if message is None:
            raise _ApiError("message_not_found")
        if message.user != self.bot_user_id:
            raise _ApiError(not_yours)
        return channel, message

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, message = self._own_message(args, "ts", "cant_update_message")
        text, blocks = self._content("chat.update", args, require=False)
        new_text = message.text if text is None else text
        new_blocks = message.blocks
        if args.get("blocks") is not None:  # blocks=[] removes them, leaving them out keeps them
            new_blocks = blocks or []
        if not new_text and not new_blocks and not message.extra.get("attachments"):
            raise _ApiError("no_text")
        new_metadata = self._metadata(args["metadata"]) if "metadata" in args else message.metadata
        if (new_text, new_blocks, new_metadata) != (message.text, message.blocks, message.metadata):
            message.text = new_text
            if new_blocks is not message.blocks:
                message.blocks = copy.deepcopy(new_blocks)
                message.slack_blocks = _slack_echo(new_blocks)
            message.metadata = copy.deepcopy(new_metadata)
            message.updates += 1
            message.edited_ts = self._next_ts()
        return {
            "ok": True,
            "channel": channel.id,
            "ts": message.ts,
            "text": message.text,
            "message": self._slack_message(message),
        }

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        channel, message = self._own_message(args, "ts", "cant_delete_message")
        self._messages[channel.id].remove(message)
        return {"ok": True, "channel": channel.id, "ts": message.ts}

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"), allow_name=True)
        user = args.get("user")
        if user not in self._users:
            raise _ApiError("user_not_found")
        self._require_bot_in(channel)
        if user not in channel.members:
            raise _ApiError("user_not_in_channel")
        text, blocks = self._content("chat.postEphemeral", args)
        ts = self._next_ts()
        self.ephemerals.append(
            {
                "channel": channel.id,
                "user": user,
                "text": text or "",
                "blocks": copy.deepcopy(blocks or []),
                "thread_ts": args.get("thread_ts") or None,
                "ts": ts,
                "source": "chat.postEphemeral",
            }
        )
        return {"ok": True, "message_ts": ts}

    def _chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        message = self._find_message(channel.id, args.get("message_ts"))
        if message is None:
            raise _ApiError("message_not_found")
        link = f"{self.root_url}archives/{channel.id}/p{message.ts.replace('.', '')}"
        if message.thread_ts and message.thread_ts != message.ts:
            link += "?" + urlencode({"thread_ts": message.thread_ts, "cid": channel.id})
        return {"ok": True, "channel": channel.id, "permalink": link}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel"):
            channel = self._channel(args["channel"])
            return {"ok": True, "channel": {"id": channel.id}}
        users = [u.strip() for u in str(args.get("users") or "").split(",") if u.strip()]
        if not users:
            raise _ApiError("users_list_not_supplied")
        if len(users) > 1:
            raise _ApiError("not_supported", detail="the emulator opens one-to-one IMs only")
        if users[0] not in self._users:
            raise _ApiError("user_not_found")
        already = users[0] in self._ims
        channel_id = self._open_im(users[0])
        info = {"id": channel_id}
        if _truthy(args.get("return_im")):
            info = self._channel_info(self._channels[channel_id])
        return {"ok": True, "no_op": already, "already_open": already, "channel": info}

    def _readable(self, args: dict[str, Any]) -> _Channel:
        channel = self._channel(args.get("channel"))
        self._require_bot_in(channel)
        return channel

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable(args)
        with_metadata = _truthy(args.get("include_all_metadata"))
        inclusive = _truthy(args.get("inclusive"))
        oldest = float(args.get("oldest") or 0)
        latest = float(args["latest"]) if args.get("latest") else None
        limit = max(1, min(int(args.get("limit") or 100), 999))
        offset = 0
        if args.get("cursor"):
            try:
                offset = int(base64.urlsafe_b64decode(str(args["cursor"])).decode().split(":", 1)[1])
            except (ValueError, IndexError) as exc:
                raise _ApiError("invalid_cursor") from exc
        selected = []
        for message in reversed(self._messages.get(channel.id, [])):
            if message.thread_ts is not None:
                continue  # replies live in conversations.replies
            ts = float(message.ts)
            if ts < oldest or (ts == oldest and not inclusive):
                continue
            if latest is not None and (ts > latest or (ts == latest and not inclusive)):
                continue
            selected.append(message)
        page = selected[offset : offset + limit]
        has_more = offset + limit < len(selected)
        next_cursor = (
            base64.urlsafe_b64encode(f"offset:{offset + limit}".encode()).decode() if has_more else ""
        )
        return {
            "ok": True,
            "messages": [self._slack_message(m, with_metadata=with_metadata) for m in page],
            "has_more": has_more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable(args)
        parent = self._find_message(channel.id, args.get("ts"))
        if parent is None:
            raise _ApiError("thread_not_found")
        root = parent.thread_ts or parent.ts
        thread = [m for m in self._messages[channel.id] if m.ts == root or m.thread_ts == root]
        with_metadata = _truthy(args.get("include_all_metadata"))
        return {
            "ok": True,
            "messages": [self._slack_message(m, with_metadata=with_metadata) for m in thread],
            "has_more": False,
            "response_metadata": {"next_cursor": ""},
        }

    def _channel_info(self, channel: _Channel) -> dict[str, Any]:
        if channel.is_im:
            return {
                "id": channel.id,
                "created": channel.created,
                "is_im": True,
                "is_org_shared": False,
                "user": channel.im_user,
                "is_user_deleted": bool(self._users[channel.im_user or ""].get("deleted")),
            }
        return {
            "id": channel.id,
            "name": channel.name,
            "name_normalized": channel.name,
            "is_channel": not channel.is_private,
            "is_group": channel.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": channel.is_private,
            "is_archived": False,
            "is_general": False,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": self.bot_user_id in channel.members,
            "created": channel.created,
            "creator": "",
            "context_team_id": self.team_id,
        }

    def _conversations_info(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args.get("channel"))
        if channel.is_private and self.bot_user_id not in channel.members:
            raise _ApiError("channel_not_found")
        info = self._channel_info(channel)
        if _truthy(args.get("include_num_members")) and not channel.is_im:
            info["num_members"] = len(channel.members)
        return {"ok": True, "channel": info}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._users.get(str(args.get("user") or ""))
        if user is None:
            raise _ApiError("user_not_found")
        answer = copy.deepcopy(user)
        if _truthy(args.get("include_locale")):
            answer["locale"] = self._locales.get(user["id"], "en-US")
        return {"ok": True, "user": answer}

    def _users_lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        wanted = str(args.get("email") or "").strip().lower()
        for user in self._users.values():
            email = user["profile"].get("email")
            if wanted and isinstance(email, str) and email.lower() == wanted:
                return {"ok": True, "user": copy.deepcopy(user)}
        raise _ApiError("users_not_found")

    def _usergroups_users_list(self, args: dict[str, Any]) -> dict[str, Any]:
        members = self._usergroups.get(str(args.get("usergroup") or ""))
        if members is None:
            raise _ApiError("no_such_subteam")
        return {"ok": True, "users": list(members)}

    def _files_info(self, args: dict[str, Any]) -> dict[str, Any]:
        file = self.files.get(str(args.get("file") or ""))
        if file is None:
            raise _ApiError("file_not_found")
        return {
            "ok": True,
            "file": copy.deepcopy(file),
            "comments": [],
            "response_metadata": {"next_cursor": ""},
        }

    def _files_get_upload_url(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = args.get("filename")
        try:
            length = int(args.get("length") or 0)
        except (TypeError, ValueError) as exc:
            raise _ApiError("invalid_arguments") from exc
        if not filename or length <= 0:
            raise _ApiError("invalid_arguments")
        if length > MAX_UPLOAD_BODY:
            raise _ApiError("file_too_large")
        file_id = _random_id("F")
        self._pending_uploads[file_id] = {
            "filename": str(filename),
            "length": length,
            "content": None,
            "alt_txt": args.get("alt_txt"),
        }
        return {"ok": True, "upload_url": f"{self.root_url}upload/{file_id}", "file_id": file_id}

    def _file_upload(self, file_id: str, body: bytes) -> _Reply:
        fault = self._take_fault("file_upload")
        if fault is not None:
            return self._fault_reply(fault)
        with self._lock:
            pending = self._pending_uploads.get(file_id)
            if pending is None:
                return _Reply.text("invalid upload url\n", status=404)
            pending["content"] = body
        return _Reply.text(f"OK - {len(body)}")

    def _files_complete_upload(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            entries = _as_json(args.get("files") or "[]")
        except ValueError as exc:
            raise _ApiError("invalid_arguments") from exc
        if not isinstance(entries, list) or not entries:
            raise _ApiError("invalid_arguments")
        channel = None
        channel_id = args.get("channel_id") or args.get("channels")
        if channel_id:
            channel = self._channel(str(channel_id).split(",")[0])
            self._require_bot_in(channel)
        done = []
        for entry in entries:
            file_id = entry.get("id") if isinstance(entry, dict) else None
            pending = self._pending_uploads.get(str(file_id))
            if pending is None or pending["content"] is None:
                raise _ApiError("file_not_found")
            if len(pending["content"]) != pending["length"]:
                raise _ApiError("file_upload_size_mismatch")
            file = self._register_file(
                self.bot_user_id,
                pending["filename"],
                pending["content"],
                mimetype="application/octet-stream",
                title=entry.get("title") or pending["filename"],
                file_id=str(file_id),
            )
            del self._pending_uploads[str(file_id)]
            done.append(file)
        if channel is not None:
            for file in done:
                self._share_file(file["id"], channel)
            self._add_message(
                channel,
                user=self.bot_user_id,
                text=str(args.get("initial_comment") or ""),
                blocks=None,
                thread_ts=args.get("thread_ts") or None,
                files=[self.files[f["id"]] for f in done],
                extra={**self._bot_extra(), "subtype": "file_share"},
            )
        return {"ok": True, "files": [{"id": f["id"], "title": f["title"]} for f in done]}

    # --- views

    def _check_trigger(self, trigger_id: Any) -> dict:
        trigger = self._triggers.get(str(trigger_id or ""))
        if trigger is None:
            raise _ApiError("invalid_trigger_id")
        if trigger["used"]:
            raise _ApiError("exchanged_trigger_id")
        if time.monotonic() - trigger["issued"] > self.trigger_ttl:
            raise _ApiError("expired_trigger_id")
        return trigger

    def _checked_view(self, method: str, raw: Any) -> dict:
        if raw in (None, ""):
            raise _ApiError("invalid_arguments")
        try:
            view = _as_json(raw)
        except ValueError as exc:
            raise _ApiError("invalid_arguments") from exc
        if len(json.dumps(view)) > MAX_VIEW_BYTES:
            raise _ApiError("view_too_large")
        if self.validate_blocks:
            errors = view_errors(view)
            if errors:
                self._reject_blocks(method, errors)
        if not isinstance(view, dict):
            raise _ApiError("invalid_arguments")
        return view

    def _store_view(
        self,
        spec: dict,
        *,
        user: str,
        trigger_id: str | None,
        view_id: str | None = None,
        previous_view_id: str | None = None,
        root_view_id: str | None = None,
    ) -> dict:
        view_id = view_id or _random_id("V")
        view = {
            "id": view_id,
            "team_id": self.team_id,
            "type": spec.get("type", "modal"),
            "blocks": _slack_echo(spec.get("blocks") or []),
            "private_metadata": spec.get("private_metadata", ""),
            "callback_id": spec.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": spec.get("title"),
            "clear_on_close": bool(spec.get("clear_on_close", False)),
            "notify_on_close": bool(spec.get("notify_on_close", False)),
            "close": spec.get("close"),
            "submit": spec.get("submit"),
            "previous_view_id": previous_view_id,
            "root_view_id": root_view_id or view_id,
            "app_id": self.app_id,
            "external_id": spec.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        entry = self.views.get(view_id)
        if entry is None:
            entry = {"view": view, "user": user, "trigger_id": trigger_id, "open": True, "errors": None}
            self.views[view_id] = entry
        else:
            entry.update(view=view, errors=None)
        if view_id in self._view_order:
            self._view_order.remove(view_id)
        self._view_order.append(view_id)
        return copy.deepcopy(view)

    def _open_stack(self, user: str) -> list[str]:
        """The user's open views, root first."""
        open_ids = [
            vid for vid in self._view_order if self.views[vid]["open"] and self.views[vid]["user"] == user
        ]
        if not open_ids:
            return []
        top = open_ids[-1]
        stack = []
        current: str | None = top
        while current:
            stack.append(current)
            current = self.views[current]["view"].get("previous_view_id")
        return list(reversed(stack))

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = self._check_trigger(args.get("trigger_id"))
        spec = self._checked_view("views.open", args.get("view"))
        trigger["used"] = True
        for view_id in self._open_stack(trigger["user"]):
            self.views[view_id]["open"] = False  # a new modal replaces whatever the person had open
        return {
            "ok": True,
            "view": self._store_view(spec, user=trigger["user"], trigger_id=args.get("trigger_id")),
        }

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        trigger = self._check_trigger(args.get("trigger_id"))
        spec = self._checked_view("views.push", args.get("view"))
        stack = self._open_stack(trigger["user"])
        if len(stack) >= MAX_VIEW_STACK:
            raise _ApiError("push_limit_reached")
        trigger["used"] = True
        view = self._store_view(
            spec,
            user=trigger["user"],
            trigger_id=args.get("trigger_id"),
            previous_view_id=stack[-1] if stack else None,
            root_view_id=stack[0] if stack else None,
        )
        return {"ok": True, "view": view}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        entry = None
        if args.get("view_id"):
            entry = self.views.get(str(args["view_id"]))
        elif args.get("external_id"):
            entry = next(
                (e for e in self.views.values() if e["view"].get("external_id") == args["external_id"]), None
            )
        if entry is None or not entry["open"]:
            raise _ApiError("not_found")
        if args.get("hash") and args["hash"] != entry["view"]["hash"]:
            raise _ApiError("hash_conflict")
        spec = self._checked_view("views.update", args.get("view"))
        old = entry["view"]
        view = self._store_view(
            spec,
            user=entry["user"],
            trigger_id=entry["trigger_id"],
            view_id=old["id"],
            previous_view_id=old.get("previous_view_id"),
            root_view_id=old.get("root_view_id"),
        )
        return {"ok": True, "view": view}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = str(args.get("user_id") or "")
        if user_id not in self._users:
            raise _ApiError("user_not_found")
        spec = self._checked_view("views.publish", args.get("view"))
        if spec.get("type") != "home":
            raise _ApiError("invalid_arguments")
        previous = self.homes.get(user_id)
        if args.get("hash") and previous is not None and args["hash"] != previous["hash"]:
            raise _ApiError("hash_conflict")
        view = {
            "id": previous["id"] if previous else _random_id("V"),
            "team_id": self.team_id,
            "type": "home",
            "blocks": _slack_echo(spec.get("blocks") or []),
            "private_metadata": spec.get("private_metadata", ""),
            "callback_id": spec.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "app_id": self.app_id,
            "external_id": spec.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        view["root_view_id"] = view["id"]
        self.homes[user_id] = view
        return {"ok": True, "view": copy.deepcopy(view)}

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        """Reached only through _answer's app-token check."""
        if self.socket_mode is None:
            return {"ok": False, "error": "socket_mode_not_enabled"}
        return {"ok": True, "url": self.socket_mode.issue_url()}

    # ---------------------------------------------------------------------------------------- response_url

    def _new_response_url(self, **context: Any) -> str:
        url_id = secrets.token_urlsafe(16)
        self._response_urls[url_id] = {**context, "uses": 0, "created": time.monotonic()}
        return f"{self.root_url}response/{url_id}"

    def _response_context(self, url: str) -> dict:
        return self._response_urls[url.rsplit("/", 1)[-1]]

    def _response_url_post(self, url_id: str, body: bytes) -> _Reply:
        fault = self._take_fault("response_url")
        if fault is not None:
            return self._fault_reply(fault)
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            payload = None
        with self._lock:
            context = self._response_urls.get(url_id)
            if context is None:
                return _Reply.text("invalid_token", status=404)
            if time.monotonic() - context["created"] > RESPONSE_URL_TTL:
                return _Reply.text("expired_url", status=404)
            if context["uses"] >= RESPONSE_URL_MAX_USES and not context.get("reusable"):
                self.warnings.append("response_url used more than 5 times")
                return _Reply.text("used_url", status=404)
            if not isinstance(payload, dict):
                return _Reply.text("invalid_payload", status=400)
            try:
                self._apply_response(payload, context, source="response_url")
            except _ApiError as exc:
                self.warnings.append(f"response_url post refused: {exc.error}")
                return _Reply.text(exc.error, status=400 if exc.error != "message_not_found" else 404)
            context["uses"] += 1
        return _Reply.json({"ok": True})

    def _original_ephemeral(self, context: dict) -> dict | None:
        for entry in reversed(self.ephemerals):
            if entry["ts"] == context.get("message_ts") and entry["channel"] == context.get("channel"):
                return entry
        return None

    def _apply_response(self, payload: dict, context: dict, *, source: str) -> None:
        """What Slack does with a message sent to a response_url (or returned in a slash command's ack)."""
        if _truthy(payload.get("delete_original")):
            if context.get("is_ephemeral"):
                entry = self._original_ephemeral(context)
                if entry is None:
                    raise _ApiError("message_not_found")
                entry["deleted"] = True
            else:
                message = self._find_message(context.get("channel", ""), context.get("message_ts"))
                if message is None:
                    raise _ApiError("message_not_found")
                self._messages[message.channel].remove(message)
            self.responses.append(copy.deepcopy(payload))
            return
        text, blocks = self._content(source, payload)
        if _truthy(payload.get("replace_original")):
            if context.get("is_ephemeral"):
                entry = self._original_ephemeral(context)
                if entry is None:
                    raise _ApiError("message_not_found")
                entry.update(text=text or "", blocks=copy.deepcopy(blocks or []))
                entry["replaced"] = entry.get("replaced", 0) + 1
            else:
                message = self._find_message(context.get("channel", ""), context.get("message_ts"))
                if message is None:
                    raise _ApiError("message_not_found")
                if message.user != self.bot_user_id:
                    raise _ApiError("cant_update_message")
                message.text = text or ""
                message.blocks = copy.deepcopy(blocks or [])
                message.slack_blocks = _slack_echo(blocks or [])
                message.updates += 1
                message.edited_ts = self._next_ts()
            self.responses.append(copy.deepcopy(payload))
            return
        channel = self._channels.get(context.get("channel", ""))
        if payload.get("response_type") == "in_channel" and channel is not None:
            self._add_message(
                channel,
                user=self.bot_user_id,
                text=text or "",
                blocks=blocks,
                thread_ts=payload.get("thread_ts") or None,
                extra=self._bot_extra(),
            )
        else:
            ts = self._next_ts()
            self.ephemerals.append(
                {
                    "channel": context.get("channel"),
                    "user": context.get("user"),
                    "text": text or "",
                    "blocks": copy.deepcopy(blocks or []),
                    "thread_ts": payload.get("thread_ts") or None,
                    "ts": ts,
                    "source": source,
                }
            )
            if context.get("kind") == "command":
                # A slash command's replace_original replaces the last message its responses showed.
                context.update(message_ts=ts, is_ephemeral=True)
        self.responses.append(copy.deepcopy(payload))

    # ---------------------------------------------------------------------------------------- files

    def _register_file(
        self,
        user_id: str,
        name: str,
        content: bytes,
        *,
        mimetype: str,
        title: str | None = None,
        file_id: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict:
        file_id = file_id or _random_id("F")
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else "binary"
        now = int(time.time())
        path = f"files-pri/{self.team_id}-{file_id}"
        file = {
            "id": file_id,
            "created": now,
            "timestamp": now,
            "name": name,
            "title": title or name,
            "mimetype": mimetype,
            "filetype": extension,
            "pretty_type": extension.upper(),
            "user": user_id,
            "user_team": self.team_id,
            "editable": False,
            "size": len(content),
            "mode": "hosted",
            "is_external": False,
            "external_type": "",
            "is_public": False,
            "public_url_shared": False,
            "display_as_bot": False,
            "username": "",
            "url_private": f"{self.root_url}{path}/{quote(name)}",
            "url_private_download": f"{self.root_url}{path}/download/{quote(name)}",
            "permalink": f"{self.root_url}files/{user_id}/{file_id}/{quote(name)}",
            "has_rich_preview": False,
            "file_access": "visible",
            "channels": [],
            "groups": [],
            "ims": [],
            "comments_count": 0,
        }
        file.update(extra or {})
        self.files[file_id] = file
        self._file_content[file_id] = bytes(content)
        return copy.deepcopy(file)

    def _share_file(self, file_id: str, channel: _Channel) -> None:
        file = self.files[file_id]
        key = "ims" if channel.is_im else ("groups" if channel.is_private else "channels")
        if channel.id not in file[key]:
            file[key].append(channel.id)
        if not channel.is_private:
            file["is_public"] = True

    def _file_download(self, path: str, headers: Any) -> _Reply:
        fault = self._take_fault("file_download")
        if fault is not None:
            return self._fault_reply(fault)
        # /files-pri/T…-F…/name  or  /files-pri/T…-F…/download/name
        owner = path[len("/files-pri/") :].split("/", 1)[0]
        file_id = owner.split("-", 1)[1] if "-" in owner else ""
        authorization = headers.get("Authorization") or ""
        token = authorization[len("Bearer ") :].strip() if authorization.startswith("Bearer ") else ""
        if not token or not secrets.compare_digest(token.encode(), self.bot_token.encode()):
            # Slack's gotcha, kept on purpose: no token or a wrong one gets a sign-in page with status 200.
            return _Reply.text(SIGN_IN_PAGE, content_type="text/html; charset=utf-8")
        with self._lock:
            file = self.files.get(file_id)
            content = self._file_content.get(file_id)
        if file is None or content is None or not owner.startswith(self.team_id + "-"):
            return _Reply.text(
                "<!DOCTYPE html><html><body><h1>Not found</h1></body></html>",
                status=404,
                content_type="text/html; charset=utf-8",
            )
        reply = _Reply(200, content, content_type=file["mimetype"])
        if "/download/" in path:
            reply.headers["Content-Disposition"] = (
                f"attachment; filename*=UTF-8''{quote(unquote(file['name']))}"
            )
        return reply

    def add_file(
        self,
        user_id: str,
        name: str,
        content: bytes,
        *,
        mimetype: str = "message/rfc822",
        title: str | None = None,
    ) -> dict:
        """Register a file the user uploaded without sharing it anywhere (what a modal's file_input holds)."""
        with self._lock:
            if user_id not in self._users:
                raise AssertionError(f"unknown user {user_id!r}: add_user() it first")
            return self._register_file(user_id, name, content, mimetype=mimetype, title=title)

    def file_content(self, file_id: str) -> bytes:
        with self._lock:
            return self._file_content[file_id]

    @staticmethod
    def file_input_state(file: dict | list[dict]) -> dict:
        """The state value of a file_input element holding these files."""
        files = file if isinstance(file, list) else [file]
        return {"type": "file_input", "files": copy.deepcopy(files)}

    # ---------------------------------------------------------------------------------------- the client side

    def _require_user(self, user_id: str) -> dict:
        user = self._users.get(user_id)
        if user is None:
            raise AssertionError(f"unknown user {user_id!r}: add_user() it first")
        return user

    def _require_channel_for(self, user_id: str, channel_id: str) -> _Channel:
        channel = self._channels.get(channel_id)
        if channel is None:
            raise AssertionError(
                f"unknown channel {channel_id!r}: add_channel() it first (or use im_channel())"
            )
        if channel.is_im and channel.im_user != user_id:
            raise AssertionError(f"{user_id} is not the person in IM {channel_id}")
        channel.members.add(user_id)  # whoever acts in a channel is in it
        return channel

    def _issue_trigger(self, user_id: str) -> str:
        trigger_id = f"{int(time.time())}.{secrets.randbelow(10**12)}.{secrets.token_hex(16)}"
        self._triggers[trigger_id] = {"issued": time.monotonic(), "used": False, "user": user_id}
        return trigger_id

    def _user_ref(self, user_id: str) -> dict[str, Any]:
        user = self._users[user_id]
        return {"id": user_id, "username": user["name"], "name": user["name"], "team_id": self.team_id}

    def _team_ref(self) -> dict[str, Any]:
        return {"id": self.team_id, "domain": self.team_domain}

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """The two headers Slack puts on every request it sends to an app."""
        timestamp = int(time.time()) if timestamp is None else timestamp
        signature = self._signer.generate_signature(timestamp=str(timestamp), body=body)
        return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": signature or ""}

    @contextmanager
    def delivering_to(self, app_url: str) -> Iterator[None]:
        """What this thread sends goes to `app_url` (one replica of several, as Slack spreads requests), whatever
        other threads send meanwhile."""
        self._delivery.url = app_url
        try:
            yield
        finally:
            self._delivery.url = None

    def send_signed(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST raw bytes to the bot's endpoint, signed (or with the given, possibly wrong, signature); with
        transport "socket", send what would have been POSTed as a Socket Mode envelope instead."""
        if self.transport == "socket" and self.socket_mode is not None:
            return self.socket_mode.deliver_request(body, content_type, headers or {})
        app_url = getattr(self._delivery, "url", None) or self.app_url
        if not app_url:
            raise AssertionError("set emulator.app_url to the bot's http://127.0.0.1:PORT/slack/events first")
        if self._http is None:
            raise RuntimeError("SlackEmulator is not started")
        signed = self.sign(body, timestamp)
        if signature is not None:
            signed["X-Slack-Signature"] = signature
        request_headers = {"Content-Type": content_type, **signed, **(headers or {})}
        started = time.monotonic()
        response = self._http.post(app_url, content=body, headers=request_headers)
        elapsed = time.monotonic() - started
        if elapsed > SLACK_ACK_DEADLINE:
            with self._lock:
                self.warnings.append(f"the bot took {elapsed:.1f}s to answer; Slack gives up after 3s")
        return response

    def _send_interaction(self, payload: dict) -> httpx.Response:
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.send_signed(body, "application/x-www-form-urlencoded")

    def slash_command(
        self,
        user_id: str,
        text: str = "",
        *,
        channel_id: str = "C0INTAKE",
        command: str = "/report-phish",
    ) -> httpx.Response:
        with self._lock:
            response_url = self._new_response_url(
                kind="command", channel=channel_id, user=user_id, message_ts=None, is_ephemeral=False
            )
            fields = self._command_fields(user_id, text, channel_id, command, response_url)
            context = self._response_context(response_url)
        response = self.send_signed(urlencode(fields).encode(), "application/x-www-form-urlencoded")
        self._after_command(response, context)
        return response

    def _command_fields(
        self, user_id: str, text: str, channel_id: str, command: str, response_url: str
    ) -> dict[str, str]:
        """The form Slack POSTs for a slash command (with a fresh trigger); under the lock."""
        user = self._require_user(user_id)
        channel = self._require_channel_for(user_id, channel_id)
        return {
            "token": "sandbox-verification-token",
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel_id,
            "channel_name": "directmessage" if channel.is_im else channel.name,
            "user_id": user_id,
            "user_name": user["name"],
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": self._issue_trigger(user_id),
        }

    def _after_command(self, response: httpx.Response, context: dict) -> None:
        """A slash command's ack body is a message: Slack shows it like a response_url post."""
        if response.status_code != 200:
            with self._lock:
                self.warnings.append(
                    f"slash command answered HTTP {response.status_code}: the person sees an error"
                )
            return
        if not response.content.strip():
            return
        if response.headers.get("content-type", "").startswith("application/json"):
            try:
                payload = response.json()
            except ValueError:
                payload = None
        else:
            payload = {"text": response.text}
        if not isinstance(payload, dict):
            return
        with self._lock:
            try:
                self._apply_response(payload, context, source="ack")
            except _ApiError as exc:
                self.warnings.append(f"slash command ack body refused: {exc.error}")

    def post_as_user(
        self,
        user_id: str,
        channel_id: str,
        text: str = "",
        *,
        files: Iterable[dict] = (),
        thread_ts: str | None = None,
    ) -> PostedMessage:
        """A person posts a message (no event is sent; see send_message_event)."""
        with self._lock:
            self._require_user(user_id)
            channel = self._require_channel_for(user_id, channel_id)
            file_objects = []
            for file in files:
                self._share_file(file["id"], channel)
                file_objects.append(copy.deepcopy(self.files[file["id"]]))
            blocks = []
            if text:
                blocks = [
                    {
                        "type": "rich_text",
                        "elements": [
                            {"type": "rich_text_section", "elements": [{"type": "text", "text": text}]}
                        ],
                    }
                ]
            extra: dict[str, Any] = {"client_msg_id": _random_id("", 8).lower(), "display_as_bot": False}
            if file_objects:
                extra["subtype"] = "file_share"
                extra["upload"] = True
            message = self._add_message(
                channel,
                user=user_id,
                text=text,
                blocks=blocks,
                thread_ts=thread_ts,
                files=file_objects,
                extra=extra,
            )
            return message.snapshot()

    def send_event(
        self,
        event: dict,
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
    ) -> httpx.Response:
        """Deliver an Events API ``event_callback`` envelope around ``event``."""
        envelope = self._event_envelope(event, event_id)
        with self._lock:
            self.last_event = copy.deepcopy(envelope)
        return self._deliver_envelope(envelope, retry_num=retry_num, retry_reason=retry_reason)

    def prepared_event(self, event: dict, *, event_id: str | None = None) -> tuple[bytes, dict[str, str]]:
        """A signed ``event_callback`` request (body and headers) around ``event``, not sent: what a load
        generator sends, within Slack's five-minute window. A fresh event_id unless given."""
        body = json.dumps(self._event_envelope(event, event_id)).encode()
        return body, {"Content-Type": "application/json", **self.sign(body)}

    def prepared_upload(
        self, user_id: str, channel_id: str, name: str, content: bytes, *, mimetype: str = "message/rfc822"
    ) -> tuple[bytes, dict[str, str]]:
        """What `upload_file` does (the file registered, the message posted) up to its ``file_share`` event,
        returned signed instead of sent (see `prepared_event`)."""
        file = self.add_file(user_id, name, content, mimetype=mimetype)
        message = self.post_as_user(user_id, channel_id, files=[file])
        return self.prepared_event(self._message_event(message))

    def _event_envelope(self, event: dict, event_id: str | None) -> dict:
        return {
            "token": "sandbox-verification-token",
            "team_id": self.team_id,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id or _random_id("Ev", 10),
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": "4-" + secrets.token_urlsafe(24),
        }

    def redeliver_last_event(
        self, *, retry_num: int = 1, retry_reason: str = "http_timeout"
    ) -> httpx.Response:
        """Send the last event again, as Slack's retry does (same event_id, X-Slack-Retry-Num set)."""
        with self._lock:
            if self.last_event is None:
                raise AssertionError("no event has been sent yet")
            envelope = copy.deepcopy(self.last_event)
        return self._deliver_envelope(envelope, retry_num=retry_num, retry_reason=retry_reason)

    def _deliver_envelope(
        self, envelope: dict, *, retry_num: int | None, retry_reason: str
    ) -> httpx.Response:
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return self.send_signed(json.dumps(envelope).encode(), "application/json", headers=headers)

    def send_message_event(self, message: PostedMessage) -> httpx.Response:
        """The ``message`` event Slack sends for a message a person posted."""
        return self.send_event(self._message_event(message))

    def _message_event(self, message: PostedMessage) -> dict:
        with self._lock:
            stored = self._find_message(message.channel, message.ts)
            if stored is None:
                raise AssertionError(f"no message {message.ts} in {message.channel}")
            event = self._slack_message(stored)
            event.update(
                channel=stored.channel,
                event_ts=stored.ts,
                channel_type=self._channels[stored.channel].channel_type,
            )
        return event

    def upload_file(
        self,
        user_id: str,
        channel_id: str,
        name: str,
        content: bytes,
        *,
        mimetype: str = "message/rfc822",
        text: str = "",
    ) -> httpx.Response:
        """A person uploads a file into a channel: file registered, message posted, ``file_share`` event sent."""
        file = self.add_file(user_id, name, content, mimetype=mimetype)
        message = self.post_as_user(user_id, channel_id, text, files=[file])
        return self.send_message_event(message)

    def email_to_channel(
        self,
        channel_id: str,
        *,
        from_address: str,
        subject: str,
        plain_text: str = "",
        from_name: str = "",
        message_id: str | None = None,
        date: str | None = None,
        to_address: str = "",
        attachments: Iterable[tuple[str, bytes, str]] = (),
        download: bytes | None = None,
        thread_ts: str | None = None,
    ) -> httpx.Response:
        """Mail arriving at a channel's email address: Slack's Email app posts it as USLACKBOT (``mode: email``,
        empty message text) and sends the ``file_share`` event of fixture slackweb_event_email_message.json.

        ``attachments`` are (file name, bytes, MIME type) of the mail's attachments, listed in the file's
        ``attachments`` with a ``url`` that serves them. ``download`` is what ``url_private_download`` serves;
        by default an HTML rendering of the mail (what Slack serves there is not documented)."""
        with self._lock:
            channel = self._channels.get(channel_id)
            if channel is None:
                raise AssertionError(f"unknown channel {channel_id!r}: add_channel() it first")
            rendered = f"<!DOCTYPE html><html><body><pre>{html.escape(plain_text)}</pre></body></html>"
            listed = []
            for filename, content, mimetype in attachments:
                stored = self._register_file("USLACKBOT", filename, content, mimetype=mimetype)
                listed.append(
                    {
                        "filename": filename,
                        "size": len(content),
                        "mimetype": mimetype,
                        "url": stored["url_private_download"],
                    }
                )
            sender = {
                "address": from_address,
                "name": from_name,
                "original": f"{from_name} <{from_address}>" if from_name else from_address,
            }
            file = self._register_file(
                "USLACKBOT",
                subject or "(no subject)",
                download if download is not None else rendered.encode(),
                mimetype="message/rfc822" if download is not None else "text/html",
                extra={
                    "filetype": "email",
                    "pretty_type": "Email",
                    "mode": "email",
                    "editable": True,
                    "display_as_bot": True,
                    "username": "Email",
                    "bot_id": "B0EMAILAPP",
                    "subject": subject,
                    "to": [{"address": to_address, "name": "Email", "original": f"Email <{to_address}>"}],
                    "from": [sender],
                    "cc": [],
                    "attachments": listed,
                    "original_attachment_count": len(listed),
                    "plain_text": plain_text,
                    "preview": plain_text[:300],
                    "preview_plain_text": plain_text[:300],
                    "headers": {
                        "date": date or time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
                        "in_reply_to": None,
                        "reply_to": None,
                        "message_id": message_id,
                    },
                    "has_more": False,
                    "sent_to_self": False,
                },
            )
            self._share_file(file["id"], channel)
            message = self._add_message(
                channel,
                user="USLACKBOT",
                text="",
                blocks=None,
                thread_ts=thread_ts,
                files=[self.files[file["id"]]],
                extra={
                    "subtype": "file_share",
                    "upload": True,
                    "display_as_bot": True,
                    "bot_id": "B0EMAILAPP",
                },
            )
            snapshot = message.snapshot()
        return self.send_message_event(snapshot)

    def _button(self, blocks: list[dict], action_id: str, value: str | None, where: str) -> tuple[dict, dict]:
        present = []
        for block, button in _buttons(blocks):
            present.append((button.get("action_id"), button.get("value")))
            if button.get("action_id") == action_id and (value is None or button.get("value") == value):
                return block, button
        raise AssertionError(
            f"no button {action_id!r}{f' with value {value!r}' if value is not None else ''} on {where}; "
            f"a person can only click what is shown. Buttons there: {present}"
        )

    @staticmethod
    def _action(block: dict, button: dict) -> dict:
        action = {
            "action_id": button.get("action_id"),
            "block_id": block.get("block_id"),
            "text": button.get("text"),
            "type": "button",
            "action_ts": f"{time.time():.6f}",
        }
        for key in ("value", "style", "url"):
            if key in button:
                action[key] = button[key]
        return action

    def click(
        self, user_id: str, action_id: str, value: str | None, message: PostedMessage
    ) -> httpx.Response:
        """A person clicks a button on a message the bot posted (it must be on the message as it is now;
        ``value=None`` takes the button's own value)."""
        with self._lock:
            self._require_user(user_id)
            channel = self._require_channel_for(user_id, message.channel)
            stored = self._find_message(message.channel, message.ts)
            if stored is None:
                raise AssertionError(f"message {message.ts} is no longer in {message.channel}")
            block, button = self._button(stored.slack_blocks, action_id, value, f"message {stored.ts}")
            container: dict[str, Any] = {
                "type": "message",
                "message_ts": stored.ts,
                "channel_id": channel.id,
                "is_ephemeral": False,
            }
            if stored.thread_ts:
                container["thread_ts"] = stored.thread_ts
            payload: dict[str, Any] = {
                "type": "block_actions",
                "user": self._user_ref(user_id),
                "api_app_id": self.app_id,
                "token": "sandbox-verification-token",
                "container": container,
                "trigger_id": self._issue_trigger(user_id),
                "team": self._team_ref(),
                "enterprise": None,
                "is_enterprise_install": False,
                "channel": {"id": channel.id, "name": "directmessage" if channel.is_im else channel.name},
                "message": self._slack_message(stored),
                "state": {"values": {}},
                "response_url": self._new_response_url(
                    kind="block_actions",
                    channel=channel.id,
                    user=user_id,
                    message_ts=stored.ts,
                    is_ephemeral=False,
                ),
                "actions": [self._action(block, button)],
            }
        return self._send_interaction(payload)

    def prepared_request(
        self,
        kind: str,
        user_id: str,
        *,
        text: str = "",
        action_id: str = "",
        value: str = "",
        channel_id: str = "C0INTAKE",
    ) -> tuple[bytes, dict[str, str]]:
        """A signed request (body and headers) a load generator can send many times within Slack's five-minute
        window: ``kind`` is "command" (/report-phish with ``text``, the fields `slash_command` sends, a fresh
        trigger_id each) or "click" (a ``block_actions`` on ``action_id`` with ``value``). Its response_url takes
        any number of posts."""
        with self._lock:
            self._require_user(user_id)
            response_url = self._new_response_url(
                kind="block_actions" if kind == "click" else "command",
                channel=channel_id,
                user=user_id,
                message_ts=None,
                is_ephemeral=True,
                reusable=True,
            )
            if kind == "command":
                body = urlencode(
                    self._command_fields(user_id, text, channel_id, "/report-phish", response_url)
                ).encode()
            elif kind == "click":
                payload = {
                    "type": "block_actions",
                    "user": self._user_ref(user_id),
                    "api_app_id": self.app_id,
                    "team": self._team_ref(),
                    "channel": {"id": channel_id, "name": "load"},
                    "container": {
                        "type": "message",
                        "message_ts": "0000000000.000000",
                        "channel_id": channel_id,
                        "is_ephemeral": True,
                    },
                    "trigger_id": self._issue_trigger(user_id),
                    "response_url": response_url,
                    "actions": [
                        {
                            "action_id": action_id,
                            "block_id": "load",
                            "type": "button",
                            "value": value,
                            "action_ts": f"{time.time():.6f}",
                        }
                    ],
                }
                body = ("payload=" + quote(json.dumps(payload))).encode()
            else:
                raise ValueError(f"unknown request kind {kind!r}")
        return body, {"Content-Type": "application/x-www-form-urlencoded", **self.sign(body)}

    def delete_message(self, channel_id: str, ts: str) -> None:
        """Someone (a workspace admin) deletes a message from the channel."""
        with self._lock:
            messages = self._messages[channel_id]
            messages[:] = [m for m in messages if m.ts != ts]

    def forge_click(self, user_id: str, action_id: str, value: str, channel_id: str) -> httpx.Response:
        """An attacker's click: a correctly signed ``block_actions`` for a button nobody was shown (another
        case's id, an action the card does not offer). The bot must judge it on the server."""
        with self._lock:
            self._require_user(user_id)
            payload: dict[str, Any] = {
                "type": "block_actions",
                "user": self._user_ref(user_id),
                "api_app_id": self.app_id,
                "token": "sandbox-verification-token",
                "container": {
                    "type": "message",
                    "message_ts": "0000000000.000000",
                    "channel_id": channel_id,
                    "is_ephemeral": True,
                },
                "trigger_id": self._issue_trigger(user_id),
                "team": self._team_ref(),
                "channel": {"id": channel_id, "name": "forged"},
                "state": {"values": {}},
                "response_url": self._new_response_url(
                    kind="block_actions", channel=channel_id, user=user_id, message_ts=None, is_ephemeral=True
                ),
                "actions": [
                    {
                        "action_id": action_id,
                        "block_id": "forged",
                        "type": "button",
                        "value": value,
                        "text": {"type": "plain_text", "text": "forged"},
                        "action_ts": f"{time.time():.6f}",
                    }
                ],
            }
        return self._send_interaction(payload)

    def click_ephemeral(
        self,
        user_id: str,
        action_id: str,
        value: str | None,
        channel_id: str,
        *,
        message_ts: str | None = None,
    ) -> httpx.Response:
        """A person clicks a button on an ephemeral message the bot showed them (the latest one in that
        channel carrying the button, unless ``message_ts`` says which)."""
        with self._lock:
            self._require_user(user_id)
            channel = self._require_channel_for(user_id, channel_id)
            found = None
            for entry in reversed(self.ephemerals):
                if entry["user"] != user_id or entry["channel"] != channel_id or entry.get("deleted"):
                    continue
                if message_ts is not None and entry["ts"] != message_ts:
                    continue
                blocks = _slack_echo(entry["blocks"])
                try:
                    found = (entry, *self._button(blocks, action_id, value, "ephemeral"))
                except AssertionError:
                    continue
                break
            if found is None:
                shown = [(e["ts"], e["text"][:40]) for e in self.ephemerals if e["user"] == user_id]
                raise AssertionError(
                    f"no ephemeral for {user_id} in {channel_id} has button {action_id!r}; "
                    f"ephemerals shown to them: {shown}"
                )
            entry, block, button = found
            payload: dict[str, Any] = {
                "type": "block_actions",
                "user": self._user_ref(user_id),
                "api_app_id": self.app_id,
                "token": "sandbox-verification-token",
                "container": {
                    "type": "message",
                    "message_ts": entry["ts"],
                    "channel_id": channel_id,
                    "is_ephemeral": True,
                },
                "trigger_id": self._issue_trigger(user_id),
                "team": self._team_ref(),
                "enterprise": None,
                "is_enterprise_install": False,
                "channel": {"id": channel_id, "name": "directmessage" if channel.is_im else channel.name},
                "state": {"values": {}},
                "response_url": self._new_response_url(
                    kind="block_actions",
                    channel=channel_id,
                    user=user_id,
                    message_ts=entry["ts"],
                    is_ephemeral=True,
                ),
                "actions": [self._action(block, button)],
            }
        return self._send_interaction(payload)

    def click_in_view(
        self, user_id: str, action_id: str, view_id: str, value: str | None = None
    ) -> httpx.Response:
        """A person clicks a button inside an open modal (block_actions with a view container)."""
        with self._lock:
            self._require_user(user_id)
            entry = self._open_view_of(user_id, view_id)
            block, button = self._button(entry["view"]["blocks"], action_id, value, f"view {view_id}")
            view = copy.deepcopy(entry["view"])
            payload: dict[str, Any] = {
                "type": "block_actions",
                "user": self._user_ref(user_id),
                "api_app_id": self.app_id,
                "token": "sandbox-verification-token",
                "container": {"type": "view", "view_id": view_id},
                "trigger_id": self._issue_trigger(user_id),
                "team": self._team_ref(),
                "enterprise": None,
                "is_enterprise_install": False,
                "view": view,
                "actions": [self._action(block, button)],
            }
        return self._send_interaction(payload)

    def open_app_home(self, user_id: str, *, tab: str = "home") -> httpx.Response:
        """A person opens the app's Home (or Messages) tab: the ``app_home_opened`` event, carrying the Home view
        last published for them, if any (as Slack sends it)."""
        with self._lock:
            self._require_user(user_id)
            event: dict[str, Any] = {
                "type": "app_home_opened",
                "user": user_id,
                "channel": self.im_channel(user_id),
                "tab": tab,
                "event_ts": f"{time.time():.6f}",
            }
            if tab == "home" and user_id in self.homes:
                event["view"] = copy.deepcopy(self.homes[user_id])
        return self.send_event(event)

    def click_in_home(self, user_id: str, action_id: str, value: str | None = None) -> httpx.Response:
        """A person clicks a button on their Home tab (block_actions with a view container of type home)."""
        with self._lock:
            self._require_user(user_id)
            home = self.homes.get(user_id)
            if home is None:
                raise AssertionError(f"no Home tab was published for {user_id}")
            block, button = self._button(home["blocks"], action_id, value, f"the Home tab of {user_id}")
            payload: dict[str, Any] = {
                "type": "block_actions",
                "user": self._user_ref(user_id),
                "api_app_id": self.app_id,
                "token": "sandbox-verification-token",
                "container": {"type": "view", "view_id": home["id"]},
                "trigger_id": self._issue_trigger(user_id),
                "team": self._team_ref(),
                "enterprise": None,
                "is_enterprise_install": False,
                "view": copy.deepcopy(home),
                "actions": [self._action(block, button)],
            }
        return self._send_interaction(payload)

    def message_shortcut(
        self,
        user_id: str,
        message: PostedMessage,
        *,
        callback_id: str = "report_phish_message",
    ) -> httpx.Response:
        """A person runs a message shortcut (``type: message_action``) on a message."""
        with self._lock:
            self._require_user(user_id)
            channel = self._require_channel_for(user_id, message.channel)
            stored = self._find_message(message.channel, message.ts)
            if stored is None:
                raise AssertionError(f"message {message.ts} is no longer in {message.channel}")
            payload = {
                "type": "message_action",
                "token": "sandbox-verification-token",
                "action_ts": f"{time.time():.6f}",
                "team": self._team_ref(),
                "user": {"id": user_id, "name": self._users[user_id]["name"]},
                "channel": {"id": channel.id, "name": "directmessage" if channel.is_im else channel.name},
                "is_enterprise_install": False,
                "enterprise": None,
                "callback_id": callback_id,
                "trigger_id": self._issue_trigger(user_id),
                "message_ts": stored.ts,
                "message": self._slack_message(stored),
                "response_url": self._new_response_url(
                    kind="message_action",
                    channel=channel.id,
                    user=user_id,
                    message_ts=stored.ts,
                    is_ephemeral=False,
                ),
            }
        return self._send_interaction(payload)

    def _open_view_of(self, user_id: str, view_id: str) -> dict:
        entry = self.views.get(view_id)
        if entry is None:
            raise AssertionError(f"no view {view_id!r}; views: {list(self.views)}")
        if not entry["open"]:
            raise AssertionError(f"view {view_id} is closed")
        if entry["user"] != user_id:
            raise AssertionError(f"view {view_id} is open for {entry['user']}, not {user_id}")
        return entry

    def state_values(self, view_id: str, inputs: dict[str, Any]) -> dict:
        """``state.values`` for a submission from plain inputs keyed by block_id: a string for text inputs,
        an option value (or list of them) for selects/radios/checkboxes, a file dict (or list) for file_input."""
        with self._lock:
            view = self.views[view_id]["view"]
        by_block = {b.get("block_id"): b for b in view["blocks"] if b.get("type") == "input"}
        values: dict[str, dict] = {}
        for block_id, raw in inputs.items():
            block = by_block.get(block_id)
            if block is None:
                raise AssertionError(
                    f"view {view_id} has no input block {block_id!r}; inputs: {list(by_block)}"
                )
            element = block["element"]
            state = _empty_state_value(element)
            kind = element.get("type")
            if kind == "file_input":
                state = self.file_input_state(raw)
            elif "selected_option" in state:
                state["selected_option"] = _option_by_value(element, raw)
            elif "selected_options" in state:
                state["selected_options"] = [_option_by_value(element, v) for v in raw]
            elif "value" in state:
                state["value"] = raw
            else:
                key = next(k for k in state if k != "type")
                state[key] = raw
            values[block_id] = {element["action_id"]: state}
        return values

    def submit_view(self, user_id: str, view_id: str, values: dict, *, strict: bool = True) -> httpx.Response:
        """A person presses Submit. ``values`` is ``state.values`` ({block_id: {action_id: state}}); inputs
        left out are submitted as the client would (initial value or empty). With ``strict`` a required
        input left empty fails here, as the Slack client would not let the person submit."""
        with self._lock:
            self._require_user(user_id)
            entry = self._open_view_of(user_id, view_id)
            view = copy.deepcopy(entry["view"])
            merged: dict[str, dict] = {}
            inputs = [b for b in view["blocks"] if b.get("type") == "input"]
            for block in inputs:
                element = block.get("element") or {}
                merged[block["block_id"]] = {element.get("action_id"): _empty_state_value(element)}
            for block_id, by_action in values.items():
                if strict and block_id not in merged:
                    raise AssertionError(
                        f"view {view_id} has no input block {block_id!r}; inputs: {list(merged)}"
                    )
                if strict and set(by_action) != set(merged.get(block_id, by_action)):
                    raise AssertionError(
                        f"input {block_id!r} has action_id {list(merged[block_id])}, not {list(by_action)}"
                    )
                merged[block_id] = copy.deepcopy(by_action)
            if strict:
                for block in inputs:
                    state = next(iter(merged[block["block_id"]].values()))
                    if not block.get("optional") and _state_is_empty(state):
                        raise AssertionError(
                            f"required input {block['block_id']!r} is empty; Slack would not submit"
                        )
            view["state"] = {"values": merged}
            payload = {
                "type": "view_submission",
                "team": self._team_ref(),
                "user": self._user_ref(user_id),
                "api_app_id": self.app_id,
                "token": "sandbox-verification-token",
                "trigger_id": self._issue_trigger(user_id),
                "view": view,
                "response_urls": [],
                "is_enterprise_install": False,
                "enterprise": None,
            }
        response = self._send_interaction(payload)
        self._after_view_submission(response, user_id, view_id)
        return response

    def _after_view_submission(self, response: httpx.Response, user_id: str, view_id: str) -> None:
        with self._lock:
            entry = self.views[view_id]
            if response.status_code != 200:
                self.warnings.append(
                    f"view_submission answered HTTP {response.status_code}: the modal shows an error"
                )
                return
            answer: Any = None
            if response.content.strip():
                try:
                    answer = response.json()
                except ValueError:
                    self.warnings.append("view_submission answered with a body that is not JSON")
                    return
            action = answer.get("response_action") if isinstance(answer, dict) else None
            if action is None:
                entry["open"] = False
                return
            try:
                if action == "errors":
                    errors = answer.get("errors") or {}
                    block_ids = {
                        b.get("block_id") for b in entry["view"]["blocks"] if b.get("type") == "input"
                    }
                    unknown = sorted(set(errors) - block_ids)
                    if unknown:
                        self.warnings.append(
                            f"response_action errors name blocks that are not inputs: {unknown}"
                        )
                    entry["errors"] = errors
                elif action == "update":
                    spec = self._checked_view("view_submission update", answer.get("view"))
                    old = entry["view"]
                    self._store_view(
                        spec,
                        user=user_id,
                        trigger_id=entry["trigger_id"],
                        view_id=view_id,
                        previous_view_id=old.get("previous_view_id"),
                        root_view_id=old.get("root_view_id"),
                    )
                elif action == "push":
                    stack = self._open_stack(user_id)
                    if len(stack) >= MAX_VIEW_STACK:
                        raise _ApiError("push_limit_reached")
                    spec = self._checked_view("view_submission push", answer.get("view"))
                    self._store_view(
                        spec, user=user_id, trigger_id=None, previous_view_id=stack[-1], root_view_id=stack[0]
                    )
                elif action == "clear":
                    for open_id in self._open_stack(user_id):
                        self.views[open_id]["open"] = False
                else:
                    self.warnings.append(f"unknown response_action {action!r}")
            except _ApiError as exc:
                self.warnings.append(f"view_submission response_action {action} refused: {exc.error}")
