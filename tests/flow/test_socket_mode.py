"""Socket Mode, the default mode, end to end: the real bot keeps its WebSocket connections to the Socket Mode
emulator (bot/sandbox/socket_mode.py, real RFC 6455 on loopback), and the Slack emulator's people deliver over
them with the same helpers as over HTTP: every door of a report, the form, a card click, Slack's `disconnect`,
dropped, silent and refused connections, /readyz, shutdown, and the app-level token kept out of every log.

No assertion here is about time: replacement times are measured in bench/socket.py."""

from __future__ import annotations

import logging
import threading
from importlib import resources

import httpx
import pytest
from conftest import ALICE, APP_TOKEN, BOB, INTAKE, OUTSIDER, RESPONDER, SOC, RunningBot

from bot.domain import CaseStatus
from bot.sandbox.socket_mode import EVENTS_API, INTERACTIVE, SLASH_COMMANDS, SocketModeEmulator
from bot.slack.contract import ActionId, ModalCallback

SAMPLE = (resources.files("bot.sandbox") / "samples" / "credential-phish.eml").read_bytes()
FINISHED = {CaseStatus.VERDICT, CaseStatus.GAVE_UP, CaseStatus.FAILED, CaseStatus.DISMISSED}
PING_SECONDS = 0.25  # the bot's keepalive here: a silent connection is given up about half a second later


@pytest.fixture
def socket_mode(slack):
    # Slack's own side never notices a silent connection within a test: what replaces one is the bot's ping.
    emulator = SocketModeEmulator(disconnect_grace=2.0, server_ping_timeout=120.0).start().attach(slack)
    yield emulator
    emulator.stop()


def start_bot(slack, graph, tls, database_url, socket_mode, **overrides) -> RunningBot:
    running = RunningBot(
        slack,
        graph,
        tls,
        database_url,
        PHISHBOT_MODE="socket",
        SLACK_APP_TOKEN=APP_TOKEN,
        PHISHBOT_SOCKET_PING_SECONDS=str(PING_SECONDS),
        **overrides,
    )
    socket_mode.wait_for_connections(int(overrides.get("PHISHBOT_SOCKET_CONNECTIONS", 2)))
    return running


@pytest.fixture
def bot(slack, graph, tls, database_url, socket_mode):
    running = start_bot(slack, graph, tls, database_url, socket_mode)
    yield running
    running.stop()


def submissions(graph, kind: str):
    return [
        r
        for r in graph.requests
        if r.method == "POST" and r.path == f"/beta/security/threatSubmission/{kind}" and not r.in_batch
    ]


def wait_case(bot, case_id: int, statuses=FINISHED):
    return bot.until(lambda: (view := bot.store.cases.case_view(case_id)).status in statuses and view)


def kinds(socket_mode) -> list[str]:
    return [d.kind for d in socket_mode.deliveries]


def readyz(bot) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{bot.port}/readyz")


def finished_card(slack, bot):
    slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
    wait_case(bot, 1)
    return slack.wait_for(lambda: [m for m in slack.messages(SOC) if ActionId.RESUBMIT in str(m.blocks)])[0]


# --- every door over the socket --------------------------------------------------------------------------------


def test_report_phish_with_a_url_is_acked_with_the_listeners_answer(bot, slack, graph, socket_mode):
    response = slack.slash_command(
        ALICE, "https://login-micros0ft-secure.example/owa/?u=alice", channel_id=INTAKE
    )
    assert response.status_code == 200
    assert "phishbot" in response.text  # the ack's payload: the immediate acknowledgement, shown to Alice
    view = wait_case(bot, 1)
    assert view.url == "https://login-micros0ft-secure.example/owa/?u=alice"
    assert len(submissions(graph, "urlThreats")) == 1
    slack.wait_for(lambda: any("Security has your report" in (r.get("text") or "") for r in slack.responses))
    [delivery] = socket_mode.deliveries
    assert delivery.kind == SLASH_COMMANDS and delivery.acked and delivery.attempts[0].startswith("conn-")


def test_an_uploaded_eml_arrives_as_an_event_and_is_submitted_once(bot, slack, graph, socket_mode):
    assert slack.upload_file(ALICE, INTAKE, "suspicious.eml", SAMPLE).status_code == 200
    view = wait_case(bot, 1)
    assert view.status is CaseStatus.VERDICT
    assert len(submissions(graph, "emailThreats")) == 1
    assert kinds(socket_mode) == [EVENTS_API]
    [card] = slack.messages(SOC)
    assert "Phishing" in card.text
    slack.wait_for(lambda: slack.dms(ALICE))


def test_the_message_shortcut_over_socket_mode(bot, slack, graph, socket_mode):
    slack.add_channel("C0RANDOM01", "random", members=[ALICE, BOB])
    message = slack.post_as_user(BOB, "C0RANDOM01", "look: <https://a.phish.example/login|this>")
    assert slack.message_shortcut(ALICE, message).status_code == 200
    [sent] = slack.wait_for(lambda: submissions(graph, "urlThreats"))
    assert sent.body["webUrl"] == "https://a.phish.example/login"
    slack.wait_for(lambda: any("Security has your report" in (r.get("text") or "") for r in slack.responses))
    assert kinds(socket_mode) == [INTERACTIVE]


def test_the_form_answers_in_the_ack_of_its_submission(bot, slack, graph, socket_mode):
    slack.slash_command(ALICE, "", channel_id=INTAKE)
    view = slack.wait_for(slack.last_view)
    assert view["callback_id"] == ModalCallback.REPORT
    # Nothing given: the errors travel back in the ack's payload (response_action), as over HTTP.
    response = slack.submit_view(ALICE, view["id"], {}, strict=False)
    assert response.json()["response_action"] == "errors" and "url" in response.json()["errors"]
    file = slack.add_file(ALICE, "phish.eml", SAMPLE, mimetype="message/rfc822")
    values = slack.state_values(view["id"], {"file": file, "category": "malware", "note": "Looks off"})
    assert slack.submit_view(ALICE, view["id"], values).status_code == 200
    assert wait_case(bot, 1).category.value == "malware"
    assert kinds(socket_mode) == [SLASH_COMMANDS, INTERACTIVE, INTERACTIVE]


def test_a_card_click_over_socket_mode_is_authorized_and_audited(bot, slack, graph, socket_mode):
    card = finished_card(slack, bot)
    assert slack.click(OUTSIDER, ActionId.DISMISS, "1", card).status_code == 200
    slack.wait_for(lambda: any("Only Security responders" in (r.get("text") or "") for r in slack.responses))
    assert slack.click(RESPONDER, ActionId.DISMISS, "1", card).status_code == 200
    wait_case(bot, 1, statuses={CaseStatus.DISMISSED})
    outcomes = {(e["actor"], e["outcome"]) for e in bot.store.audit.entries(1)}
    assert {(OUTSIDER, "refused"), (RESPONDER, "allowed")} <= outcomes
    assert (OUTSIDER, "allowed") not in outcomes
    assert kinds(socket_mode)[-2:] == [INTERACTIVE, INTERACTIVE]


def test_a_redelivered_event_is_one_report(bot, slack, graph, socket_mode):
    slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
    slack.wait_for(lambda: [e for e in slack.ephemerals if e["user"] == ALICE])
    assert slack.redeliver_last_event().status_code == 200  # retry_attempt 1 on the envelope
    wait_case(bot, 1)
    assert len(submissions(graph, "emailThreats")) == 1
    assert len([e for e in slack.ephemerals if e["user"] == ALICE]) == 1


# --- the network ---------------------------------------------------------------------------------------------


class KeepAsking:
    """A person who keeps running /report-phish help and clicking a card while the network misbehaves; every
    answer's status is kept (200: Slack saw the ack; anything else: the person saw an error)."""

    def __init__(self, slack, card) -> None:
        self.slack = slack
        self.card = card
        self.statuses: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="keep-asking", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set() and len(self.statuses) < 400:
            self.statuses.append(self.slack.slash_command(ALICE, "help", channel_id=INTAKE).status_code)
            self.statuses.append(self.slack.click(OUTSIDER, ActionId.DISMISS, "1", self.card).status_code)

    def __enter__(self) -> KeepAsking:
        self._thread.start()
        self.slack.wait_for(lambda: len(self.statuses) >= 4)
        return self

    def more(self, count: int) -> None:
        """Wait until `count` more requests were answered."""
        target = len(self.statuses) + count
        self.slack.wait_for(lambda: len(self.statuses) >= target)

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_a_dropped_connection_is_replaced_and_the_other_answers_everyone_meanwhile(
    bot, slack, graph, socket_mode, reset
):
    card = finished_card(slack, bot)
    before = {c.id for c in socket_mode.connections()}
    with KeepAsking(slack, card) as person:
        # when_idle: not during an envelope's round trip, whose ack would have no way back (as on Slack).
        socket_mode.drop(reset=reset, when_idle=True)
        fresh = slack.wait_for(lambda: [c for c in socket_mode.responsive() if c.id not in before])
        person.more(10)  # and some more after the replacement came up
    assert person.statuses and set(person.statuses) == {200}, "a command or a click was not acked"
    assert socket_mode.warnings == []
    assert len(socket_mode.responsive()) == 2 and fresh
    # Both connections carried envelopes: Slack spread them, and the replacement took its share.
    assert socket_mode.connections()[-1].envelopes > 0
    assert readyz(bot).json()["socket_connections"] == 2


def test_a_silent_connection_is_given_up_by_the_bot_itself(bot, slack, graph, socket_mode):
    silent = socket_mode.silence()
    slack.wait_for(lambda: len(socket_mode.responsive()) == 2)
    # Slack's side still believes the silent connection live: the replacement came from the bot's own pings.
    [state] = [c.state for c in socket_mode.connections() if c.id == silent]
    assert state == "silent"
    assert slack.wait_for(lambda: readyz(bot).json()["socket_connections"] == 2)
    socket_mode.drop(silent)  # Slack notices at last; from now on every envelope reaches the bot
    for _ in range(4):
        assert slack.slash_command(ALICE, "help", channel_id=INTAKE).status_code == 200


def test_an_event_sent_into_a_silent_connection_is_sent_again_and_reported_once(
    bot, slack, graph, socket_mode
):
    socket_mode.ack_deadline = 1.0
    silent = socket_mode.silence()
    socket_mode.route_next_to(silent)
    assert slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE).status_code == 200
    [delivery] = socket_mode.deliveries
    assert delivery.attempts[0] == silent and len(delivery.attempts) == 2 and delivery.acked
    wait_case(bot, 1)
    assert len(submissions(graph, "emailThreats")) == 1
    assert len([e for e in slack.ephemerals if e["user"] == ALICE]) == 1


def test_a_command_sent_into_a_silent_connection_fails_for_the_person_as_on_slack(bot, slack, socket_mode):
    socket_mode.ack_deadline = 0.5
    silent = socket_mode.silence()
    socket_mode.route_next_to(silent)
    assert slack.slash_command(ALICE, "help", channel_id=INTAKE).status_code == 504
    assert any("not acked" in w for w in slack.warnings)


@pytest.mark.parametrize("reason", ["refresh_requested", "warning"])
def test_disconnect_opens_the_new_connection_before_the_old_one_closes(
    bot, slack, graph, socket_mode, reason
):
    before = {c.id for c in socket_mode.connections()}
    old = socket_mode.disconnect(reason=reason)
    slack.wait_for(lambda: len(socket_mode.responsive()) == 2)
    closed = slack.wait_for(
        lambda: [c for c in socket_mode.connections() if c.id == old and c.state == "closed"]
    )
    [new] = [c for c in socket_mode.responsive() if c.id not in before]
    assert new.opened_at < closed[0].closed_at
    assert closed[0].closed_by == "client"  # the bot closed it once its replacement was up, not Slack
    response = slack.slash_command(ALICE, "https://after-refresh.example/", channel_id=INTAKE)
    assert response.status_code == 200
    wait_case(bot, 1)


def test_link_disabled_is_not_hammered_and_the_other_connection_serves(bot, slack, socket_mode, caplog):
    opened = len(slack.calls_to("apps.connections.open"))
    with caplog.at_level(logging.ERROR, logger="bot.runtime.socket_mode"):
        socket_mode.disconnect(reason="link_disabled", grace=0.0)
        slack.wait_for(lambda: len(socket_mode.live()) == 1)
        for _ in range(3):
            assert slack.slash_command(ALICE, "help", channel_id=INTAKE).status_code == 200
    assert any("link_disabled" in r.getMessage() for r in caplog.records)
    assert len(slack.calls_to("apps.connections.open")) == opened  # the slow back-off: no reconnect yet


def test_refused_reconnects_are_retried_until_slack_accepts(bot, slack, graph, socket_mode):
    socket_mode.refuse_connections(count=3)
    slack.fail_next("apps.connections.open", status=500, times=1)
    socket_mode.drop()
    slack.wait_for(lambda: len(socket_mode.responsive()) == 2, timeout=20)
    assert socket_mode.refusals == 3
    assert any(c.status == 500 for c in slack.calls_to("apps.connections.open"))


def test_readyz_counts_the_connections_up(slack, graph, tls, database_url, socket_mode):
    running = start_bot(slack, graph, tls, database_url, socket_mode, PHISHBOT_SOCKET_CONNECTIONS="3")
    try:
        body = slack.wait_for(lambda: (r := readyz(running)).status_code == 200 and r.json())
        assert body["socket_connections"] == 3 and body["socket_connections_wanted"] == 3
        assert body["mode"] == "socket" and body["checks"]["slack"] is True
        # Every connection gone, and Slack refusing new ones: not ready, and it says why.
        socket_mode.refuse_connections(seconds=120)
        for _ in range(3):
            socket_mode.drop()
        down = slack.wait_for(lambda: (r := readyz(running)).status_code == 503 and r.json())
        assert down["socket_connections"] == 0 and down["checks"]["slack"] is False
        socket_mode.refuse_connections()  # Slack takes connections again
        back = slack.wait_for(
            lambda: (r := readyz(running)).json()["socket_connections"] == 3 and r, timeout=40
        )
        assert back.status_code == 200
        metrics = httpx.get(f"http://127.0.0.1:{running.port}/metrics").text
        assert "phishbot_socket_connections 3.0" in metrics
        assert 'phishbot_socket_reconnects_total{reason="dropped"} 3.0' in metrics
    finally:
        running.stop()


def test_over_wss_trusting_ssl_cert_file_as_against_slack(slack, graph, tls, database_url):
    from bot.sandbox.tls import server_context

    secure = SocketModeEmulator(tls=server_context(tls)).start().attach(slack)
    running = start_bot(slack, graph, tls, database_url, secure)  # SSL_CERT_FILE names the sandbox CA
    try:
        assert slack.calls_to("apps.connections.open")
        response = slack.slash_command(ALICE, "https://over-tls.example/", channel_id=INTAKE)
        assert response.status_code == 200 and "phishbot" in response.text
        wait_case(running, 1)
    finally:
        running.stop()
        secure.stop()


def test_stopping_closes_every_connection_with_a_close_frame(slack, graph, tls, database_url, socket_mode):
    running = start_bot(slack, graph, tls, database_url, socket_mode)
    running.stop()
    closed = slack.wait_for(
        lambda: all(c.state == "closed" for c in socket_mode.connections()) and socket_mode.connections()
    )
    assert [c.closed_by for c in closed] == ["client", "client"]


def test_the_app_token_and_the_socket_urls_never_reach_a_log(bot, slack, socket_mode, caplog):
    with caplog.at_level(logging.DEBUG, logger="bot"):
        slack.fail_next("apps.connections.open", status=200, error="invalid_auth", times=1)
        socket_mode.drop()
        slack.wait_for(lambda: len(socket_mode.responsive()) == 2)
        slack.slash_command(ALICE, "help", channel_id=INTAKE)
    text = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    assert "invalid_auth" in text  # the failure is told, by its error code
    assert APP_TOKEN not in text and "ticket=" not in text
    assert all(APP_TOKEN not in str(c.args) for c in slack.calls)
