"""The HTTP side: `/slack/events` (HTTP mode), `/healthz`, `/readyz` and `/metrics`, served by waitress in both
modes (in Socket Mode there is no `/slack/events`).

Bolt's built-in server is for development only; waitress is a production WSGI server with a thread pool, so
a slow request never blocks the others, and it runs in-process next to the scheduler.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from waitress import wasyncore
from waitress.server import create_server

log = logging.getLogger(__name__)

# Slack's payloads are small; a view submission with many fields is still far below this.
MAX_BODY_BYTES = 1024 * 1024

WsgiApp = Callable[[dict, Callable], Iterable[bytes]]


class Health:
    """What /healthz and /readyz report. `serving` turns false when shutdown begins.

    `checks` answer yes or no (all must be yes to be ready); `states` add words, e.g. the scheduler's role, or
    counts, e.g. how many Socket Mode connections are up.
    """

    def __init__(
        self,
        checks: dict[str, Callable[[], bool]],
        states: dict[str, Callable[[], str | int]] | None = None,
    ) -> None:
        self.serving = True
        self._checks = checks
        self._states: dict[str, Callable[[], str | int]] = dict(states or {})

    def add_state(self, name: str, state: Callable[[], str | int]) -> None:
        self._states[name] = state

    def ready(self) -> tuple[bool, dict[str, bool]]:
        results = {}
        for name, check in self._checks.items():
            try:
                results[name] = bool(check())
            except Exception:
                log.warning("readiness check %s failed", name, exc_info=True)
                results[name] = False
        return self.serving and all(results.values()), results

    def states(self) -> dict[str, str | int]:
        """Words, or counts (e.g. Socket Mode connections up), as they are."""
        answers: dict[str, str | int] = {}
        for name, state in self._states.items():
            try:
                value = state()
                answers[name] = value if isinstance(value, int) else str(value)
            except Exception:  # noqa: BLE001 - a state that cannot be read is "unknown", never a 500
                answers[name] = "unknown"
        return answers


Exposition = Callable[[], tuple[bytes, str]]


def make_wsgi_app(
    slack_handler: WsgiApp | None, health: Health, metrics: Exposition | None = None
) -> WsgiApp:
    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/healthz" and method == "GET":
            return _json(start_response, 200 if health.serving else 503, {"ok": health.serving})
        if path == "/readyz" and method == "GET":
            ready, checks = health.ready()
            body = {"ok": ready, "serving": health.serving, "checks": checks, **health.states()}
            return _json(start_response, 200 if ready else 503, body)
        if path == "/metrics" and method == "GET" and metrics is not None:
            payload, content_type = metrics()
            start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(payload)))])
            return [payload]
        if path == "/slack/events" and slack_handler is not None:
            if method != "POST":
                return _json(start_response, 405, {"error": "method not allowed"})
            length = _content_length(environ)
            if length is None or length > MAX_BODY_BYTES:
                return _json(start_response, 413, {"error": "request body too large or without length"})
            if not health.serving:
                # Shutting down: Slack retries the event elsewhere rather than lose it here.
                return _json(start_response, 503, {"error": "shutting down"})
            return slack_handler(environ, start_response)
        return _json(start_response, 404, {"error": "not found"})

    return application


class WebServer:
    def __init__(self, app: WsgiApp, *, host: str, port: int, threads: int = 16) -> None:
        self._server = create_server(
            app,
            host=host,
            port=port,
            threads=threads,
            max_request_body_size=MAX_BODY_BYTES,
            ident="phishbot",
            clear_untrusted_proxy_headers=True,
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    def start(self) -> WebServer:
        self._thread = threading.Thread(target=self._server.run, name="http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, let requests in flight finish (up to 5 s), then close every connection."""
        server = self._server
        # Sockets are closed on waitress's own loop thread (through its trigger): closing them from here while
        # that thread sits in select() would hand it a closed descriptor.
        # The listening socket only (server.close() would close the trigger too): no new connections.
        self._on_loop(lambda: wasyncore.dispatcher.close(server))
        server.task_dispatcher.shutdown(cancel_pending=False, timeout=5)
        # Idle keep-alive connections would keep waitress's loop alive; close them so it ends.
        self._on_loop(lambda: wasyncore.close_all(server._map))
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _on_loop(self, action: Callable[[], None]) -> None:
        if self._thread is None or not self._thread.is_alive():
            action()
            return
        done = threading.Event()

        def run() -> None:
            try:
                action()
            finally:
                done.set()

        self._server.trigger.pull_trigger(run)
        if not done.wait(timeout=5):
            log.warning("the web server's loop did not answer; closing its sockets from here")
            action()


def _content_length(environ: dict) -> int | None:
    try:
        return int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None


def _json(start_response: Callable, status: int, body: Any) -> list[bytes]:
    payload = json.dumps(body).encode()
    reason = {
        200: "OK",
        404: "Not Found",
        405: "Method Not Allowed",
        413: "Payload Too Large",
        503: "Service Unavailable",
    }.get(status, "")
    start_response(
        f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    )
    return [payload]
