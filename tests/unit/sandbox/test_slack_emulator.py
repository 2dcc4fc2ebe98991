"""The Slack emulator against the real clients: slack_sdk's WebClient on the API side, a real Bolt app
served over HTTP on the driver side. If these pass, the bot's tests run against a Slack that refuses what
Slack refuses."""

from __future__ import annotations

import json
import threading
import time
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.sandbox.slack_emulator import PostedMessage, SlackEmulator, block_kit_errors, view_errors
from bot.sandbox.terminal import display_width, mrkdwn_to_text, render_blocks, render_message, render_view

SOC = "C0SOC"
INTAKE = "C0INTAKE"
ALICE = "U0ALICE"
BOB = "U0BOB"

CARD = [
    {"type": "header", "text": {"type": "plain_text", "text": "Phishing report: verdict = Malicious"}},
    {
        "type": "section",
        "block_id": "summary",
        "text": {"type": "mrkdwn", "text": "*Subject:* Invoice overdue\n*Reported by:* <@U0ALICE>"},
        "fields": [
            {"type": "mrkdwn", "text": "*Verdict*\n:red_circle: Malicious"},
            {"type": "mrkdwn", "text": "*Sender*\nbilling@evil.example"},
            {"type": "mrkdwn", "text": "*Defender submission*\n`sub-123`"},
            {"type": "mrkdwn", "text": "*Recipients affected*\n14"},
        ],
    },
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "Submitted 2026-11-26 17:41 UTC"}]},
    {
        "type": "actions",
        "block_id": "verdict_actions",
        "elements": [
            {
                "type": "button",
                "action_id": "report.purge",
                "style": "danger",
                "text": {"type": "plain_text", "text": "Purge"},
                "value": "42",
                "confirm": {
                    "title": {"type": "plain_text", "text": "Purge from all mailboxes?"},
                    "text": {
                        "type": "plain_text",
                        "text": "This soft-deletes the message for all 14 recipients.",
                    },
                    "confirm": {"type": "plain_text", "text": "Purge"},
                    "deny": {"type": "plain_text", "text": "Cancel"},
                    "style": "danger",
                },
            },
            {
                "type": "button",
                "action_id": "report.resubmit",
                "text": {"type": "plain_text", "text": "Resubmit"},
                "value": "42",
            },
        ],
    },
]

MODAL = {
    "type": "modal",
    "callback_id": "report.submit",
    "title": {"type": "plain_text", "text": "Report phishing"},
    "submit": {"type": "plain_text", "text": "Report"},
    "close": {"type": "plain_text", "text": "Cancel"},
    "blocks": [
        {
            "type": "input",
            "block_id": "file",
            "optional": True,
            "label": {"type": "plain_text", "text": "The suspicious email"},
            "element": {"type": "file_input", "action_id": "file", "filetypes": ["eml"], "max_files": 1},
        },
        {
            "type": "input",
            "block_id": "category",
            "label": {"type": "plain_text", "text": "What do you think it is?"},
            "element": {
                "type": "static_select",
                "action_id": "category",
                "options": [
                    {"text": {"type": "plain_text", "text": "Phishing"}, "value": "phishing"},
                    {"text": {"type": "plain_text", "text": "Spam"}, "value": "spam"},
                ],
            },
        },
    ],
}


@pytest.fixture
def slack():
    with SlackEmulator() as emulator:
        emulator.add_user(ALICE, name="alice", email="alice@contoso.example")
        emulator.add_user(BOB, name="bob")
        emulator.add_usergroup("S0SECOPS", [BOB])
        emulator.add_channel(SOC, "security-ops", members=[BOB])
        emulator.add_channel(INTAKE, "phish-reports", members=[ALICE])
        yield emulator
        assert emulator.server_errors == []


@pytest.fixture
def client(slack):
    return WebClient(token=slack.bot_token, base_url=slack.api_url)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture
def bolt(slack):
    """A bare Bolt app over HTTP on a loopback port, wired to the emulator both ways."""
    app = App(
        client=WebClient(token=slack.bot_token, base_url=slack.api_url),
        signing_secret=slack.signing_secret,
        token_verification_enabled=False,
    )
    server = make_server(
        "127.0.0.1",
        0,
        SlackRequestHandler(app),
        server_class=_ThreadingWSGIServer,
        handler_class=_QuietHandler,
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    slack.app_url = f"http://127.0.0.1:{server.server_address[1]}/slack/events"
    try:
        yield app
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# ----------------------------------------------------------------------------------------------- Web API


def test_post_update_and_history_with_metadata(slack, client):
    metadata = {"event_type": "phishbot_case", "event_payload": {"case_id": 7}}
    posted = client.chat_postMessage(channel=SOC, text="Case 7", blocks=CARD, metadata=metadata)
    assert posted["channel"] == SOC and posted["message"]["bot_id"] == slack.bot_id

    client.chat_update(channel=SOC, ts=posted["ts"], text="Case 7: purged", blocks=CARD[:2])
    client.chat_update(channel=SOC, ts=posted["ts"], text="Case 7: purged", blocks=CARD[:2])  # no change

    (message,) = slack.messages(SOC)
    assert message.ts == posted["ts"]
    assert message.text == "Case 7: purged" and message.blocks == CARD[:2]
    assert message.updates == 1
    assert message.metadata == metadata

    with_metadata = client.conversations_history(channel=SOC, include_all_metadata=True, limit=10)
    assert [m["ts"] for m in with_metadata["messages"]] == [posted["ts"]]
    assert with_metadata["messages"][0]["metadata"] == metadata
    assert with_metadata["messages"][0]["edited"]["user"] == slack.bot_user_id
    assert all(b["block_id"] for b in with_metadata["messages"][0]["blocks"])  # Slack fills block ids in
    without = client.conversations_history(channel=SOC)
    assert "metadata" not in without["messages"][0]
    later = client.conversations_history(channel=SOC, oldest=posted["ts"])
    assert later["messages"] == []

    assert [c.method for c in slack.calls].count("chat.update") == 2
    assert slack.calls_to("chat.postMessage")[0].args["channel"] == SOC
    assert slack.bot_token not in repr(slack.calls)


def test_history_pages_and_threads(slack, client):
    parent = client.chat_postMessage(channel=SOC, text="parent")
    client.chat_postMessage(channel=SOC, text="reply", thread_ts=parent["ts"])
    for n in range(3):
        client.chat_postMessage(channel=SOC, text=f"top {n}")
    first = client.conversations_history(channel=SOC, limit=2)
    assert [m["text"] for m in first["messages"]] == ["top 2", "top 1"] and first["has_more"]
    second = client.conversations_history(
        channel=SOC, limit=2, cursor=first["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in second["messages"]] == ["top 0", "parent"] and not second["has_more"]
    assert second["messages"][1]["reply_count"] == 1
    replies = client.conversations_replies(channel=SOC, ts=parent["ts"])
    assert [m["text"] for m in replies["messages"]] == ["parent", "reply"]
    assert slack.messages(SOC)[1].thread_ts == parent["ts"] and slack.messages(SOC)[0].thread_ts is None


def test_posting_to_a_user_id_lands_in_the_bots_im(slack, client):
    posted = client.chat_postMessage(channel=ALICE, text="Thanks for the report")
    assert posted["channel"].startswith("D")
    opened = client.conversations_open(users=ALICE)
    assert opened["channel"]["id"] == posted["channel"] == slack.im_channel(ALICE)
    assert [m.text for m in slack.dms(ALICE)] == ["Thanks for the report"]
    assert slack.dms(BOB) == []
    info = client.conversations_info(channel=posted["channel"])
    assert info["channel"]["is_im"] and info["channel"]["user"] == ALICE


@pytest.mark.parametrize(
    ("blocks", "needle"),
    [
        ([{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}], "150"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}], "3000"),
        ([{"type": "divider"}] * 51, "no more than 50"),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "*x*"}}], "enum"),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": ""}}], "more than 0"),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "a",
                            "value": "v" * 2001,
                            "text": {"type": "plain_text", "text": "Go"},
                        }
                    ],
                }
            ],
            "value",
        ),
        ([{"type": "no_such_block"}], "unsupported block type"),
        ([{"type": "divider", "colour": "red"}], "additional property: colour"),
        ([{"type": "divider", "block_id": "a"}, {"type": "divider", "block_id": "a"}], "duplicate block_id"),
    ],
)
def test_invalid_blocks_are_refused_like_slack(slack, client, blocks, needle):
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel=SOC, text="fallback", blocks=blocks)
    assert caught.value.response["error"] == "invalid_blocks"
    assert any(needle in e for e in caught.value.response["errors"]), caught.value.response["errors"]
    assert "[json-pointer:/blocks" in caught.value.response["errors"][0]
    assert slack.invalid_block_errors and slack.messages(SOC) == []


def test_valid_card_and_modal_pass_the_checks():
    assert block_kit_errors(CARD) == []
    assert view_errors(MODAL) == []
    assert view_errors({**MODAL, "submit": None}) != []  # input blocks need a submit button
    assert view_errors({**MODAL, "title": {"type": "plain_text", "text": "x" * 25}}) != []


def test_text_limits_and_missing_text(slack, client):
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel=SOC, text="x" * 40_001)
    assert caught.value.response["error"] == "msg_too_long"
    with pytest.warns(UserWarning), pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel=SOC, text="")
    assert caught.value.response["error"] == "no_text"
    with pytest.warns(UserWarning):  # slack_sdk warns too
        client.chat_postMessage(channel=SOC, blocks=CARD)
    assert any("without text" in w for w in slack.warnings)


def test_validation_can_be_switched_off():
    with SlackEmulator(validate_blocks=False) as emulator:
        emulator.add_channel(SOC, "security-ops")
        client = WebClient(token=emulator.bot_token, base_url=emulator.api_url)
        client.chat_postMessage(
            channel=SOC, text="x", blocks=[{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}]
        )
        assert emulator.invalid_block_errors == []


def test_chat_update_only_touches_our_own_messages(slack, client):
    theirs = slack.post_as_user(ALICE, INTAKE, "look at this")
    with pytest.raises(SlackApiError) as caught:
        client.chat_update(channel=INTAKE, ts=theirs.ts, text="mine now")
    assert caught.value.response["error"] == "cant_update_message"
    with pytest.raises(SlackApiError) as caught:
        client.chat_update(channel=SOC, ts="1.000001", text="nothing there")
    assert caught.value.response["error"] == "message_not_found"
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C0NOWHERE", text="x")
    assert caught.value.response["error"] == "channel_not_found"


def test_bot_must_be_in_the_channel(slack, client):
    slack.add_channel("C0OUTSIDE", "elsewhere", members=[ALICE], bot_member=False)
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C0OUTSIDE", text="x")
    assert caught.value.response["error"] == "not_in_channel"
    with pytest.raises(SlackApiError) as caught:
        client.chat_postEphemeral(channel=SOC, user=ALICE, text="x")  # Alice is not in #security-ops
    assert caught.value.response["error"] == "user_not_in_channel"
    client.chat_postEphemeral(channel=INTAKE, user=ALICE, text="only you")
    assert slack.ephemerals[-1]["text"] == "only you" and slack.ephemerals[-1]["user"] == ALICE


def test_rate_limit_surfaces_as_429_and_the_retry_handler_gets_through(slack, client):
    slack.fail_next("chat.postMessage", status=429, retry_after=1)
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel=SOC, text="x")
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["Retry-After"] in ("1", ["1"])
    assert caught.value.response["error"] == "ratelimited"

    slack.fail_next("chat.postMessage", status=429, retry_after=0)
    patient = WebClient(
        token=slack.bot_token,
        base_url=slack.api_url,
        retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)],
    )
    assert patient.chat_postMessage(channel=SOC, text="second try")["ok"]
    assert [c.status for c in slack.calls_to("chat.postMessage")] == [429, 429, 200]
    assert [m.text for m in slack.messages(SOC)] == ["second try"]


def test_other_faults(slack, client):
    slack.fail_next("users.info", status=503)
    with pytest.raises(SlackApiError) as caught:
        client.users_info(user=ALICE)
    assert caught.value.response.status_code == 503
    slack.fail_next("users.info", status=200, error="fatal_error", times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as caught:
            client.users_info(user=ALICE)
        assert caught.value.response["error"] == "fatal_error"
    assert client.users_info(user=ALICE)["ok"]
    with pytest.raises(ValueError):
        slack.fail_next("users.info", retry_after=0.5)


def test_held_calls_fail_late_or_are_done_with_a_late_answer(slack, client):
    # fail_next(delay=…): held, then refused — Slack did nothing. hold_answer_next: done at once, answered late.
    slack.fail_next("chat.postMessage", status=500, delay=0.3)
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel=SOC, text="never posted")
    assert slack.messages(SOC) == []

    slack.hold_answer_next("chat.postMessage", 2)
    answered = threading.Event()
    threading.Thread(
        target=lambda: (client.chat_postMessage(channel=SOC, text="posted"), answered.set()), daemon=True
    ).start()
    slack.wait_for(lambda: slack.messages(SOC), timeout=5)
    assert not answered.is_set()  # posted, and the poster has not heard yet
    assert answered.wait(timeout=5)
    with pytest.raises(ValueError):
        slack.hold_answer_next("file_download", 1)


def test_tokens_and_unknown_methods(slack):
    wrong = WebClient(token="xoxb-wrong", base_url=slack.api_url)
    with pytest.raises(SlackApiError) as caught:
        wrong.auth_test()
    assert caught.value.response["error"] == "invalid_auth"
    right = WebClient(token=slack.bot_token, base_url=slack.api_url)
    assert right.auth_test()["user_id"] == slack.bot_user_id
    with pytest.raises(SlackApiError) as caught:
        right.apps_connections_open(app_token=slack.bot_token)
    assert caught.value.response["error"] == "not_allowed_token_type"
    with pytest.raises(SlackApiError) as caught:
        right.api_call("reminders.add")
    assert caught.value.response["error"] == "unknown_method"
    anonymous = httpx.post(slack.api_url + "auth.test")
    assert anonymous.json() == {"ok": False, "error": "not_authed"}


def test_directory_lookups(slack, client):
    assert client.users_info(user=ALICE)["user"]["profile"]["email"] == "alice@contoso.example"
    assert "email" not in client.users_info(user=BOB)["user"]["profile"]
    assert client.users_lookupByEmail(email="ALICE@contoso.example")["user"]["id"] == ALICE
    with pytest.raises(SlackApiError) as caught:
        client.users_lookupByEmail(email="mallory@evil.example")
    assert caught.value.response["error"] == "users_not_found"
    with pytest.raises(SlackApiError) as caught:
        client.users_info(user="U0NOBODY")
    assert caught.value.response["error"] == "user_not_found"
    assert client.usergroups_users_list(usergroup="S0SECOPS")["users"] == [BOB]
    with pytest.raises(SlackApiError) as caught:
        client.usergroups_users_list(usergroup="S0NOPE")
    assert caught.value.response["error"] == "no_such_subteam"
    assert client.conversations_info(channel=SOC)["channel"]["name"] == "security-ops"
    permalink = client.chat_getPermalink(
        channel=SOC, message_ts=client.chat_postMessage(channel=SOC, text="x")["ts"]
    )
    assert permalink["permalink"].startswith(slack.root_url)


def test_file_download_needs_the_bot_token(slack, client):
    file = slack.add_file(ALICE, "phish.eml", b"From: a@b\r\n\r\nhi")
    assert client.files_info(file=file["id"])["file"]["name"] == "phish.eml"
    url = file["url_private_download"]
    assert url.startswith(f"{slack.root_url}files-pri/{slack.team_id}-{file['id']}/download/")

    good = httpx.get(url, headers={"Authorization": f"Bearer {slack.bot_token}"})
    assert good.status_code == 200 and good.content == b"From: a@b\r\n\r\nhi"
    assert good.headers["content-type"] == "message/rfc822"

    for headers in ({}, {"Authorization": "Bearer xoxb-wrong"}):
        refused = httpx.get(url, headers=headers)
        assert refused.status_code == 200  # Slack's gotcha: not a 401
        assert refused.headers["content-type"].startswith("text/html")
        assert refused.text.startswith("<!DOCTYPE html>") and "Sign in" in refused.text

    slack.fail_next("file_download", status=503)
    assert httpx.get(url, headers={"Authorization": f"Bearer {slack.bot_token}"}).status_code == 503

    with pytest.raises(SlackApiError) as caught:
        client.files_info(file="F0MISSING")
    assert caught.value.response["error"] == "file_not_found"
    assert slack.file_input_state(file) == {"type": "file_input", "files": [file]}


def test_files_upload_v2_posts_the_file(slack, client):
    result = client.files_upload_v2(channel=SOC, content=b"\x89PNG...", filename="digest.png", title="Digest")
    assert result["file"]["id"] in slack.files
    (message,) = slack.messages(SOC)
    assert (
        message.files[0]["name"] == "digest.png" and slack.file_content(result["file"]["id"]) == b"\x89PNG..."
    )


def test_oversized_bodies_are_refused(slack):
    response = httpx.post(
        slack.api_url + "chat.postMessage",
        content=b"x" * (4 * 1024 * 1024 + 1),
        headers={
            "Authorization": f"Bearer {slack.bot_token}",
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    assert response.status_code == 413
    assert httpx.post(
        slack.api_url + "auth.test", headers={"Authorization": f"Bearer {slack.bot_token}"}
    ).json()["ok"]


def test_form_encoded_calls_and_garbage_bodies(slack):
    auth = {"Authorization": f"Bearer {slack.bot_token}"}
    form = {"channel": SOC, "text": "hi", "blocks": json.dumps(CARD[:1])}
    answer = httpx.post(slack.api_url + "chat.postMessage", data=form, headers=auth).json()
    assert answer["ok"] and slack.messages(SOC)[0].blocks == CARD[:1]
    assert slack.calls_to("chat.postMessage")[0].args["blocks"] == CARD[:1]
    broken = httpx.post(
        slack.api_url + "chat.postMessage",
        content=b"{not json",
        headers={**auth, "Content-Type": "application/json"},
    )
    assert broken.json() == {"ok": False, "error": "invalid_json"}
    form["blocks"] = "[{oops"
    assert httpx.post(slack.api_url + "chat.postMessage", data=form, headers=auth).json()["error"] == (
        "invalid_blocks_format"
    )
    assert httpx.get(slack.root_url + "nowhere").status_code == 404


def test_views_need_a_fresh_trigger(slack, client):
    with pytest.raises(SlackApiError) as caught:
        client.views_open(trigger_id="1.2.made-up", view=MODAL)
    assert caught.value.response["error"] == "invalid_trigger_id"


def test_wait_for_explains_a_timeout(slack, client):
    client.chat_postMessage(channel=SOC, text="x")
    with pytest.raises(AssertionError) as caught:
        slack.wait_for(lambda: slack.messages("C0NONE")[0], timeout=0.1)
    text = str(caught.value)
    assert "chat.postMessage -> 200" in text and "IndexError" in text
    assert slack.wait_for(lambda: slack.messages(SOC)) == slack.messages(SOC)


# ----------------------------------------------------------------------------------------------- driving Bolt


def test_slash_command_reaches_the_listener_and_opens_a_modal(slack, bolt):
    seen = []

    @bolt.command("/report-phish")
    def report(ack, command, client, respond):
        ack()
        seen.append(command)
        client.views_open(trigger_id=command["trigger_id"], view=MODAL)
        respond("Opening the report form")

    response = slack.slash_command(ALICE, "", channel_id=INTAKE)
    assert response.status_code == 200
    slack.wait_for(lambda: slack.responses)
    assert (
        seen[0]["user_id"] == ALICE
        and seen[0]["channel_id"] == INTAKE
        and seen[0]["command"] == "/report-phish"
    )
    assert slack.responses == [{"text": "Opening the report form"}]
    assert slack.ephemerals[-1]["user"] == ALICE and slack.ephemerals[-1]["source"] == "response_url"
    view = slack.last_view()
    assert view["callback_id"] == "report.submit" and view["id"] in slack.views
    assert slack.views[view["id"]]["user"] == ALICE
    with pytest.raises(SlackApiError) as caught:
        bolt.client.views_update(view_id=view["id"], hash="stale", view=MODAL)
    assert caught.value.response["error"] == "hash_conflict"
    updated = bolt.client.views_update(
        view_id=view["id"], hash=view["hash"], view={**MODAL, "callback_id": "again"}
    )
    assert updated["view"]["id"] == view["id"] and slack.last_view()["callback_id"] == "again"
    assert slack.calls_to("auth.test")  # Bolt authorises the first request


def test_trigger_ids_expire_and_are_single_use(slack, bolt):
    outcomes = []

    @bolt.command("/report-phish")
    def report(ack, command, client):
        ack()
        for _ in range(2):
            try:
                client.views_open(trigger_id=command["trigger_id"], view=MODAL)
                outcomes.append("ok")
            except SlackApiError as exc:
                outcomes.append(exc.response["error"])

    slack.slash_command(ALICE, channel_id=INTAKE)
    slack.wait_for(lambda: len(outcomes) == 2)
    assert outcomes == ["ok", "exchanged_trigger_id"]

    slack.trigger_ttl = 0.0
    outcomes.clear()
    slack.slash_command(ALICE, channel_id=INTAKE)
    slack.wait_for(lambda: len(outcomes) == 2)
    assert outcomes == ["expired_trigger_id", "expired_trigger_id"]


def test_ack_text_is_shown_to_the_person(slack, bolt):
    @bolt.command("/report-phish")
    def report(ack):
        ack("Send me a link or an .eml")

    slack.slash_command(ALICE, "help", channel_id=INTAKE)
    assert slack.responses == [{"text": "Send me a link or an .eml"}]
    assert slack.ephemerals[-1]["source"] == "ack" and slack.ephemerals[-1]["user"] == ALICE


def test_button_click_reaches_the_listener_with_the_message(slack, bolt, client):
    clicks = []

    @bolt.action("report.purge")
    def purge(ack, body, action, client):
        ack()
        clicks.append(body)
        container = body["container"]
        client.chat_update(
            channel=container["channel_id"], ts=container["message_ts"], text="Purging…", blocks=[]
        )

    posted = client.chat_postMessage(channel=SOC, text="Case 42", blocks=CARD)
    card = slack.messages(SOC)[0]
    response = slack.click(BOB, "report.purge", "42", card)
    assert response.status_code == 200
    slack.wait_for(lambda: slack.messages(SOC)[0].updates == 1)

    body = clicks[0]
    assert body["type"] == "block_actions" and body["user"]["id"] == BOB
    assert body["actions"][0]["value"] == "42" and body["actions"][0]["block_id"] == "verdict_actions"
    assert (
        body["message"]["ts"] == posted["ts"]
        and body["message"]["blocks"][3]["block_id"] == "verdict_actions"
    )
    assert body["response_url"].startswith(slack.root_url) and body["trigger_id"]
    assert slack.messages(SOC)[0].text == "Purging…" and slack.messages(SOC)[0].blocks == []

    with pytest.raises(AssertionError, match="can only click what is shown"):
        slack.click(BOB, "report.purge", "42", slack.messages(SOC)[0])


def test_respond_replaces_an_ephemeral_after_its_button_is_clicked(slack, bolt, client):
    @bolt.action("report.resubmit_now")
    def now(ack, respond):
        ack()
        respond(replace_original=True, text="Resubmitted")

    buttons = [
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "report.resubmit_now",
                    "value": "42",
                    "text": {"type": "plain_text", "text": "Resubmit now"},
                }
            ],
        }
    ]
    client.chat_postEphemeral(channel=INTAKE, user=ALICE, text="Resubmit?", blocks=buttons)
    assert slack.click_ephemeral(ALICE, "report.resubmit_now", "42", INTAKE).status_code == 200
    slack.wait_for(lambda: slack.ephemerals[-1]["text"] == "Resubmitted")
    assert len(slack.ephemerals) == 1 and slack.ephemerals[0]["blocks"] == []


def test_bad_or_stale_signatures_get_401(slack, bolt):
    @bolt.command("/report-phish")
    def report(ack):
        ack()

    body = b"command=%2Freport-phish&text=&user_id=U0ALICE&channel_id=C0INTAKE&team_id=T0SANDBOX"
    assert slack.send_signed(body, "application/x-www-form-urlencoded").status_code == 200
    assert (
        slack.send_signed(body, "application/x-www-form-urlencoded", signature="v0=" + "0" * 64).status_code
        == 401
    )
    stale = int(time.time()) - 600
    assert slack.send_signed(body, "application/x-www-form-urlencoded", timestamp=stale).status_code == 401


def test_upload_sends_a_file_share_event_and_the_file_downloads(slack, bolt):
    downloads = []
    headers_seen = []

    @bolt.middleware
    def keep_headers(req, resp, next):
        headers_seen.append(req.headers)
        return next()

    @bolt.event({"type": "message", "subtype": "file_share"})
    def uploaded(event, body):
        file = event["files"][0]
        got = httpx.get(file["url_private_download"], headers={"Authorization": f"Bearer {slack.bot_token}"})
        downloads.append((body["event_id"], event, got.content))

    response = slack.upload_file(ALICE, INTAKE, "phish.eml", b"Subject: win\r\n\r\nclick")
    assert response.status_code == 200
    slack.wait_for(lambda: downloads)
    event_id, event, content = downloads[0]
    assert content == b"Subject: win\r\n\r\nclick"
    assert event_id.startswith("Ev") and event["user"] == ALICE and event["channel"] == INTAKE
    assert event["channel_type"] == "channel" and event["files"][0]["mode"] == "hosted"
    assert event["files"][0]["filetype"] == "eml" and event["files"][0]["mimetype"] == "message/rfc822"

    slack.redeliver_last_event(retry_num=1)
    slack.wait_for(lambda: len(downloads) == 2)
    assert downloads[1][0] == event_id
    assert headers_seen[-1]["x-slack-retry-num"] == ["1"]


def test_email_forward_comes_from_slackbot_with_empty_text(slack, bolt):
    events = []

    @bolt.event({"type": "message", "subtype": "file_share"})
    def forwarded(event):
        events.append(event)

    slack.email_to_channel(
        INTAKE, from_address="alice@contoso.example", subject="Fwd: invoice", plain_text="see below"
    )
    slack.wait_for(lambda: events)
    event = events[0]
    assert event["user"] == "USLACKBOT" and event["text"] == ""
    file = event["files"][0]
    assert (
        file["mode"] == "email"
        and file["filetype"] == "email"
        and file["from"][0]["address"] == "alice@contoso.example"
    )


def test_view_submission_errors_then_closes(slack, bolt):
    submissions = []

    @bolt.command("/report-phish")
    def report(ack, command, client):
        ack()
        client.views_open(trigger_id=command["trigger_id"], view=MODAL)

    @bolt.view("report.submit")
    def submitted(ack, view):
        submissions.append(view)
        values = view["state"]["values"]
        if not values["file"]["file"]["files"]:
            ack(response_action="errors", errors={"file": "Attach the email"})
        else:
            ack()

    slack.slash_command(ALICE, channel_id=INTAKE)
    view_id = slack.wait_for(lambda: slack.last_view()["id"])
    with pytest.raises(AssertionError, match="required input 'category'"):
        slack.submit_view(ALICE, view_id, {})

    slack.submit_view(ALICE, view_id, slack.state_values(view_id, {"category": "phishing"}))
    assert slack.views[view_id]["open"] and slack.views[view_id]["errors"] == {"file": "Attach the email"}

    file = slack.add_file(ALICE, "phish.eml", b"x")
    values = slack.state_values(view_id, {"category": "spam", "file": file})
    assert slack.submit_view(ALICE, view_id, values).status_code == 200
    assert not slack.views[view_id]["open"]
    last = submissions[-1]["state"]["values"]
    assert last["category"]["category"]["selected_option"]["value"] == "spam"
    assert last["file"]["file"]["files"][0]["id"] == file["id"]


def test_message_shortcut_carries_the_message(slack, bolt):
    shortcuts = []

    @bolt.shortcut("report_phish_message")
    def shortcut(ack, shortcut):
        ack()
        shortcuts.append(shortcut)

    message = slack.post_as_user(ALICE, INTAKE, "is <https://evil.example|this> real?")
    assert slack.message_shortcut(ALICE, message).status_code == 200
    slack.wait_for(lambda: shortcuts)
    assert shortcuts[0]["type"] == "message_action" and shortcuts[0]["message"]["ts"] == message.ts
    assert shortcuts[0]["message"]["text"] == message.text and shortcuts[0]["channel"]["id"] == INTAKE


def test_driver_refuses_people_and_places_it_does_not_know(slack):
    slack.app_url = "http://127.0.0.1:9/slack/events"
    with pytest.raises(AssertionError, match="add_user"):
        slack.slash_command("U0GHOST", channel_id=INTAKE)
    with pytest.raises(AssertionError, match="add_channel"):
        slack.slash_command(ALICE, channel_id="C0GHOST")


# ----------------------------------------------------------------------------------------------- terminal


def test_render_card_as_plain_text():
    message = PostedMessage(
        ts="1.000001", channel=SOC, text="Case 42", blocks=CARD, thread_ts=None, metadata=None, updates=2
    )
    out = render_message(message, users={ALICE: "alice"})
    assert "\x1b[" not in out
    assert out.splitlines()[0] == "phishbot APP · edited ×2"
    assert "PHISHING REPORT: VERDICT = MALICIOUS" in out
    assert "*Subject:* Invoice overdue" in out and "@alice" in out
    assert "[ Purge ]  [ Resubmit ]" in out
    assert "🔴 Malicious" in out
    verdict_row = next(line for line in out.splitlines() if line.startswith("*Verdict*"))
    assert "*Sender*" in verdict_row  # fields sit in two columns
    assert all(display_width(line) <= 88 for line in out.splitlines())


def test_mrkdwn_links_entities_and_dates():
    assert mrkdwn_to_text("see <https://x.example/a|the portal>") == "see the portal (https://x.example/a)"
    assert mrkdwn_to_text("<https://x.example/>") == "https://x.example/"
    assert mrkdwn_to_text("a &lt;b&gt; &amp; c") == "a <b> & c"
    assert (
        mrkdwn_to_text("<!date^1700000000^{date_short_pretty}|2023-11-14 22:13 UTC>")
        == "2023-11-14 22:13 UTC"
    )
    assert (
        mrkdwn_to_text("<!subteam^S0SECOPS|@secops> <!here> <#C0SOC|security-ops>")
        == "@secops @here #security-ops"
    )
    assert mrkdwn_to_text("hxxps://evil[.]example/a_b_c") == "hxxps://evil[.]example/a_b_c"
    colored = mrkdwn_to_text("*bold* and `code`", color=True)
    assert "\x1b[1mbold\x1b[0m" in colored and "`" not in colored


def test_render_colour_and_width():
    out = render_blocks(CARD, width=40, color=True)
    assert "\x1b[1m" in out and "\x1b[31m[ Purge ]" in out
    assert all(display_width(line) <= 40 for line in out.splitlines())


def test_render_ephemeral_and_text_only():
    out = render_message(
        {
            "channel": INTAKE,
            "user": ALICE,
            "text": "Got it, *thanks*",
            "blocks": [],
            "source": "chat.postEphemeral",
        }
    )
    assert out.splitlines() == ["phishbot APP · Only visible to you", "Got it, *thanks*"]


def test_render_view():
    out = render_view(MODAL, width=60)
    lines = out.splitlines()
    assert "Report phishing" in lines[1]
    assert any("The suspicious email (optional)" in line for line in lines)
    assert any("Upload a file (.eml)" in line for line in lines)
    assert "[ Cancel ]  [ Report ]" in out
    assert {display_width(line) for line in lines} == {60}


def test_block_kit_errors_never_raise_on_garbage():
    for garbage in (
        None,
        "blocks",
        [None],
        [{"type": 3}],
        [{"type": "section", "text": 5}],
        [{"type": "actions"}],
    ):
        assert block_kit_errors(garbage)
    assert json.dumps(block_kit_errors([{"type": "section", "fields": "x"}]))
