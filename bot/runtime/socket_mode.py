"""Socket Mode that survives the network: several WebSocket connections to Slack, each replacing itself.

Slack delivers each envelope to one of the app's live connections, so a process keeps
`PHISHBOT_SOCKET_CONNECTIONS` of them (default 2; Slack allows 10 per app), each in a thread of its own:

* **A dropped TCP connection** is noticed at once: the read ends with EOF or an error, and the connection is
  replaced right away (apps.connections.open, handshake, `hello`), with a capped back-off only when that fails.
* **A silent (half-open) connection** is noticed by its pings: one every `PHISHBOT_SOCKET_PING_SECONDS`
  (5 s), and a pong missing for as long again closes it (plus 1 s for the close), so it is replaced within
  about 11 s. Until then Slack may still send envelopes into it: the shorter this, the fewer fail.
* **Slack's `disconnect`** (`refresh_requested`, `warning`) opens the replacement first and closes the old
  connection only after that, and after the envelopes it carried were acked; `link_disabled` (Socket Mode turned
  off) and `too_many_websockets` reconnect slowly instead of hammering Slack.
* **No envelope acked and then lost**: every envelope goes through the Bolt app (`app.dispatch` of a
  `BoltRequest` in `socket_mode`, exactly as Bolt's own adapter builds it) and is acked with the response Bolt
  returned, after Bolt returned it, on the connection it came on (or another one if that one has gone). An
  envelope whose ack cannot be sent is not acked: Slack sends an event again, and the store's event ids keep it
  one report.

The WebSocket protocol is the `websockets` library's threaded client (`websockets.sync.client`): it reads in a
thread of its own, so EOF and errors surface at once, and it pings and times out by itself. It was chosen by
measurement over slack-sdk's built-in client, websocket-client and aiohttp (bench/socket.py, `clients`).
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect

log = logging.getLogger(__name__)

# Slack's envelopes are small; a view submission with many fields is still far below this (bot/runtime/web.py).
MAX_MESSAGE_BYTES = 1024 * 1024
OPEN_TIMEOUT_SECONDS = 10.0
CLOSE_TIMEOUT_SECONDS = 1.0
# After a failed reconnect: 0.25 s, then doubling up to 30 s (with jitter, so replicas do not reconnect in step).
FIRST_BACKOFF_SECONDS = 0.25
MAX_BACKOFF_SECONDS = 30.0
# Reasons for which reconnecting at once would only hammer Slack.
SLOW_REASONS = ("link_disabled", "too_many_websockets")
# How long an old connection may keep acking the envelopes it carried after its replacement is up.
DRAIN_SECONDS = 5.0


class _KeepaliveNoise(logging.Filter):
    """websockets logs a traceback at ERROR when closing a connection whose pong never came times out; the
    link logs one line of its own for that ("no pong")."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "keepalive ping failed" not in record.getMessage()


_wire_log = logging.getLogger(f"{__name__}.wire")
_wire_log.addFilter(_KeepaliveNoise())
# websockets' DEBUG lines carry the connection URL (its single-use ticket) and whole envelopes: never logged.
_wire_log.setLevel(logging.INFO)

# An envelope in, its ack out (None: do not ack, Bolt could not handle it).
Dispatch = Callable[[dict], dict | None]


@dataclass(frozen=True)
class SocketSettings:
    connections: int = 2
    ping_seconds: float = 5.0  # a ping this often; a pong missing this long closes the connection
    ssl_context: ssl.SSLContext | None = None
    proxy: str | None = None


class SocketModeConnections:
    """`settings.connections` Socket Mode connections, each kept open by its own thread."""

    def __init__(
        self,
        open_url: Callable[[], str],
        dispatch: Dispatch,
        workers: Executor,
        settings: SocketSettings,
        *,
        on_reconnect: Callable[[str], None] | None = None,
    ) -> None:
        self._open_url = open_url
        self._dispatch = dispatch
        self._workers = workers
        self._settings = settings
        self._on_reconnect = on_reconnect
        self._stopping = threading.Event()
        self._links = [_Link(self, number) for number in range(1, settings.connections + 1)]

    def start(self) -> SocketModeConnections:
        for link in self._links:
            link.thread.start()
        return self

    def connected(self) -> int:
        """How many connections are up (handshake done, `hello` received, not closed)."""
        return sum(1 for link in self._links if link.up)

    def wait_connected(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.connected() < count:
            if time.monotonic() >= deadline or self._stopping.wait(0.01):
                return False
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Ack the envelopes already taken (up to half of `timeout`), close every connection (a close frame
        each) and wait for their threads. An envelope arriving meanwhile is still handled: until its connection
        closes, Slack may deliver on it."""
        self._stopping.set()
        deadline = time.monotonic() + timeout
        while any(link.busy() for link in self._links) and time.monotonic() < deadline - timeout / 2:
            time.sleep(0.01)
        for link in self._links:
            link.close_all()
        for link in self._links:
            if link.thread.is_alive():
                link.thread.join(timeout=max(deadline - time.monotonic(), 0.01))

    # --- used by the links --------------------------------------------------------------------------------

    def _connect(self) -> ClientConnection:
        url = self._open_url()
        ping = self._settings.ping_seconds
        return connect(
            url,
            ssl=self._settings.ssl_context if url.startswith("wss:") else None,
            proxy=self._settings.proxy,
            open_timeout=OPEN_TIMEOUT_SECONDS,
            close_timeout=CLOSE_TIMEOUT_SECONDS,
            ping_interval=ping,
            ping_timeout=ping,
            max_size=MAX_MESSAGE_BYTES,
            compression=None,  # Slack does not negotiate it; skipping the offer keeps frames plain
            legacy=True,
            logger=_wire_log,  # the connection object itself: it outlives one block (a replaced one drains)
        )

    def _open_connections(self) -> list[ClientConnection]:
        """Every connection open now, the current ones first."""
        current = [link.current for link in self._links if link.current is not None]
        draining = [c for link in self._links for c in link.open_connections() if c not in current]
        return current + draining

    def _reconnected(self, reason: str) -> None:
        if self._on_reconnect is not None:
            try:
                self._on_reconnect(reason)
            except Exception:
                log.warning("socket mode reconnect hook failed", exc_info=True)


class _Link:
    """One connection slot: keeps a connection open, replaces it when it goes, hands envelopes to the workers."""

    def __init__(self, owner: SocketModeConnections, number: int) -> None:
        self.owner = owner
        self.name = f"socket-{number}"
        self.thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self.current: ClientConnection | None = None
        self.up = False
        self._lock = threading.Lock()
        self._open: set[ClientConnection] = set()  # current plus any draining after a disconnect
        self._in_flight: dict[ClientConnection, int] = {}
        self._refused_with = ""  # the disconnect reason Slack answered the last attempt with, if any

    # --- the loop: open, serve, replace -------------------------------------------------------------------

    def _run(self) -> None:
        failures = 0
        reason = "start"
        stopping = self.owner._stopping
        while not stopping.is_set():
            self._refused_with = ""
            connection = self._open_one(reason)
            if connection is None:
                failures += 1
                slow = reason in SLOW_REASONS or self._refused_with in SLOW_REASONS
                if stopping.wait(_backoff(failures, slow=slow)):
                    break
                continue
            failures = 0
            reason = self._serve(connection)
            if reason in SLOW_REASONS and stopping.wait(MAX_BACKOFF_SECONDS * random.uniform(0.5, 1.0)):
                break
        self.up = False

    def _open_one(self, reason: str) -> ClientConnection | None:
        """A new connection that has said hello, or None (logged) when Slack or the network refused."""
        try:
            connection = self.owner._connect()
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            log.warning("%s: could not open a Socket Mode connection (%s)", self.name, _why(exc))
            return None
        except Exception as exc:  # noqa: BLE001 - apps.connections.open failed (SlackApiError, a 5xx...)
            log.warning("%s: apps.connections.open failed (%s)", self.name, _why(exc))
            return None
        try:
            hello = json.loads(connection.recv(timeout=OPEN_TIMEOUT_SECONDS))
        except (ConnectionClosed, TimeoutError, ValueError) as exc:
            log.warning("%s: no hello on a new Socket Mode connection (%s)", self.name, _why(exc))
            connection.close()
            return None
        if not isinstance(hello, dict) or hello.get("type") != "hello":
            # Slack's first message is hello; a disconnect here is too_many_websockets or link_disabled.
            kind = hello.get("reason") if isinstance(hello, dict) else None
            self._refused_with = str(kind or "")
            log.warning("%s: Slack answered a new connection with %s", self.name, kind or "something else")
            connection.close()
            return None
        with self._lock:
            stopping = self.owner._stopping.is_set()  # close() looks at _open under this lock: none is missed
            if not stopping:
                self._open.add(connection)
                self.current = connection
                self.up = True
        if stopping:
            connection.close()
            return None
        log.info(
            "%s: Socket Mode connection up (%s, Slack counts %s)",
            self.name,
            reason,
            hello.get("num_connections"),
        )
        if reason != "start":
            self.owner._reconnected(reason)
        return connection

    def _serve(self, connection: ClientConnection) -> str:
        """Read until the connection ends; returns why it ended (the reason for the next one)."""
        while True:
            try:
                raw = connection.recv()
            except ConnectionClosed as exc:
                return self._lost(connection, exc)
            try:
                message = json.loads(raw)
            except ValueError:
                log.warning("%s: a Socket Mode message that is not JSON was ignored", self.name)
                continue
            if not isinstance(message, dict):
                continue
            kind = message.get("type")
            if kind == "disconnect":
                reason = str(message.get("reason") or "disconnect")
                return self._replace(connection, reason)
            if kind == "hello":
                continue
            if isinstance(message.get("envelope_id"), str):
                self._take(connection, message)

    def _lost(self, connection: ClientConnection, exc: ConnectionClosed) -> str:
        with self._lock:
            self._open.discard(connection)
            if self.current is connection:
                self.current = None
                self.up = False
        if self.owner._stopping.is_set():
            return "stop"
        received = exc.rcvd
        why = f"closed by Slack ({received.code})" if received is not None else "dropped"
        if exc.sent is not None and exc.sent.code == 1011:
            why = "no pong"  # our keepalive gave up: a silent connection
        log.warning("%s: Socket Mode connection %s; reconnecting", self.name, why)
        return why.split(" (")[0].replace(" ", "_")

    def _replace(self, old: ClientConnection, reason: str) -> str:
        """Slack's disconnect: the new connection first, then the old one drains and closes."""
        log.info("%s: Slack asked to reconnect (%s)", self.name, reason)
        with self._lock:
            if self.current is old:
                self.up = False
        if reason in SLOW_REASONS:
            log.error(
                "%s: Slack closed the connection (%s)%s",
                self.name,
                reason,
                "; is Socket Mode turned off for the app?" if reason == "link_disabled" else "",
            )
            self._close(old)
            return reason
        threading.Thread(target=self._drain, args=(old,), name=f"{self.name}-drain", daemon=True).start()
        return reason

    def _drain(self, old: ClientConnection) -> None:
        """Keep reading the old connection (Slack may still deliver on it until it closes) and close it once its
        envelopes are acked, or after DRAIN_SECONDS."""
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            with self._lock:
                busy = self._in_flight.get(old, 0)
                replaced = self.current is not None and self.current is not old
            if replaced and not busy:
                break
            try:
                raw = old.recv(timeout=0.05)
            except TimeoutError:
                continue
            except ConnectionClosed:
                break
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if isinstance(message, dict) and isinstance(message.get("envelope_id"), str):
                self._take(old, message)
        self._close(old)

    # --- envelopes ----------------------------------------------------------------------------------------

    def _take(self, connection: ClientConnection, envelope: dict) -> None:
        with self._lock:
            self._in_flight[connection] = self._in_flight.get(connection, 0) + 1
        try:
            self.owner._workers.submit(self._handle, connection, envelope)
        except RuntimeError:  # the pool is shut down: stopping; Slack retries what is not acked
            self._done(connection)

    def _handle(self, connection: ClientConnection, envelope: dict) -> None:
        try:
            ack = self.owner._dispatch(envelope)
            if ack is not None:
                self._send_ack(connection, ack)
        except Exception:
            log.exception("%s: a Socket Mode envelope failed", self.name)
        finally:
            self._done(connection)

    def _send_ack(self, connection: ClientConnection, ack: dict) -> None:
        """On the connection the envelope came on; if that one has gone, on any other that is up (an ack names
        its envelope, not its connection)."""
        text = json.dumps(ack)
        others = [c for c in self.owner._open_connections() if c is not connection]
        for target in (connection, *others):
            try:
                target.send(text)
                return
            except ConnectionClosed:
                continue
        log.warning(
            "%s: an ack could not be sent, every connection had gone; Slack sends an event again, a command or "
            "a click fails for the person",
            self.name,
        )

    def _done(self, connection: ClientConnection) -> None:
        with self._lock:
            left = self._in_flight.get(connection, 1) - 1
            if left > 0:
                self._in_flight[connection] = left
            else:
                self._in_flight.pop(connection, None)

    # --- closing ------------------------------------------------------------------------------------------

    def _close(self, connection: ClientConnection) -> None:
        with self._lock:
            self._open.discard(connection)
            if self.current is connection:
                self.current = None
                self.up = False
        try:
            connection.close()
        except Exception:
            log.debug("%s: closing a connection failed", self.name, exc_info=True)

    def open_connections(self) -> list[ClientConnection]:
        with self._lock:
            return list(self._open)

    def busy(self) -> bool:
        with self._lock:
            return any(self._in_flight.values())

    def close_all(self) -> None:
        with self._lock:
            connections = list(self._open)
        for connection in connections:
            self._close(connection)


def _backoff(failures: int, *, slow: bool) -> float:
    if slow:
        return MAX_BACKOFF_SECONDS * random.uniform(0.5, 1.0)
    if failures <= 1:
        return FIRST_BACKOFF_SECONDS * random.uniform(0.5, 1.0)
    return min(FIRST_BACKOFF_SECONDS * 2 ** (failures - 1), MAX_BACKOFF_SECONDS) * random.uniform(0.5, 1.0)


def _why(exc: BaseException) -> str:
    """The exception's class and, for Slack's API errors, the error code: never a URL or a token."""
    response = getattr(exc, "response", None)
    error = response.get("error") if response is not None and hasattr(response, "get") else None
    return f"{type(exc).__name__}: {error}" if error else type(exc).__name__


# --- the Bolt side ----------------------------------------------------------------------------------------


def bolt_dispatch(app: object) -> Dispatch:
    """Envelopes through the same Bolt app and listeners as HTTP: Bolt's own socket-mode request and response
    handling (`slack_bolt.adapter.socket_mode.internals.run_bolt_app`), acked with what Bolt returned."""
    from slack_bolt.adapter.socket_mode.internals import run_bolt_app
    from slack_sdk.socket_mode.request import SocketModeRequest

    def dispatch(envelope: dict) -> dict | None:
        request = SocketModeRequest.from_dict(envelope)
        if request is None:
            return None
        response = run_bolt_app(app, request)  # type: ignore[arg-type]
        if response.status != 200:
            # As Bolt's adapter: no ack, so Slack sends an event again (and shows a command's error).
            log.info("a Socket Mode envelope got %s from Bolt; not acked", response.status)
            return None
        ack: dict = {"envelope_id": request.envelope_id}
        body = response.body
        if body:
            content_type = (response.headers.get("content-type") or [""])[0]
            ack["payload"] = (
                json.loads(body) if content_type.startswith("application/json") else {"text": body}
            )
        return ack

    return dispatch
