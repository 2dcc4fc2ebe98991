"""bot.slack.rate_limits: a 429's Retry-After holds every caller of that method (of that channel, for posting), is
waited out on the clock before the call is made again, spaces the callers after it at Slack's published rate, and
leaves chat.update to its drawer. Against the Slack emulator, through the real WebClient."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError

from bot.sandbox.slack_emulator import SlackEmulator
from bot.slack.rate_limits import PER_MINUTE, RECOVERY_SECONDS, RateLimitedClient, SlackRateLimits

SOC = "C0SOC0001"
OTHER = "C0OTHER01"


class Clock:
    """Seconds that pass only when someone sleeps on them."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.now += seconds


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def slack(clock):
    emulator = SlackEmulator().start()
    emulator.clock = clock
    emulator.add_channel(SOC, "security-ops")
    emulator.add_channel(OTHER, "other")
    yield emulator
    emulator.stop()


@pytest.fixture
def limits(clock):
    return SlackRateLimits(clock=clock, sleep=clock.sleep)


@pytest.fixture
def client(slack, limits):
    return RateLimitedClient(
        rate_limits=limits,
        token=slack.bot_token,
        base_url=slack.api_url,
        retry_handlers=[limits.retry_handler()],
    )


def test_a_429_is_waited_out_and_the_call_made_again(slack, client, clock):
    slack.fail_next("chat.postMessage", status=429, retry_after=3)
    assert client.chat_postMessage(channel=SOC, text="card")["ok"]
    first, second = slack.calls_to("chat.postMessage")
    assert (first.status, second.status) == (429, 200)
    assert second.clock_at - first.clock_at >= 3
    assert clock.slept == [3.0]


def test_every_caller_of_the_method_waits_for_the_retry_after_not_just_the_refused_one(
    slack, client, limits, clock
):
    slack.fail_next(
        "users.info", status=429, retry_after=10, times=4
    )  # the call's own retries are refused too
    with pytest.raises(SlackApiError) as refused:
        client.users_info(user="U0PHISHBOT")
    assert refused.value.response.status_code == 429
    assert limits.seconds_until("users.info") == 10
    assert limits.seconds_until("chat.update") == 0  # another method is not held
    started = clock.now
    assert client.users_info(user="U0PHISHBOT")["ok"]  # the next caller waits the rest first
    last_refused, succeeded = slack.calls_to("users.info")[-2:]
    assert succeeded.status == 200 and succeeded.clock_at >= last_refused.clock_at + 10
    assert clock.now - started >= 10


def test_after_a_429_callers_take_turns_at_the_published_rate(limits, clock):
    limits.refused("chat.postMessage", SOC, 2)
    limits.wait_turn("chat.postMessage", SOC)
    limits.wait_turn("chat.postMessage", SOC)
    limits.wait_turn("chat.postMessage", SOC)
    spacing = 60 / PER_MINUTE["chat.postMessage"]
    assert clock.slept == [2.0, spacing, spacing]
    # Long after the last 429, calls go at once again.
    clock.sleep(RECOVERY_SECONDS + 1)
    clock.slept.clear()
    limits.wait_turn("chat.postMessage", SOC)
    limits.wait_turn("chat.postMessage", SOC)
    assert clock.slept == []


def test_posting_is_held_per_channel(slack, client, limits, clock):
    slack.fail_next("chat.postMessage", status=429, retry_after=30, times=4)
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel=SOC, text="x")
    assert limits.seconds_until("chat.postMessage", SOC) == 30
    assert limits.seconds_until("chat.postMessage", OTHER) == 0
    started = clock.now
    assert client.chat_postMessage(channel=OTHER, text="elsewhere")["ok"]
    assert clock.now == started  # the other channel did not wait


def test_a_refused_card_edit_is_left_to_its_drawer(slack, client, limits, clock):
    posted = client.chat_postMessage(channel=SOC, text="v1")
    slack.fail_next("chat.update", status=429, retry_after=4)
    with pytest.raises(SlackApiError) as refused:
        client.chat_update(channel=SOC, ts=posted["ts"], text="v2")
    assert refused.value.response.status_code == 429
    assert [c.status for c in slack.calls_to("chat.update")] == [429]  # not repeated in this thread
    assert clock.slept == [] and limits.seconds_until("chat.update") == 4
    assert limits.refusals == 1


def test_the_wait_ends_at_shutdown_and_nothing_is_retried_then(slack, clock):
    stopping = [False]

    def sleep(seconds: float) -> None:
        stopping[0] = True  # SIGTERM while waiting: the wait ends at once
        clock.sleep(0)

    limits = SlackRateLimits(clock=clock, sleep=sleep, stopping=lambda: stopping[0])
    client = RateLimitedClient(
        rate_limits=limits,
        token=slack.bot_token,
        base_url=slack.api_url,
        retry_handlers=[limits.retry_handler()],
    )
    limits.refused("users.info", None, 60)
    slack.fail_next("users.info", status=429, retry_after=60)
    with pytest.raises(SlackApiError):
        client.users_info(user="U0PHISHBOT")
    assert [c.status for c in slack.calls_to("users.info")] == [429]
