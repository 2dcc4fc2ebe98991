"""Slack's Socket Mode side, on a loopback port: for the tests and the benchmarks.

An app calls ``apps.connections.open`` on the Slack emulator with its app-level token and gets a
``ws://127.0.0.1:PORT/link/?ticket=…`` URL of this server (single use, like Slack's tickets). The server speaks
RFC 6455 (the sans-I/O protocol of the ``websockets`` library drives the frames; the sockets and threads are
ours, so a fault can reach under the protocol) and Slack's Socket Mode messages on top of it:

* ``hello`` when a connection opens (``num_connections``, ``debug_info``, ``connection_info``);
* envelopes ``events_api``, ``slash_commands`` and ``interactive`` with ``envelope_id``,
  ``accepts_response_payload``, ``retry_attempt`` and ``retry_reason``; the app acks with
  ``{"envelope_id": …, "payload": …}`` within the ack deadline (3 s);
* ``disconnect`` with its reasons (``refresh_requested``, ``warning``, ``link_disabled``,
  ``too_many_websockets``), then the close after a grace period, as Slack does.

Delivery is Slack's: each envelope goes to one connection that Slack believes live (round robin); an Events API
envelope that is not acked in time is sent again on another connection (``retry_attempt`` 1…3, reason
``timeout``); a slash command or a click that is not acked fails for the person (Slack does not retry those),
and so does one sent while no connection is up.

Faults: ``drop`` (the TCP connection ends with no close frame: a FIN, or a RST with ``reset=True``),
``silence`` (the connection stays open but this side reads nothing and answers no ping: a half-open link;
Slack still believes it live and may deliver into it), ``disconnect`` (Slack's own message), and
``refuse_connections`` (handshakes answered 503 for a while, so reconnects fail).

``SlackEmulator.use_socket_mode(emulator)`` makes the emulator's people (``slash_command``, ``click``,
``upload_file``, ``submit_view``…) deliver over this server instead of POSTing to the app's Request URL.
"""

from __future__ import annotations

import itertools
import json
import secrets
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs, parse_qsl, urlsplit

import httpx
from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol


class Workspace(Protocol):
    """What ``attach`` sets on the Slack emulator (bot.sandbox.slack_emulator imports this module, not back)."""

    socket_mode: Any
    transport: str
    warnings: list[str]


ACK_DEADLINE = 3.0  # seconds Slack waits for an envelope's ack
EVENT_RETRIES = 3  # Events API envelopes are sent again up to three times
MAX_CONNECTIONS = 10  # Slack's limit of open connections per app
TICKET_TTL = 60.0
DISCONNECT_GRACE = 10.0  # after a `warning`, Slack closes the connection about ten seconds later
MAX_FRAME = 4 * 1024 * 1024

EVENTS_API = "events_api"
SLASH_COMMANDS = "slash_commands"
INTERACTIVE = "interactive"
KINDS = (EVENTS_API, SLASH_COMMANDS, INTERACTIVE)
DISCONNECT_REASONS = ("refresh_requested", "warning", "link_disabled", "too_many_websockets")


@dataclass
class Delivery:
    """What became of one envelope: acked (with the ack's payload) or not, and on which connections."""

    envelope_id: str
    kind: str
    acked: bool = False
    payload: dict | None = None
    attempts: list[str] = field(default_factory=list)  # connection ids, in the order tried
    failure: str = ""  # why the person saw an error: "no_connection", "no_ack"
    ack_seconds: float | None = None  # from the last send to its ack
    acked_at: float | None = None  # time.monotonic() of the ack


@dataclass
class ConnectionView:
    """A connection as a test sees it (a snapshot)."""

    id: str
    state: str  # "open", "silent", "draining" (disconnect sent), "dropping" (drop when_idle), "closed"
    opened_at: float
    closed_at: float | None
    closed_by: str  # "", "client", "eof", "drop", "reset", "disconnect", "emulator", "error"
    envelopes: int
    acks: int


@dataclass
class _Pending:
    delivery: Delivery
    acked: threading.Event = field(default_factory=threading.Event)
    sent_at: float = 0.0
    connection: str = ""


class _Connection:
    def __init__(self, emulator: SocketModeEmulator, sock: socket.socket, number: int) -> None:
        self.emulator = emulator
        self.sock = sock
        self.id = f"conn-{number}"
        self.protocol = ServerProtocol(max_size=MAX_FRAME)
        self.state = "handshake"
        self.opened_at = time.monotonic()
        self.closed_at: float | None = None
        self.closed_by = ""
        self.envelopes = 0
        self.acks = 0
        self.silent = threading.Event()
        self.send_lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, name=f"socket-emulator {self.id}", daemon=True)

    def view(self) -> ConnectionView:
        state = "silent" if self.silent.is_set() and self.state == "open" else self.state
        return ConnectionView(
            self.id, state, self.opened_at, self.closed_at, self.closed_by, self.envelopes, self.acks
        )

    @property
    def live(self) -> bool:
        """Slack's belief: open and not told to go. A silent connection looks live from Slack's side."""
        return self.state == "open"

    # --- the reading side -------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                if self.silent.is_set():
                    # Half-open: nothing read, nothing answered (pings pile up in the kernel's buffer).
                    if self.emulator._stopping.wait(0.05) or self.state == "closed":
                        return
                    continue
                try:
                    data = self.sock.recv(65536)
                except OSError:
                    self._closed("error" if self.state != "closed" else self.closed_by)
                    return
                if self.silent.is_set():
                    continue  # what arrives on a half-open link is lost (the read was under way when it broke)
                if not data:
                    self.protocol.receive_eof()
                    self._closed("eof" if not self.closed_by else self.closed_by)
                    return
                with self.send_lock:
                    self.protocol.receive_data(data)
                    events = self.protocol.events_received()
                    self._flush()
                for event in events:
                    self._on_event(event)
                if self.protocol.close_expected() and self.state != "closed":
                    self._closed(self.closed_by or "client")
                    return
        finally:
            self._closed(self.closed_by or "eof")
            try:
                self.sock.close()
            except OSError:
                pass

    def _on_event(self, event: Any) -> None:
        if isinstance(event, Request):
            self._handshake(event)
        elif isinstance(event, Frame):
            if event.opcode is Opcode.TEXT:
                self.emulator._on_text(self, bytes(event.data))
            elif event.opcode is Opcode.CLOSE and not self.closed_by:
                self.closed_by = "client"

    def _handshake(self, request: Request) -> None:
        emulator = self.emulator
        refusal = emulator._refusal(request.path)
        with self.send_lock:
            if refusal:
                self.protocol.send_response(self.protocol.reject(refusal[0], refusal[1]))
                self._flush()
                self.closed_by = "emulator"
                self._close_socket()
                return
            self.protocol.send_response(self.protocol.accept(request))
            self._flush()
        emulator._on_open(self)

    # --- the writing side -------------------------------------------------------------------------------

    def _flush(self) -> bool:
        """Send what the protocol has queued (caller holds send_lock). An empty chunk means end of stream."""
        for chunk in self.protocol.data_to_send():
            try:
                if chunk:
                    self.sock.sendall(chunk)
                else:
                    self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                return False
        return True

    def send_json(self, message: dict) -> bool:
        if self.silent.is_set():
            return True  # into the void: the far end never sees it, and Slack cannot tell
        with self.send_lock:
            if self.state == "closed":
                return False
            try:
                self.protocol.send_text(json.dumps(message).encode())
            except Exception:  # noqa: BLE001 - the protocol is closing: not sent
                return False
            return self._flush()

    def close(self, code: int = 1000, reason: str = "", *, by: str = "emulator") -> None:
        with self.send_lock:
            if self.state == "closed":
                return
            self.closed_by = self.closed_by or by
            if self.protocol.state is State.OPEN:
                self.protocol.send_close(code, reason)
            self._flush()
        # A server closes the TCP connection after its close frame (RFC 6455 7.1.1); the client's echo is
        # not waited for.
        self._close_socket()

    def drop(self, *, reset: bool) -> None:
        """End the TCP connection under the protocol: no close frame. reset=True sends a RST."""
        with self.send_lock:
            self._closed(
                "reset" if reset else "drop"
            )  # Slack's side knows at once: nothing more is sent on it
            if reset:
                # SHUT_RD sends nothing but wakes the reader; a close with a zero linger then sends the RST.
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                try:
                    self.sock.shutdown(socket.SHUT_RD)
                except OSError:
                    pass
            else:
                try:
                    self.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.sock.close()

    def _close_socket(self) -> None:
        self._closed(self.closed_by or "emulator")
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._closed(self.closed_by or "emulator")
        self.sock.close()

    def _closed(self, by: str) -> None:
        """Record the end (once); the socket itself is closed by whoever ends it, or by the reader."""
        with self.emulator._lock:
            if self.state == "closed":
                return
            self.state = "closed"
            self.closed_by = self.closed_by or by
            self.closed_at = time.monotonic()
            self.emulator._changed.notify_all()


class SocketModeEmulator:
    """Slack's Socket Mode server for one app. Start it, attach it to a SlackEmulator (``attach``) so
    ``apps.connections.open`` hands out its URLs, then deliver envelopes and inject faults."""

    def __init__(
        self,
        *,
        ack_deadline: float = ACK_DEADLINE,
        disconnect_grace: float = DISCONNECT_GRACE,
        event_retry_gap: float = 0.0,
        server_ping_timeout: float = 30.0,
        app_id: str = "A0PHISHBOT",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.ack_deadline = ack_deadline
        self.disconnect_grace = disconnect_grace
        self.event_retry_gap = event_retry_gap  # between an unacked Events API envelope and its retry
        self.server_ping_timeout = server_ping_timeout  # how long Slack takes to notice a silent connection
        self.app_id = app_id
        self._tls = tls
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self._connections: list[_Connection] = []
        self._numbers = itertools.count(1)
        self._turn = 0
        self._tickets: dict[str, float] = {}
        self._pending: dict[str, _Pending] = {}
        self._refuse_until = 0.0
        self._refused = 0
        self._route_next: str | None = None
        self.refusals = 0  # handshakes answered 503 by refuse_connections
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self.port: int | None = None
        self.deliveries: list[Delivery] = []
        self.late_acks: list[str] = []  # envelope ids acked after the deadline, or never sent
        self.warnings: list[str] = []  # what Slack would log or show the person as an error
        self.on_failure: Callable[[str], None] | None = None

    # --- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> SocketModeEmulator:
        if self._listener is not None:
            return self
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.1)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._accept_thread = threading.Thread(target=self._accept, name="socket-emulator", daemon=True)
        self._accept_thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        for connection in self._all():
            connection.close(1001, "going away")
        if self._accept_thread is not None:
            self._accept_thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
        self._listener = None

    def __enter__(self) -> SocketModeEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def attach(self, slack: Workspace, *, transport: bool = True) -> SocketModeEmulator:
        """Let ``slack``'s apps.connections.open hand out this server's URLs and (``transport``) its people
        deliver over Socket Mode."""
        slack.socket_mode = self
        self.on_failure = slack.warnings.append
        if transport:
            slack.transport = "socket"
        return self

    # --- apps.connections.open --------------------------------------------------------------------------

    def issue_url(self) -> str:
        """A fresh single-use URL, as ``apps.connections.open`` returns."""
        if self.port is None:
            raise RuntimeError("SocketModeEmulator is not started")
        ticket = secrets.token_urlsafe(18)
        with self._lock:
            self._tickets[ticket] = time.monotonic() + TICKET_TTL
        scheme = "wss" if self._tls is not None else "ws"
        return f"{scheme}://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"

    def _refusal(self, path: str) -> tuple[int, str] | None:
        parts = urlsplit(path)
        if parts.path.rstrip("/") != "/link":
            return 404, "Not Found\n"
        ticket = (parse_qs(parts.query).get("ticket") or [""])[0]
        with self._lock:
            if time.monotonic() < self._refuse_until or self._refused > 0:
                self._refused = max(self._refused - 1, 0)
                self.refusals += 1
                return 503, "Service Unavailable\n"
            expires = self._tickets.pop(ticket, None)
        if expires is None or expires < time.monotonic():
            return 401, "invalid or used ticket\n"
        return None

    # --- connections ------------------------------------------------------------------------------------

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                try:
                    sock = self._tls.wrap_socket(sock, server_side=True)
                except (OSError, ssl.SSLError):
                    sock.close()
                    continue
            connection = _Connection(self, sock, next(self._numbers))
            with self._lock:
                self._connections.append(connection)
            connection.thread.start()

    def _on_open(self, connection: _Connection) -> None:
        with self._lock:
            live = [c for c in self._connections if c.live]
            too_many = len(live) >= MAX_CONNECTIONS
            connection.state = "open"
            count = len(live) + 1
            self._changed.notify_all()
        if too_many:
            self._send_disconnect(connection, "too_many_websockets", grace=0.0)
            return
        connection.send_json(
            {
                "type": "hello",
                "num_connections": count,
                "debug_info": {
                    "host": f"applink-emulator-{connection.id}",
                    "build_number": 1,
                    "approximate_connection_time": 18060,
                },
                "connection_info": {"app_id": self.app_id},
            }
        )

    def _all(self) -> list[_Connection]:
        with self._lock:
            return list(self._connections)

    def connections(self) -> list[ConnectionView]:
        return [c.view() for c in self._all()]

    def live(self) -> list[ConnectionView]:
        """The connections Slack would deliver to: open, not told to go (a silent one counts)."""
        return [c.view() for c in self._all() if c.live]

    def responsive(self) -> list[ConnectionView]:
        """Open connections that are really there (live and not silenced)."""
        return [c.view() for c in self._all() if c.live and not c.silent.is_set()]

    def wait_for_connections(self, count: int, timeout: float = 10.0) -> list[ConnectionView]:
        """Until at least ``count`` responsive connections are open; returns them."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                ready = [c.view() for c in self._connections if c.live and not c.silent.is_set()]
                if len(ready) >= count:
                    return ready
                left = deadline - time.monotonic()
                if left <= 0:
                    states = [(c.id, c.view().state, c.closed_by) for c in self._connections]
                    raise AssertionError(f"{len(ready)} of {count} connections up after {timeout}s: {states}")
                self._changed.wait(min(left, 0.1))

    def wait_for_closed(self, connection_id: str, timeout: float = 10.0) -> ConnectionView:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for connection in self._connections:
                    if connection.id == connection_id and connection.state == "closed":
                        return connection.view()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{connection_id} still open after {timeout}s: {self.connections()}")
                self._changed.wait(min(left, 0.1))

    def _find(self, connection_id: str | None, *, of: str = "responsive") -> _Connection:
        with self._lock:
            candidates = [c for c in self._connections if c.live and (of == "live" or not c.silent.is_set())]
            for connection in candidates:
                if connection_id is None or connection.id == connection_id:
                    return connection
        raise AssertionError(f"no {of} connection {connection_id or ''}; {self.connections()}")

    # --- faults -----------------------------------------------------------------------------------------

    def drop(self, connection_id: str | None = None, *, reset: bool = False, when_idle: bool = False) -> str:
        """The TCP connection ends without a close frame (FIN, or RST with ``reset``). Returns its id.

        An envelope in flight at that instant is lost as on Slack: an ack written before the app saw the end
        has no way back. ``when_idle`` leaves that race out of a test: no new envelope goes to the connection,
        and it drops once the ones it carries are acked (or their deadline passed)."""
        connection = self._find(connection_id, of="live")
        if when_idle:
            with self._changed:
                connection.state = "dropping"
                deadline = time.monotonic() + self.ack_deadline
                while any(p.connection == connection.id for p in self._pending.values()):
                    if time.monotonic() >= deadline:
                        break
                    self._changed.wait(0.01)
        connection.drop(reset=reset)
        return connection.id

    def silence(self, connection_id: str | None = None, *, noticed_after: float | None = None) -> str:
        """The connection goes half-open: still open, but nothing read, answered or delivered to the app.
        Slack believes it live (and may deliver into it) until its own pings fail, ``noticed_after`` seconds
        later (``server_ping_timeout`` by default); then this side closes it."""
        connection = self._find(connection_id)
        connection.silent.set()
        wait = self.server_ping_timeout if noticed_after is None else noticed_after

        def notice() -> None:
            if not self._stopping.wait(wait):
                connection.drop(reset=False)
                connection.closed_by = "noticed"

        threading.Thread(target=notice, name=f"silent {connection.id}", daemon=True).start()
        return connection.id

    def disconnect(
        self,
        connection_id: str | None = None,
        reason: str = "refresh_requested",
        *,
        grace: float | None = None,
    ) -> str:
        """Slack's ``disconnect`` message, then (after ``grace`` seconds) the close."""
        if reason not in DISCONNECT_REASONS:
            raise ValueError(f"unknown disconnect reason {reason!r}")
        connection = self._find(connection_id)
        self._send_disconnect(connection, reason, grace=self.disconnect_grace if grace is None else grace)
        return connection.id

    def _send_disconnect(self, connection: _Connection, reason: str, *, grace: float) -> None:
        with self._lock:
            connection.state = "draining"
            self._changed.notify_all()
        connection.send_json(
            {
                "type": "disconnect",
                "reason": reason,
                "debug_info": {"host": f"applink-emulator-{connection.id}"},
            }
        )

        def close_later() -> None:
            if grace:
                self._stopping.wait(grace)
            connection.close(1000, "disconnect", by="disconnect")

        threading.Thread(target=close_later, name=f"disconnect {connection.id}", daemon=True).start()

    def refuse_connections(self, *, seconds: float = 0.0, count: int = 0) -> None:
        """WebSocket handshakes are answered 503 for ``seconds``, or for the next ``count`` attempts."""
        with self._lock:
            self._refuse_until = time.monotonic() + seconds if seconds else 0.0
            self._refused = count

    # --- delivery ---------------------------------------------------------------------------------------

    def route_next_to(self, connection_id: str) -> None:
        """The next envelope goes to this connection (if Slack believes it live): a test's choice of where."""
        with self._lock:
            self._route_next = connection_id

    def _next_live(self, avoid: set[str]) -> _Connection | None:
        with self._lock:
            live = [c for c in self._connections if c.live]
            if not live:
                return None
            chosen = [c for c in live if c.id == self._route_next]
            self._route_next = None
            if chosen:
                return chosen[0]
            fresh = [c for c in live if c.id not in avoid] or live
            self._turn += 1
            return fresh[self._turn % len(fresh)]

    def deliver(
        self,
        kind: str,
        payload: dict,
        *,
        retry_attempt: int = 0,
        retry_reason: str = "",
        accepts_response_payload: bool | None = None,
    ) -> Delivery:
        """Send one envelope the way Slack does and wait for its fate (ack, retries, failure)."""
        if kind not in KINDS:
            raise ValueError(f"unknown envelope type {kind!r}")
        envelope_id = f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-{secrets.token_hex(6)}"
        delivery = Delivery(envelope_id=envelope_id, kind=kind)
        with self._lock:
            self.deliveries.append(delivery)
        accepts = accepts_response_payload if accepts_response_payload is not None else kind != EVENTS_API
        attempts_left = 1 + (EVENT_RETRIES if kind == EVENTS_API else 0)
        while attempts_left > 0:
            connection = self._next_live(set(delivery.attempts))
            if connection is None:
                delivery.failure = "no_connection"
                if kind != EVENTS_API or not self._wait_live(self.ack_deadline):
                    break  # a command or a click fails at once; an event waits for a connection, then drops
                attempts_left -= 1
                continue
            envelope = {
                "envelope_id": envelope_id,
                "payload": payload,
                "type": kind,
                "accepts_response_payload": accepts,
                "retry_attempt": retry_attempt,
                "retry_reason": retry_reason,
            }
            pending = _Pending(delivery, connection=connection.id, sent_at=time.monotonic())
            with self._lock:
                self._pending[envelope_id] = pending
                connection.envelopes += 1
            delivery.attempts.append(connection.id)
            if not connection.send_json(envelope):
                # Closed under us: Slack knows at once and picks another connection; no attempt is spent.
                with self._lock:
                    self._pending.pop(envelope_id, None)
                continue
            if pending.acked.wait(self.ack_deadline):
                delivery.failure = ""
                return delivery
            with self._lock:
                self._pending.pop(envelope_id, None)
            delivery.failure = "no_ack"
            attempts_left -= 1
            if kind == EVENTS_API and attempts_left:
                retry_attempt, retry_reason = retry_attempt + 1, "timeout"
                if self.event_retry_gap:
                    self._stopping.wait(self.event_retry_gap)
        if kind == EVENTS_API:
            self._fail(f"event envelope {envelope_id} dropped after retries ({delivery.failure})")
        else:
            self._fail(
                f"{kind} envelope {envelope_id} not acked ({delivery.failure}): the person sees an error"
            )
        return delivery

    def _wait_live(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not any(c.live for c in self._connections):
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping.is_set():
                    return False
                self._changed.wait(min(left, 0.1))
        return True

    def _fail(self, text: str) -> None:
        with self._lock:
            self.warnings.append(text)
        if self.on_failure is not None:
            self.on_failure(text)

    def _on_text(self, connection: _Connection, data: bytes) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            self._fail(f"{connection.id} sent a text frame that is not JSON")
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        if not isinstance(envelope_id, str):
            self._fail(f"{connection.id} sent a message that is not an ack: {str(message)[:80]}")
            return
        with self._lock:
            pending = self._pending.pop(envelope_id, None)
            connection.acks += 1
            self._changed.notify_all()
        if pending is None:
            with self._lock:
                self.late_acks.append(envelope_id)
            return
        delivery = pending.delivery
        payload = message.get("payload")
        delivery.payload = payload if isinstance(payload, dict) else None
        now = time.monotonic()
        delivery.ack_seconds = now - pending.sent_at
        delivery.acked_at = now
        delivery.acked = True
        pending.acked.set()

    # --- the SlackEmulator's people, over the socket ----------------------------------------------------

    def deliver_request(self, body: bytes, content_type: str, headers: dict[str, str]) -> httpx.Response:
        """What the app's Request URL would have received, as a Socket Mode envelope; the answer is shaped like
        the HTTP one (200 with the ack's payload as JSON, or an error status when the person sees an error)."""
        retry = headers.get("X-Slack-Retry-Num")
        if content_type.startswith("application/json"):
            kind, payload = EVENTS_API, json.loads(body)
        else:
            fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
            if "payload" in fields:
                kind, payload = INTERACTIVE, json.loads(fields["payload"])
            else:
                kind, payload = SLASH_COMMANDS, fields
        delivery = self.deliver(
            kind,
            payload,
            retry_attempt=int(retry) if retry else 0,
            retry_reason=headers.get("X-Slack-Retry-Reason", "") if retry else "",
        )
        request = httpx.Request("POST", f"ws://127.0.0.1:{self.port}/link/")
        if not delivery.acked:
            return httpx.Response(504, json={"error": delivery.failure}, request=request)
        if delivery.payload:
            return httpx.Response(200, json=delivery.payload, request=request)
        return httpx.Response(200, content=b"", request=request)
