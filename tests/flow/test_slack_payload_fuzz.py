"""Hostile Slack payloads, generated (hypothesis): slash-command forms, interaction payloads (block_actions,
view_submission, view_closed, shortcut, message_action) and Events API bodies with wrong types, missing fields,
huge strings, odd unicode, nested junk and valid-looking ids that name other cases and other people. Each is
signed as Slack would sign it and POSTed to the real bot over HTTP.

Whatever arrives: never a 500, never a traceback or a credential in the answer, no listener or work after ack
dies of an exception, no host but loopback is looked up, and the bot still serves a good request afterwards.
The budget is fixed and the examples derandomized, so CI runs the same bounded set every time."""

from __future__ import annotations

import json
import logging
import os
import socket
import string
from urllib.parse import parse_qs, urlencode

import pytest
from conftest import (
    ALICE,
    BOB,
    INTAKE,
    OUTSIDER,
    RESPONDER,
    SOC,
    assert_no_secret,
)
from conftest import examples as budget
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from bot.slack.contract import ActionId, ModalCallback, ShortcutCallback, SlashCommand

FORM = "application/x-www-form-urlencoded"


# By hand, for a longer and different search: PHISHBOT_FUZZ_EXAMPLES=2000 (random, not derandomized).
DEEPER = int(os.environ.get("PHISHBOT_FUZZ_EXAMPLES") or 0)


def fuzz(examples: int) -> settings:
    """A fixed budget, derandomized and without a saved database: CI runs the same bounded set every time
    (the whole file: under a minute per database pass); `make test-fast` a quarter of it (conftest.examples)."""
    return settings(
        max_examples=DEEPER or budget(examples),
        deadline=None,
        derandomize=not DEEPER,
        database=None,
        # One running bot serves every example of a test on purpose: that it keeps serving is the point.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


# --- the building blocks -----------------------------------------------------------------------------------

TRICKY_TEXT = [
    "",
    " ",
    "1",
    "2",
    "0",
    "-1",
    "00001",
    "1.0",
    "1e3",
    "²",  # a digit to str.isdigit(), not to int()
    "٣",  # an Arabic-Indic three: a digit to both
    "１",  # a full-width one
    "9" * 18,
    "9" * 19,
    "18446744073709551616",
    "status",
    "help",
    "STATUS ",
    "https://evil.example/login",
    "hxxps://evil[.]example",
    "<!channel> <!here> <@U0SAMSOC1>",
    "<https://evil.example|Microsoft 365>",
    "'; DROP TABLE cases; --",
    '{"case_id": 1}',
    "%s%s%n",
    "{{7*7}}",
    "../../etc/passwd",
    "\x00",
    "\u202e\u2066evil",
    "\ud800",  # a lone surrogate: valid as a JSON escape, not encodable as UTF-8
    "🐟" * 20,
    "A" * 5000,
    "é" * 20_000,
    "x" * 200_000,
]
hostile_text = st.one_of(st.sampled_from(TRICKY_TEXT), st.text(max_size=30))
scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    hostile_text,
)
junk = st.recursive(
    scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
MISSING = object()


def field(valid: st.SearchStrategy, *, wrong: st.SearchStrategy = junk) -> st.SearchStrategy:
    """A field as Slack sends it seven times in eight; otherwise missing, or of any type. (Rare enough that a
    payload with a dozen fields often gets past the gate, so that the listeners behind it are reached; it
    shrinks towards the valid field.)"""
    odd = st.tuples(st.booleans(), st.booleans(), st.booleans()).map(all)
    return odd.flatmap(
        lambda odd: st.booleans().flatmap(lambda gone: st.just(MISSING) if gone else wrong) if odd else valid
    )


def record(**fields: st.SearchStrategy) -> st.SearchStrategy:
    """A JSON object of `field()`s, without the missing ones; sometimes with a stray extra key."""
    return st.tuples(
        st.fixed_dictionaries(fields), st.dictionaries(st.text(max_size=10), junk, max_size=1)
    ).map(lambda pair: {**pair[1], **{k: v for k, v in pair[0].items() if v is not MISSING}})


USERS = [ALICE, BOB, OUTSIDER, RESPONDER, "U0NOBODY01", "W0ENTERPR1", "USLACKBOT", "B0BOT00001"]
CHANNELS = [INTAKE, SOC, "D0DIRECT01", "C0ELSEWHR1", "G0PRIVATE1"]
CASE_IDS = [
    "1",
    "2",
    "3",
    "999",
    "0",
    "-1",
    "²",
    "٣",
    "１",
    "1 ",
    "9" * 18,
    "9" * 40,
    "1e3",
    "1; DROP TABLE x",
]
ACTION_IDS = [
    ActionId.RESUBMIT,
    ActionId.RESUBMIT_NOW,
    ActionId.RESUBMIT_LATER,
    ActionId.DISMISS,
    ActionId.PURGE,
    ActionId.RESTORE,
    ActionId.WHO_CLICKED,
    ActionId.BLOCK,
    "report.unknown",
]
CALLBACK_IDS = [
    ModalCallback.REPORT,
    ModalCallback.PURGE,
    ModalCallback.BLOCK,
    ShortcutCallback.REPORT_MESSAGE,
    "something.else",
]
BLOCK_IDS = ["url", "file", "category", "recent", "note", "scope", "action", "expiry"]

user_id = st.one_of(st.sampled_from(USERS), hostile_text)
channel_id = st.one_of(st.sampled_from(CHANNELS), hostile_text)
case_value = st.one_of(st.sampled_from(CASE_IDS), hostile_text)
timestamp = st.one_of(st.just("1715674320.000100"), hostile_text)
user_ref = record(id=field(user_id), name=field(hostile_text), team_id=field(st.just("T0SANDBOX")))
channel_ref = record(id=field(channel_id), name=field(hostile_text))
team_ref = record(id=field(st.just("T0SANDBOX")), domain=field(hostile_text))


# What only Slack mints (a response_url, a file's download URL) is drawn as a placeholder and replaced, just
# before sending, by one the emulator serves: a URL to any other host would send the bot to another machine.
RESPONSE_URL = "https://response-url.placeholder/"
FILE_URL = "https://file-url.placeholder/"
DEAD_FILE_URL = "https://dead-file-url.placeholder/"

response_url = field(st.just(RESPONSE_URL), wrong=st.sampled_from(["", "not a url", "http://[::1", 7]))
slack_file = record(
    id=field(st.sampled_from(["F0NOSUCHFILE", "F0ANOTHER1"])),
    name=field(st.sampled_from(["a.eml", "b.msg", "c.txt", "../../x.eml"]) | hostile_text),
    size=field(st.integers(min_value=-1, max_value=2**40)),
    filetype=field(st.sampled_from(["eml", "email", "text", "binary"])),
    mimetype=field(st.sampled_from(["message/rfc822", "application/vnd.ms-outlook", "text/plain"])),
    mode=field(st.sampled_from(["hosted", "email", "snippet"])),
    url_private_download=field(st.sampled_from([FILE_URL, DEAD_FILE_URL])),
    url_private=field(st.just(FILE_URL)),
    attachments=field(junk),
)
slack_message = record(
    type=field(st.just("message")),
    text=field(hostile_text),
    user=field(user_id),
    ts=field(timestamp),
    thread_ts=field(timestamp),
    files=field(st.lists(slack_file, max_size=3)),
    blocks=field(junk),
    subtype=field(st.sampled_from(["file_share", "bot_message", "thread_broadcast"])),
)
trigger_id = field(st.just("12345.98765.abcd1234"), wrong=hostile_text)


def view_state() -> st.SearchStrategy:
    element = record(
        type=field(hostile_text),
        value=field(hostile_text),
        selected_option=field(record(value=field(case_value))),
        files=field(st.lists(junk, max_size=3)),
    )
    # Slack nests each input as values[block_id][action_id]; the bot's forms use one id for both.
    values = st.dictionaries(
        st.sampled_from(BLOCK_IDS),
        st.one_of(element.map(lambda e: (True, e)), junk.map(lambda j: (False, j))),
    ).map(
        lambda found: {block: {block: value} if nested else value for block, (nested, value) in found.items()}
    )
    return record(values=field(values))


private_metadata = st.one_of(
    record(
        case_id=field(st.one_of(st.integers(min_value=-5, max_value=5), st.sampled_from([2**63, 10**30]))),
        channel_id=field(channel_id),
        recent=field(st.lists(hostile_text, max_size=3)),
    ).map(json.dumps),
    hostile_text,
)
view = record(
    type=field(st.just("modal")),
    callback_id=field(st.sampled_from(CALLBACK_IDS)),
    id=field(st.just("V0NOSUCHVIEW")),
    hash=field(hostile_text),
    state=field(view_state()),
    private_metadata=field(private_metadata),
)


def block_actions() -> st.SearchStrategy:
    action = record(
        action_id=field(st.sampled_from(ACTION_IDS)),
        value=field(case_value),
        block_id=field(hostile_text),
        type=field(st.just("button")),
        action_ts=field(timestamp),
    )
    return record(
        type=st.just("block_actions"),
        user=field(user_ref),
        actions=field(st.lists(action, min_size=1, max_size=3)),
        trigger_id=trigger_id,
        response_url=response_url,
        channel=field(channel_ref),
        team=field(team_ref),
        container=field(record(type=field(st.just("message")), message_ts=field(timestamp))),
        message=field(slack_message),
        view=field(st.just(MISSING), wrong=view),
    )


def view_payloads() -> st.SearchStrategy:
    return record(
        type=st.sampled_from(["view_submission", "view_closed"]),
        user=field(user_ref),
        view=field(view),
        team=field(team_ref),
        trigger_id=trigger_id,
    )


def shortcuts() -> st.SearchStrategy:
    return record(
        type=st.sampled_from(["message_action", "shortcut"]),
        callback_id=field(st.sampled_from(CALLBACK_IDS)),
        user=field(user_ref),
        trigger_id=trigger_id,
        response_url=response_url,
        channel=field(channel_ref),
        team=field(team_ref),
        message=field(slack_message),
        message_ts=field(timestamp),
    )


def interaction_payloads() -> st.SearchStrategy:
    return st.one_of(
        block_actions(),
        view_payloads(),
        shortcuts(),
        record(type=field(hostile_text), user=field(junk), actions=field(junk)),
    )


def slash_command_body() -> st.SearchStrategy:
    text = hostile_text.filter(_encodable)
    fields = record(
        command=field(st.just(SlashCommand.REPORT), wrong=text),
        text=field(st.one_of(text, st.just("https://evil.example/" + "a" * 300)), wrong=text),
        user_id=field(user_id.filter(_encodable), wrong=text),
        channel_id=field(channel_id.filter(_encodable), wrong=text),
        trigger_id=field(st.just("12345.98765.abcd1234"), wrong=text),
        response_url=field(st.just(RESPONSE_URL), wrong=st.sampled_from(["", "not a url", "http://[::1"])),
        team_id=field(st.just("T0SANDBOX"), wrong=text),
        user_name=field(text),
    ).map(lambda fields: {k: v for k, v in fields.items() if isinstance(v, str)})
    duplicates = st.lists(
        st.tuples(
            st.sampled_from(["command", "text", "user_id", "channel_id"]), hostile_text.filter(_encodable)
        ),
        max_size=1,
    )
    return st.tuples(fields, duplicates).map(lambda pair: [*pair[0].items(), *pair[1]])


def events() -> st.SearchStrategy:
    event = record(
        type=field(st.sampled_from(["message", "app_mention", "file_shared", "member_joined_channel"])),
        subtype=field(st.sampled_from(["file_share", "message_changed", "bot_message"])),
        channel=field(channel_id),
        user=field(user_id),
        ts=field(timestamp),
        text=field(hostile_text),
        files=field(st.lists(slack_file, max_size=3)),
        channel_type=field(st.sampled_from(["channel", "im", "group"])),
    )
    callback = record(
        type=st.just("event_callback"),
        event=field(event),
        event_id=field(hostile_text),
        team_id=field(st.just("T0SANDBOX")),
        api_app_id=field(hostile_text),
        event_time=field(st.integers()),
    )
    other = record(
        type=field(st.sampled_from(["url_verification", "app_rate_limited", "event_callback"])),
        challenge=field(hostile_text),
        token=field(hostile_text),
    )
    return st.one_of(callback, other)


def _encodable(text: str) -> bool:
    """A form body is UTF-8 bytes: a lone surrogate cannot be in one (the JSON payloads carry it escaped)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- the oracle --------------------------------------------------------------------------------------------


class _Failures(logging.Handler):
    """Listener and after-ack failures: an exception nothing handled is a crash, whatever was answered."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "unhandled error in a listener" in message or "work after ack failed" in message:
            detail = ""
            if record.exc_info and record.exc_info[1] is not None:
                error = record.exc_info[1]
                frames = []
                trace = error.__traceback__
                while trace is not None:
                    frames.append(f"{trace.tb_frame.f_code.co_filename.rsplit('/', 2)[-1]}:{trace.tb_lineno}")
                    trace = trace.tb_next
                detail = f" {type(error).__name__}: {str(error)[:200]} at {' > '.join(frames[-4:])}"
            self.records.append(message + detail)


class Watch:
    """The running bot, what it failed at and which names it looked up, and what only Slack could mint."""

    def __init__(self, bot, slack) -> None:
        self.bot = bot
        self.slack = slack
        body, _ = slack.prepared_request("click", ALICE, action_id="x", value="1", channel_id=SOC)
        minted = {
            # reusable: every example may answer through it
            RESPONSE_URL: json.loads(parse_qs(body.decode())["payload"][0])["response_url"],
            FILE_URL: slack.root_url + "files/F0NOSUCHFILE/download",
            DEAD_FILE_URL: "http://127.0.0.1:9/files/F0GONE/download",  # Slack's host, nobody listening
        }
        self._minted = minted
        self.failures = _Failures()
        self.looked_up: list[str] = []

    def mint(self, text: str) -> str:
        for placeholder, url in self._minted.items():
            text = text.replace(placeholder, url)
        return text

    def send(self, body: str, content_type: str):
        """Sign and POST, as Slack would (raw bytes for a body that is not UTF-8: Slack signs text)."""
        raw = body.encode("utf-8", "surrogatepass")
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return _post_raw(self.slack, raw, content_type)
        return self.slack.send_signed(raw, content_type)

    def answered_cleanly(self, response) -> None:
        """After one hostile request: a clean answer, the work it started finished without an exception, no
        lookup of a host that is not loopback, and a good request still answered."""
        event(f"HTTP {response.status_code} {response.text[:40]}")  # --hypothesis-show-statistics
        assert response.status_code < 500, (response.status_code, response.text[:300])
        assert "Traceback" not in response.text and 'File "' not in response.text, response.text[:300]
        assert_no_secret(response.text, "an answer to a hostile request")
        good = self.slack.slash_command(ALICE, "help", channel_id=INTAKE)
        assert good.status_code == 200 and "How to report" in good.text
        self.slack.wait_for(lambda: self.bot.runtime.services.handover.in_flight == 0, timeout=30)
        failures, self.failures.records[:] = list(self.failures.records), []
        assert failures == [], "\n".join(failures)
        assert self.looked_up == []


@pytest.fixture
def watched(bot, slack, monkeypatch):
    """The running bot with a case in it, so that ids can name a real case. Afterwards a good report still goes
    all the way to Microsoft."""
    slack.slash_command(ALICE, "https://already-reported.example/", channel_id=INTAKE)
    slack.wait_for(lambda: bot.store.cases.case_exists(1), 20)
    watch = Watch(bot, slack)
    real = socket.getaddrinfo

    def loopback_only(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in {"127.0.0.1", "localhost", "::1"}:
            watch.looked_up.append(name)
            raise socket.gaierror(socket.EAI_NONAME, "the fuzz tests resolve loopback only")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    logging.getLogger().addHandler(watch.failures)
    try:
        yield watch
    finally:
        logging.getLogger().removeHandler(watch.failures)
    before = len(bot.store.reporters.cases_reported_by(BOB))
    assert slack.slash_command(BOB, "https://still-serving.example/", channel_id=INTAKE).status_code == 200
    slack.wait_for(lambda: len(bot.store.reporters.cases_reported_by(BOB)) == before + 1, timeout=20)


# --- the tests ---------------------------------------------------------------------------------------------


def _submission(
    callback_id: str, values: dict, metadata: object = '{"case_id": 1}', user: str = ALICE
) -> dict:
    state = {"values": {block: {block: element} for block, element in values.items()}}
    view = {"id": "V0NOSUCHVIEW", "type": "modal", "callback_id": callback_id, "state": state}
    return {"type": "view_submission", "user": {"id": user}, "view": {**view, "private_metadata": metadata}}


def _click(action_id: str, value: str, user: str = RESPONDER) -> dict:
    return {
        "type": "block_actions",
        "user": {"id": user},
        "trigger_id": "12345.98765.abcd1234",
        "response_url": RESPONSE_URL,
        "channel": {"id": SOC},
        "actions": [{"action_id": action_id, "value": value, "type": "button"}],
    }


# Found by reading the code the fuzzer runs, kept as examples it always tries: "²" is a digit to str.isdigit()
# but not to int(); Slack's private_metadata is always a string; a case id past the database's integer range.
@example(payload=_submission(ModalCallback.REPORT, {"recent": {"selected_option": {"value": "²"}}}))
@example(payload=_submission(ModalCallback.BLOCK, {"expiry": {"selected_option": {"value": "²"}}}))
@example(payload=_submission(ModalCallback.PURGE, {}, metadata=5))
@example(
    payload=_submission(ModalCallback.REPORT, {"url": {"value": "https://evil.example/"}}, metadata=["x"])
)
@example(
    payload=_submission(ModalCallback.PURGE, {}, metadata='{"case_id": 1000000000000000000000000000000}')
)
@example(payload=_submission(ModalCallback.BLOCK, {}, metadata='{"case_id": 1099511627776}'))
@example(payload=_click(ActionId.DISMISS, "²"))
@example(payload=_click(ActionId.DISMISS, "99999999999"))
@example(payload=_click(ActionId.RESUBMIT, "٣"))
@example(payload=_submission(ModalCallback.PURGE, {}, user="U0NOBODY01"))  # nowhere to tell them "refused"
@example(
    payload={
        "type": "message_action",
        "callback_id": ShortcutCallback.REPORT_MESSAGE,
        "user": {"id": ALICE},
        "message": {},
    }
)
@example(
    payload={
        "type": "shortcut",
        "callback_id": ShortcutCallback.REPORT_MESSAGE,
        "user": {"id": ALICE},
        "trigger_id": "1.2",
    }
)
@example(
    payload={
        **_click(ActionId.DISMISS, "1", user=OUTSIDER),
        "response_url": MISSING,
        "view": {"type": "modal"},
    }
)
@fuzz(80)
@given(payload=interaction_payloads())
def test_hostile_interaction_payloads(watched, payload):
    payload = {key: value for key, value in payload.items() if value is not MISSING}
    payload_text = watched.mint(json.dumps(payload))
    watched.answered_cleanly(watched.send(urlencode({"payload": payload_text}), FORM))


@fuzz(50)
@given(body=slash_command_body())
def test_hostile_slash_commands(watched, body):
    form = urlencode([(name, watched.mint(value)) for name, value in body])
    watched.answered_cleanly(watched.send(form, FORM))


@example(
    envelope={
        "type": "event_callback",
        "event": {
            "type": "message",
            "subtype": "file_share",
            "channel": [INTAKE],
            "user": ALICE,
            "files": [{}],
        },
    }
)
@fuzz(50)
@given(envelope=events())
def test_hostile_events(watched, envelope):
    watched.answered_cleanly(watched.send(watched.mint(json.dumps(envelope)), "application/json"))


@fuzz(30)
@given(
    payload=st.one_of(
        junk.map(json.dumps),
        st.text(alphabet=string.printable, max_size=200),
        st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
        st.text(max_size=50),
    ),
    as_json=st.booleans(),
)
def test_hostile_bodies_of_any_shape(watched, payload, as_json):
    if as_json:
        watched.answered_cleanly(watched.send(payload, "application/json"))
    else:
        watched.answered_cleanly(watched.send(urlencode({"payload": payload}), FORM))


def _post_raw(slack, body: bytes, content_type: str):
    import hashlib
    import hmac
    import time

    import httpx

    from bot.sandbox.tls import default_client_context

    stamp = str(int(time.time()))
    digest = hmac.new(slack.signing_secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256)
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": "v0=" + digest.hexdigest(),
    }
    return httpx.post(slack.app_url, content=body, headers=headers, verify=default_client_context())
