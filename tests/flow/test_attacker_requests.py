"""What an attacker can send to /slack/events: forged, missing and stale signatures, oversized bodies,
payloads with missing or wrongly typed fields. The answer is 401, 400, 404 or 413 — never a 500, never a
traceback in the response — and the bot keeps serving."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from urllib.parse import parse_qs, quote, urlencode

import httpx
import pytest
from conftest import ALICE, INTAKE

FORM = "application/x-www-form-urlencoded"
COMMAND = b"command=%2Freport-phish&text=https%3A%2F%2Fevil.example&user_id=U0ALICE01&channel_id=C0INTAKE01"


def assert_refused_cleanly(response: httpx.Response, allowed: set[int]) -> None:
    assert response.status_code in allowed, (response.status_code, response.text[:300])
    assert "Traceback" not in response.text
    assert 'File "' not in response.text


@pytest.mark.parametrize(
    ("timestamp", "signature"),
    [
        (lambda: int(time.time()), "v0=" + "0" * 64),
        (lambda: int(time.time()), "v1=whatever"),
        (lambda: int(time.time()), ""),
        (lambda: int(time.time()) - 301, None),
        (lambda: int(time.time()) + 301, None),
        (lambda: 0, None),
    ],
    ids=["forged", "wrong-version", "empty", "stale", "from-the-future", "epoch"],
)
def test_bad_signatures_are_401(bot, slack, graph, timestamp, signature):
    response = slack.send_signed(COMMAND, FORM, timestamp=timestamp(), signature=signature)
    assert_refused_cleanly(response, {401})
    assert graph.submissions == {}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Slack-Request-Timestamp": "yesterday", "X-Slack-Signature": "v0=00"},
        {"X-Slack-Request-Timestamp": "1" * 400, "X-Slack-Signature": "v0=00"},
        {"X-Slack-Request-Timestamp": "-1", "X-Slack-Signature": "v0=" + "f" * 64},
    ],
    ids=["no-headers", "word-timestamp", "huge-timestamp", "negative-timestamp"],
)
def test_missing_or_garbage_signature_headers_are_401(bot, headers):
    response = httpx.post(
        f"http://127.0.0.1:{bot.port}/slack/events",
        content=COMMAND,
        headers={"Content-Type": FORM, **headers},
    )
    assert_refused_cleanly(response, {401})


def test_an_oversized_body_is_refused_before_it_is_read(bot):
    response = httpx.post(
        f"http://127.0.0.1:{bot.port}/slack/events",
        content=b"payload=" + b"A" * (2 * 1024 * 1024),
        headers={"Content-Type": FORM},
    )
    assert_refused_cleanly(response, {413})


def raw_signature(slack, body: bytes) -> dict[str, str]:
    """Slack's signature over raw bytes (slack_sdk's signer only takes UTF-8 text)."""
    timestamp = str(int(time.time()))
    digest = hmac.new(
        slack.signing_secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256
    )
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": "v0=" + digest.hexdigest()}


def signed_payload(slack, payload) -> httpx.Response:
    body = "payload=" + quote(payload if isinstance(payload, str) else json.dumps(payload))
    return slack.send_signed(body.encode(), FORM)


@pytest.mark.parametrize(
    "payload",
    [
        "not json at all",
        "[]",
        "null",
        '"a string"',
        {"type": "block_actions"},
        {"type": "block_actions", "user": "U0ALICE01", "actions": "report.dismiss"},
        {"type": "block_actions", "user": {"id": ALICE}, "actions": [{"action_id": "report.dismiss"}]},
        {
            "type": "block_actions",
            "user": {"id": ALICE},
            "actions": [{"action_id": "report.dismiss", "value": 7}],
        },
        {"type": "block_actions", "user": {"id": 12}, "actions": [None]},
        {"type": "view_submission", "user": {"id": ALICE}, "view": {"callback_id": "report.submit"}},
        {"type": "view_submission", "user": {"id": ALICE}, "view": "report.submit"},
        {"type": "message_action", "callback_id": "report_phish_message"},
        {"type": "shortcut"},
    ],
)
def test_malformed_interaction_payloads_never_500(bot, slack, payload):
    response = signed_payload(slack, payload)
    assert_refused_cleanly(response, {200, 400, 404})
    # The bot still serves.
    assert slack.slash_command(ALICE, "help", channel_id=INTAKE).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b'{"type": "event_callback"}',
        b'{"type": "event_callback", "event": "message"}',
        b'{"type": "event_callback", "event": {"type": "message", "subtype": "file_share", "files": "x"}}',
        b'{"type": "event_callback", "event": {"type": "message", "subtype": "file_share", "files": [null, 3]}}',
        '{"type": "event_callback", "event": {"type": "message", "text": "\udcff"}}'.encode(
            "utf-8", "surrogatepass"
        ),
        b"\xff\xfe\x00garbage",
    ],
)
def test_malformed_events_never_500(bot, slack, body):
    response = httpx.post(
        slack.app_url,
        content=body,
        headers={"Content-Type": "application/json", **raw_signature(slack, body)},
    )
    # Bytes that are not UTF-8 cannot carry a Slack signature (Slack signs text): 401 is right for them.
    assert_refused_cleanly(response, {200, 400, 401, 404})
    assert slack.slash_command(ALICE, "help", channel_id=INTAKE).status_code == 200


@pytest.mark.parametrize("body", [b"", b"command=", b"text=%ZZ&command=%2Freport-phish", b"\x00\x01"])
def test_malformed_slash_commands_never_500(bot, slack, body):
    response = slack.send_signed(body, FORM)
    assert_refused_cleanly(response, {200, 400, 404})


def test_url_verification_is_answered(bot, slack):
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"}).encode()
    response = slack.send_signed(body, "application/json")
    assert response.status_code == 200 and "abc123" in response.text


def test_other_paths_and_methods(bot):
    base = f"http://127.0.0.1:{bot.port}"
    assert httpx.get(f"{base}/slack/events").status_code == 405
    assert httpx.post(f"{base}/admin", content=b"x").status_code == 404
    assert httpx.get(f"{base}/../../etc/passwd").status_code == 404


def test_a_slash_command_without_the_fields_slack_always_sends_is_400(bot, slack):
    body, _ = slack.prepared_request("command", ALICE, text="https://evil.example/", channel_id=INTAKE)
    fields = parse_qs(body.decode())
    for missing in ("user_id", "trigger_id", "response_url"):
        partial = urlencode({k: v[0] for k, v in fields.items() if k != missing}).encode()
        assert_refused_cleanly(slack.send_signed(partial, FORM), {400})
    repeated = body + b"&user_id=U0SAMSOC1"  # which one is the sender? Slack never repeats a field
    assert_refused_cleanly(slack.send_signed(repeated, FORM), {400})
    not_a_url = urlencode({**{k: v[0] for k, v in fields.items()}, "response_url": "not a url"}).encode()
    assert_refused_cleanly(slack.send_signed(not_a_url, FORM), {400})
    assert bot.store.reporters.cases_reported_by(ALICE) == []


def test_a_slash_command_whose_trigger_has_expired_tells_the_person_to_run_it_again(bot, slack):
    body, _ = slack.prepared_request("command", ALICE, text="", channel_id=INTAKE)
    fields = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    # A trigger lives three seconds and opens one view: this one is spent.
    spent = urlencode({**fields, "trigger_id": "1715674320.1.0123456789abcdef"}).encode()
    assert slack.send_signed(spent, FORM).status_code == 200
    [told] = slack.wait_for(lambda: [e for e in slack.ephemerals if "did not open" in e["text"]])
    assert told["user"] == ALICE and "/report-phish" in told["text"]
    assert slack.calls_to("views.open")[-1].error == "invalid_trigger_id"
