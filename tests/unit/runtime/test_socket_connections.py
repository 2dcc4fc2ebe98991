"""phishbot's Socket Mode connections (bot/runtime/socket_mode.py) against the Socket Mode emulator: acks only
after the dispatch returned, and with what it returned; nothing acked when Bolt could not handle an envelope; a
disconnect's replacement up before the old connection closes, the old one's envelopes still acked; an ack that
outlives its connection sent on another; and Bolt's own socket-mode handling of each envelope type."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from slack_bolt import App
from slack_sdk import WebClient

from bot.runtime.socket_mode import SocketModeConnections, SocketSettings, bolt_dispatch
from bot.sandbox.slack_emulator import SlackEmulator
from bot.sandbox.socket_mode import EVENTS_API, INTERACTIVE, SLASH_COMMANDS, SocketModeEmulator

APP_TOKEN = "xapp-1-A0PHISHBOT-unit-app-token"


@pytest.fixture
def socket_mode():
    slack = SlackEmulator(app_token=APP_TOKEN).start()
    emulator = SocketModeEmulator(ack_deadline=2.0, disconnect_grace=3.0).start().attach(slack)
    emulator.web = WebClient(base_url=slack.api_url)  # type: ignore[attr-defined]
    yield emulator
    emulator.stop()
    slack.stop()


class Dispatcher:
    """Acks `{"envelope_id", "payload": {"n": …}}` once `release` is set (set by default)."""

    def __init__(self, *, answer: bool = True) -> None:
        self.release = threading.Event()
        self.release.set()
        self.answer = answer
        self.entered = threading.Semaphore(0)
        self.seen: list[str] = []

    def __call__(self, envelope: dict) -> dict | None:
        self.seen.append(envelope["envelope_id"])
        self.entered.release()
        self.release.wait(10)
        if not self.answer:
            return None
        return {"envelope_id": envelope["envelope_id"], "payload": {"n": envelope["payload"].get("n")}}


def start(socket_mode, dispatch, connections: int = 2) -> SocketModeConnections:
    web = socket_mode.web
    links = SocketModeConnections(
        lambda: str(web.apps_connections_open(app_token=APP_TOKEN)["url"]),
        dispatch,
        ThreadPoolExecutor(max_workers=8),
        SocketSettings(connections=connections, ping_seconds=0.5),
    ).start()
    socket_mode.wait_for_connections(connections)
    assert links.wait_connected(connections, timeout=10)
    return links


def deliver_in_background(socket_mode, kind: str, payload: dict) -> tuple[threading.Thread, list]:
    result: list = []
    thread = threading.Thread(target=lambda: result.append(socket_mode.deliver(kind, payload)), daemon=True)
    thread.start()
    return thread, result


def test_each_connection_is_up_and_acks_carry_what_the_dispatch_returned(socket_mode):
    links = start(socket_mode, Dispatcher())
    try:
        assert links.connected() == 2
        delivery = socket_mode.deliver(SLASH_COMMANDS, {"n": 7})
        assert delivery.acked and delivery.payload == {"n": 7}
    finally:
        links.close()
    assert links.connected() == 0


def test_no_ack_before_the_dispatch_returned(socket_mode):
    dispatch = Dispatcher()
    dispatch.release.clear()
    links = start(socket_mode, dispatch)
    try:
        thread, result = deliver_in_background(socket_mode, INTERACTIVE, {"n": 1})
        assert dispatch.entered.acquire(timeout=5)
        assert result == [] and not socket_mode.deliveries[0].acked
        dispatch.release.set()
        thread.join(5)
        assert result[0].acked and result[0].payload == {"n": 1}
    finally:
        links.close()


def test_an_envelope_bolt_could_not_handle_is_not_acked(socket_mode):
    links = start(socket_mode, Dispatcher(answer=False), connections=1)
    try:
        socket_mode.ack_deadline = 0.3
        delivery = socket_mode.deliver(EVENTS_API, {"n": 1})
        assert not delivery.acked and delivery.failure == "no_ack"
    finally:
        links.close()


def test_a_disconnect_brings_the_new_connection_up_first_and_the_old_one_still_acks(socket_mode):
    dispatch = Dispatcher()
    dispatch.release.clear()
    links = start(socket_mode, dispatch, connections=1)
    try:
        [old] = socket_mode.live()
        thread, result = deliver_in_background(socket_mode, SLASH_COMMANDS, {"n": 3})
        assert dispatch.entered.acquire(timeout=5)  # in flight on the old connection
        socket_mode.disconnect(old.id, reason="refresh_requested")
        [new] = socket_mode.wait_for_connections(1)
        assert new.id != old.id
        assert [c.state for c in socket_mode.connections() if c.id == old.id] == [
            "draining"
        ]  # not closed yet
        dispatch.release.set()
        thread.join(5)
        assert result[0].acked and result[0].payload == {"n": 3}
        closed = socket_mode.wait_for_closed(old.id)
        assert closed.closed_by == "client" and new.opened_at < closed.closed_at
        assert links.connected() == 1
    finally:
        links.close()


def test_an_ack_whose_connection_dropped_goes_out_on_another(socket_mode):
    dispatch = Dispatcher()
    dispatch.release.clear()
    links = start(socket_mode, dispatch)
    try:
        first = socket_mode.live()[0].id
        socket_mode.route_next_to(first)
        thread, result = deliver_in_background(socket_mode, SLASH_COMMANDS, {"n": 5})
        assert dispatch.entered.acquire(timeout=5)
        socket_mode.drop(first)
        socket_mode.wait_for_connections(2)  # the bot saw the end (and replaced it) before the ack is ready
        dispatch.release.set()
        thread.join(5)
        assert result[0].acked and result[0].attempts == [first]
        socket_mode.wait_for_connections(2)
    finally:
        links.close()


def test_bolt_dispatch_runs_the_app_and_acks_with_its_answer():
    with SlackEmulator() as slack:  # Bolt's authorization asks auth.test on the first request
        check_bolt_dispatch(WebClient(token=slack.bot_token, base_url=slack.api_url))


def check_bolt_dispatch(client: WebClient) -> None:
    app = App(
        name="unit",
        client=client,
        token_verification_enabled=False,
        request_verification_enabled=False,
    )

    @app.command("/report-phish")
    def on_command(ack, command) -> None:
        ack(f"got {command['text']}")

    @app.event("app_home_opened")
    def on_home(event) -> None:
        pass

    @app.view("report.submit")
    def on_view(ack) -> None:
        ack(response_action="errors", errors={"url": "no"})

    dispatch = bolt_dispatch(app)
    command = dispatch(
        {
            "envelope_id": "e1",
            "type": "slash_commands",
            "payload": {"command": "/report-phish", "text": "x", "user_id": "U1", "team_id": "T1"},
            "accepts_response_payload": True,
        }
    )
    assert command == {"envelope_id": "e1", "payload": {"text": "got x"}}
    event = {"type": "app_home_opened", "user": "U1", "tab": "home"}
    assert dispatch(
        {
            "envelope_id": "e2",
            "type": "events_api",
            "payload": {"type": "event_callback", "team_id": "T1", "event": event, "event_id": "Ev1"},
        }
    ) == {"envelope_id": "e2"}
    view = {
        "type": "view_submission",
        "team": {"id": "T1"},
        "user": {"id": "U1"},
        "api_app_id": "A1",
        "view": {"id": "V1", "type": "modal", "callback_id": "report.submit", "state": {"values": {}}},
    }
    assert dispatch({"envelope_id": "e3", "type": "interactive", "payload": view}) == {
        "envelope_id": "e3",
        "payload": {"response_action": "errors", "errors": {"url": "no"}},
    }
    # Nothing listens for this one: Bolt answers 404, and the envelope is not acked.
    unknown = {
        "type": "block_actions",
        "user": {"id": "U1"},
        "team": {"id": "T1"},
        "actions": [{"action_id": "x"}],
    }
    assert dispatch({"envelope_id": "e4", "type": "interactive", "payload": unknown}) is None
