"""The Slack emulator's rate limits (opt-in): Slack's published tiers as token buckets, answered like Slack (429,
Retry-After in whole seconds, "ratelimited"), counted per method; off, nothing is ever refused."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.sandbox.slack_emulator import SlackEmulator
from bot.sandbox.slack_rate_limits import PER_CHANNEL_BURST, TIER_3

SOC = "C0SOC0001"
OTHER = "C0OTHER01"


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def slack():
    emulator = SlackEmulator().start()
    emulator.add_channel(SOC, "security-ops")
    emulator.add_channel(OTHER, "other")
    yield emulator
    emulator.stop()


@pytest.fixture
def client(slack):
    return WebClient(token=slack.bot_token, base_url=slack.api_url, retry_handlers=[])


def test_off_by_default(slack, client):
    ts = client.chat_postMessage(channel=SOC, text="card")["ts"]
    for n in range(int(TIER_3) + 10):
        client.chat_update(channel=SOC, ts=ts, text=f"v{n}")
    assert slack.rate_limiter is None
    assert {c.status for c in slack.calls_to("chat.update")} == {200}


def test_tier_3_allows_a_minutes_worth_at_once_then_its_rate(slack, client):
    clock = Clock()
    limiter = slack.enforce_rate_limits(clock=clock)
    ts = client.chat_postMessage(channel=SOC, text="card")["ts"]
    for n in range(int(TIER_3)):
        client.chat_update(channel=SOC, ts=ts, text=f"v{n}")
    with pytest.raises(SlackApiError) as refused:
        client.chat_update(channel=SOC, ts=ts, text="one too many")
    assert refused.value.response.status_code == 429
    assert refused.value.response["error"] == "ratelimited"
    # 50 a minute: the next call may go 1.2 s later, said in whole seconds as Slack does.
    assert refused.value.response.headers["Retry-After"] in ("2", ["2"])
    clock.now += 60 / TIER_3
    assert client.chat_update(channel=SOC, ts=ts, text="after the wait")["ok"]
    assert limiter.counts()["chat.update"] == (int(TIER_3) + 2, 1)
    assert slack.messages(SOC)[0].text == "after the wait"  # the refused edit changed nothing


def test_posting_is_limited_per_channel(slack, client):
    slack.enforce_rate_limits(clock=Clock())
    for n in range(int(PER_CHANNEL_BURST)):
        client.chat_postMessage(channel=SOC, text=f"burst {n}")
    with pytest.raises(SlackApiError) as refused:
        client.chat_postMessage(channel=SOC, text="too fast")
    assert refused.value.response.status_code == 429
    assert client.chat_postMessage(channel=OTHER, text="another channel")["ok"]
    assert len(slack.messages(SOC)) == PER_CHANNEL_BURST


def test_an_unlimited_method_and_a_wrong_token_are_not_counted_against_the_limits(slack):
    limiter = slack.enforce_rate_limits(clock=Clock())
    client = WebClient(token=slack.bot_token, base_url=slack.api_url, retry_handlers=[])
    for _ in range(20):
        assert client.auth_test()["ok"]
    with pytest.raises(SlackApiError):
        WebClient(token="xoxb-wrong", base_url=slack.api_url).chat_update(channel=SOC, ts="1.2", text="x")
    assert limiter.counts() == {"auth.test": (20, 0)}
