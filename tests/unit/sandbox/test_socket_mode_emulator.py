"""The Socket Mode emulator, driven by a plain RFC 6455 client (websockets' own, not the bot's code): what
apps.connections.open hands out, hello, envelopes and acks, Slack's delivery and retries, disconnect, and each
fault as the far end sees it."""

from __future__ import annotations

import json
import threading

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from bot.sandbox.slack_emulator import SlackEmulator
from bot.sandbox.socket_mode import EVENTS_API, INTERACTIVE, SLASH_COMMANDS, SocketModeEmulator

APP_TOKEN = "xapp-1-A0PHISHBOT-unit-app-token"


@pytest.fixture
def slack():
    emulator = SlackEmulator(app_token=APP_TOKEN).start()
    emulator.add_user("U0ALICE01", name="alice", email="alice@contoso.example")
    emulator.add_channel("C0INTAKE", "intake", members=["U0ALICE01"])
    yield emulator
    emulator.stop()


@pytest.fixture
def socket_mode(slack):
    emulator = SocketModeEmulator(ack_deadline=0.5, disconnect_grace=0.2, server_ping_timeout=60).start()
    emulator.attach(slack)
    yield emulator
    emulator.stop()


def open_url(slack) -> str:
    return WebClient(base_url=slack.api_url).apps_connections_open(app_token=APP_TOKEN)["url"]


def client(slack, *, ping: float | None = None) -> tuple[ClientConnection, dict]:
    connection = connect(
        open_url(slack), ping_interval=ping, ping_timeout=ping, close_timeout=0.5, legacy=True
    )
    return connection, json.loads(connection.recv(timeout=5))


class Acker:
    """A client that acks every envelope (with `payload` when given) and keeps what it saw."""

    def __init__(self, connection: ClientConnection, payload: dict | None = None, ack: bool = True) -> None:
        self.connection = connection
        self.seen: list[dict] = []
        self.payload = payload
        self.ack = ack
        self.ended: Exception | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while True:
                message = json.loads(self.connection.recv())
                self.seen.append(message)
                if self.ack and "envelope_id" in message:
                    ack = {"envelope_id": message["envelope_id"]}
                    if self.payload is not None:
                        ack["payload"] = self.payload
                    self.connection.send(json.dumps(ack))
        except (ConnectionClosed, OSError) as exc:
            self.ended = exc


def test_apps_connections_open_takes_only_the_app_level_token(slack, socket_mode):
    web = WebClient(base_url=slack.api_url)
    url = web.apps_connections_open(app_token=APP_TOKEN)["url"]
    assert url.startswith(f"ws://127.0.0.1:{socket_mode.port}/link/?ticket=")
    with pytest.raises(SlackApiError) as bot_token:
        web.apps_connections_open(app_token=slack.bot_token)
    assert bot_token.value.response["error"] == "not_allowed_token_type"
    with pytest.raises(SlackApiError) as wrong:
        web.apps_connections_open(app_token="xapp-1-A0PHISHBOT-someone-else")
    assert wrong.value.response["error"] == "invalid_auth"
    # And the app-level token opens connections only: Web API methods refuse it.
    with pytest.raises(SlackApiError) as elsewhere:
        WebClient(token=APP_TOKEN, base_url=slack.api_url).chat_postMessage(channel="C0INTAKE", text="x")
    assert elsewhere.value.response["error"] == "not_allowed_token_type"


def test_without_a_socket_mode_server_connections_open_says_so():
    with SlackEmulator(app_token=APP_TOKEN) as slack:
        with pytest.raises(SlackApiError) as refused:
            WebClient(base_url=slack.api_url).apps_connections_open(app_token=APP_TOKEN)
    assert refused.value.response["error"] == "socket_mode_not_enabled"


def test_a_connection_gets_hello_and_a_ticket_opens_one_connection_only(slack, socket_mode):
    url = open_url(slack)
    first = connect(url, legacy=True)
    hello = json.loads(first.recv(timeout=5))
    assert hello["type"] == "hello" and hello["num_connections"] == 1
    assert hello["connection_info"] == {"app_id": "A0PHISHBOT"} and "host" in hello["debug_info"]
    with pytest.raises(InvalidStatus) as reused:
        connect(url, legacy=True)
    assert reused.value.response.status_code == 401
    second, hello = client(slack)
    assert hello["num_connections"] == 2
    first.close()
    second.close()


@pytest.mark.parametrize(
    ("kind", "accepts"), [(EVENTS_API, False), (SLASH_COMMANDS, True), (INTERACTIVE, True)]
)
def test_an_envelope_is_acked_with_its_payload(slack, socket_mode, kind, accepts):
    connection, _ = client(slack)
    acker = Acker(connection, payload={"text": "thanks"})
    delivery = socket_mode.deliver(kind, {"n": 1})
    assert delivery.acked and delivery.payload == {"text": "thanks"}
    [envelope] = acker.seen
    assert envelope["type"] == kind and envelope["payload"] == {"n": 1}
    assert envelope["envelope_id"] == delivery.envelope_id
    assert envelope["accepts_response_payload"] is accepts
    assert envelope["retry_attempt"] == 0 and envelope["retry_reason"] == ""
    connection.close()


def test_envelopes_are_spread_over_the_live_connections(slack, socket_mode):
    ackers = [Acker(client(slack)[0]) for _ in range(2)]
    for n in range(6):
        assert socket_mode.deliver(EVENTS_API, {"n": n}).acked
    assert sorted(len(a.seen) for a in ackers) == [3, 3]


def test_an_unacked_event_is_sent_again_on_another_connection(slack, socket_mode):
    silent_one = Acker(client(slack)[0], ack=False)
    other = Acker(client(slack)[0])
    socket_mode.route_next_to(socket_mode.live()[0].id)
    delivery = socket_mode.deliver(EVENTS_API, {"type": "event_callback", "event_id": "Ev1"})
    assert delivery.acked and len(delivery.attempts) == 2 and delivery.attempts[0] != delivery.attempts[1]
    assert [e["retry_attempt"] for e in silent_one.seen] == [0]
    [retry] = other.seen
    assert retry["retry_attempt"] == 1 and retry["retry_reason"] == "timeout"
    assert retry["envelope_id"] == delivery.envelope_id


def test_an_unacked_command_fails_for_the_person_and_is_not_sent_again(slack, socket_mode):
    quiet = Acker(client(slack)[0], ack=False)
    delivery = socket_mode.deliver(SLASH_COMMANDS, {"command": "/report-phish"})
    assert not delivery.acked and delivery.failure == "no_ack" and len(quiet.seen) == 1
    assert any("not acked" in w for w in slack.warnings)


def test_with_no_connection_a_command_fails_at_once(slack, socket_mode):
    delivery = socket_mode.deliver(INTERACTIVE, {"type": "block_actions"})
    assert not delivery.acked and delivery.failure == "no_connection" and delivery.attempts == []


def test_the_people_of_the_slack_emulator_deliver_over_the_socket(slack, socket_mode):
    acker = Acker(client(slack)[0], payload={"text": "Got it"})
    response = slack.slash_command("U0ALICE01", "https://evil.example/", channel_id="C0INTAKE")
    assert response.status_code == 200 and response.json() == {"text": "Got it"}
    [envelope] = acker.seen
    assert envelope["type"] == SLASH_COMMANDS
    assert (
        envelope["payload"]["text"] == "https://evil.example/"
        and envelope["payload"]["user_id"] == "U0ALICE01"
    )
    # The ack's payload is shown like a slash command's HTTP answer.
    assert any(r.get("text") == "Got it" for r in slack.responses)
    slack.upload_file("U0ALICE01", "C0INTAKE", "a.eml", b"From: x\r\n\r\nhi")
    assert acker.seen[-1]["type"] == EVENTS_API and acker.seen[-1]["payload"]["type"] == "event_callback"
    slack.redeliver_last_event(retry_num=2, retry_reason="http_error")
    assert acker.seen[-1]["retry_attempt"] == 2 and acker.seen[-1]["retry_reason"] == "http_error"


def test_drop_ends_the_tcp_connection_without_a_close_frame(slack, socket_mode):
    fin, rst = Acker(client(slack)[0]), Acker(client(slack)[0])
    socket_mode.drop(socket_mode.live()[0].id)
    socket_mode.drop(socket_mode.live()[0].id, reset=True)
    fin.thread.join(5)
    rst.thread.join(5)
    for acker in (fin, rst):
        assert isinstance(acker.ended, ConnectionClosed) and acker.ended.rcvd is None  # no close frame
    assert {c.closed_by for c in socket_mode.connections()} == {"drop", "reset"}
    assert socket_mode.live() == []


def test_a_silent_connection_answers_no_ping_and_slack_still_delivers_into_it(slack, socket_mode):
    connection, _ = client(slack)
    silent = socket_mode.silence()
    pong = connection.ping()
    assert not pong.wait(0.5)
    assert [c.id for c in socket_mode.live()] == [silent] and socket_mode.responsive() == []
    delivery = socket_mode.deliver(SLASH_COMMANDS, {"command": "/report-phish"})
    assert not delivery.acked and delivery.attempts == [silent]
    connection.close()


def test_slack_notices_a_silent_connection_after_its_own_ping_timeout(slack, socket_mode):
    client(slack)
    socket_mode.silence(noticed_after=0.1)
    slack.wait_for(lambda: socket_mode.connections()[0].closed_by == "noticed")
    assert socket_mode.live() == []


@pytest.mark.parametrize("reason", ["refresh_requested", "warning", "link_disabled"])
def test_disconnect_tells_the_reason_then_closes_after_the_grace(slack, socket_mode, reason):
    acker = Acker(client(slack)[0])
    socket_mode.disconnect(reason=reason)
    acker.thread.join(5)
    assert acker.seen[-1]["type"] == "disconnect" and acker.seen[-1]["reason"] == reason
    assert (
        isinstance(acker.ended, ConnectionClosed) and acker.ended.rcvd is not None
    )  # a close frame this time
    assert socket_mode.connections()[0].closed_by == "disconnect"


def test_no_delivery_to_a_connection_told_to_go(slack, socket_mode):
    going = Acker(client(slack)[0])
    socket_mode.disconnect(reason="warning", grace=5.0)
    staying = Acker(client(slack)[0])
    assert socket_mode.deliver(EVENTS_API, {"n": 1}).acked
    assert [m["type"] for m in going.seen] == ["disconnect"] and len(staying.seen) == 1


def test_an_eleventh_connection_is_told_too_many_websockets(slack, socket_mode):
    connections = [client(slack)[0] for _ in range(10)]
    extra = connect(open_url(slack), legacy=True)
    assert json.loads(extra.recv(timeout=5)) == {
        "type": "disconnect",
        "reason": "too_many_websockets",
        "debug_info": {"host": "applink-emulator-conn-11"},
    }
    for connection in (*connections, extra):
        connection.close()


def test_refused_connections_get_503_for_a_while(slack, socket_mode):
    socket_mode.refuse_connections(count=2)
    for _ in range(2):
        with pytest.raises(InvalidStatus) as refused:
            client(slack)
        assert refused.value.response.status_code == 503
    assert client(slack)[1]["type"] == "hello"
    assert socket_mode.refusals == 2


def test_a_late_or_unknown_ack_is_recorded(slack, socket_mode):
    connection, _ = client(slack)
    connection.send(json.dumps({"envelope_id": "never-sent"}))
    slack.wait_for(lambda: socket_mode.late_acks == ["never-sent"])
    connection.send("not json")
    slack.wait_for(lambda: any("not JSON" in w for w in socket_mode.warnings))
    connection.close()


def test_the_app_token_is_not_in_the_url(slack, socket_mode):
    assert APP_TOKEN not in open_url(slack)


def test_wss_with_the_sandbox_tls(slack, tls):
    from bot.sandbox.tls import client_context, server_context

    with SocketModeEmulator(tls=server_context(tls)) as secure:
        secure.attach(slack)
        url = open_url(slack)
        assert url.startswith("wss://")
        connection = connect(url, ssl=client_context(tls.ca_file), legacy=True)
        assert json.loads(connection.recv(timeout=5))["type"] == "hello"
        acker = Acker(connection, payload={"ok": 1})
        assert secure.deliver(EVENTS_API, {"n": 1}).payload == {"ok": 1}
        assert acker.seen[0]["payload"] == {"n": 1}
        connection.close()
