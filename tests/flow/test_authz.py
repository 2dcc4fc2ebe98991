"""Who may act, as the running bot decides it: PHISHBOT_RESPONDERS names the responder user group, Slack says
who is in it, and the bot remembers the answer for 30 seconds. The bot runs with a clock the test moves (the
clock that bot.services.build_services takes), so "a minute later" takes no minute.

Each test clicks on the real card over HTTP and reads what Slack, Microsoft and the audit log received."""

from __future__ import annotations

import io
import json
import time
from importlib import resources

import pytest
from conftest import (
    ALICE,
    INTAKE,
    OUTSIDER,
    RESPONDER,
    RESPONDER_GROUP,
    SOC,
    RunningBot,
    assert_no_secret,
    database_text,
)

from bot.cases.audit_export import write_audit
from bot.domain import CaseStatus
from bot.sandbox.clock import FakeClock
from bot.sandbox.defender import DefenderTenant
from bot.slack.contract import ActionId, ModalCallback

SAMPLE = (resources.files("bot.sandbox") / "samples" / "credential-phish.eml").read_bytes()
MESSAGE_ID = "<20240514081238.4F2A9C1D7E@login-micros0ft-secure.example>"
KIM = "U0KIM00001"
NOT_A_RESPONDER = "You are not listed as a responder or in a responder group."
COULD_NOT_CONFIRM = "Slack could not confirm your responder group membership"


@pytest.fixture
def clock():
    # The bot's threads and emulators live in real time: the test's clock follows it and adds what it skips.
    return FakeClock(following_real_time=True)


@pytest.fixture
def defender(graph):
    tenant = DefenderTenant(remediation_after=0.3).attach(graph)
    tenant.deliver(
        MESSAGE_ID,
        sender="no-reply@login-micros0ft-secure.example",
        subject="Action required: your password expires today",
        recipients=["alice@contoso.example", "bob@contoso.example"],
    )
    return tenant


@pytest.fixture
def start(slack, graph, tls, database_url, clock):
    """Start the real bot on the test's clock (with setting overrides); stopped and checked afterwards."""
    started: list[RunningBot] = []

    def starting(**overrides: object) -> RunningBot:
        started.append(RunningBot(slack, graph, tls, database_url, clock=clock, **overrides))
        return started[-1]

    yield starting
    for bot in started:
        bot.stop()
    assert_no_secret(database_text(database_url), "the database")


def report_and_wait(slack, bot):
    slack.upload_file(ALICE, INTAKE, "suspicious.eml", SAMPLE)
    slack.wait_for(lambda: bot.store.cases.case_view(1).status is CaseStatus.VERDICT, timeout=20)
    # The card is final once it offers Resubmit next to Purge.
    finished = lambda m: ActionId.PURGE in str(m.blocks) and ActionId.RESUBMIT in str(m.blocks)  # noqa: E731
    return slack.wait_for(lambda: [m for m in slack.messages(SOC) if finished(m)])[0]


def said_to(slack, user: str, words: str) -> list[str]:
    """The ephemeral messages the bot showed `user` that contain `words`."""
    return [e["text"] for e in slack.ephemerals if e["user"] == user and words in e["text"]]


def purge_forms_opened_for(slack, user: str) -> int:
    return len([v for v in slack.views.values() if v["user"] == user])


def purge_form_ready(slack, user: str) -> bool:
    """The form has counted the copies (its hunting queries are done) and asks what to purge."""
    return any(
        v["user"] == user
        and v["view"]["callback_id"] == ModalCallback.PURGE
        and "scope" in json.dumps(v["view"])
        for v in list(slack.views.values())
    )


def group_lookups(slack) -> int:
    return len(slack.calls_to("usergroups.users.list"))


def audited(bot, actor: str) -> list[tuple[str, str, str]]:
    return [
        (e["action"], e["outcome"], e["detail"] or "")
        for e in bot.store.audit.entries(1)
        if e["actor"] == actor
    ]


def test_a_responder_removed_from_the_group_a_minute_ago_is_refused_and_audited(
    start, slack, graph, defender, clock
):
    bot = start()
    card = report_and_wait(slack, bot)

    # Sam is in the responder group: Purge opens its form and the copies are counted at Microsoft.
    slack.click(RESPONDER, ActionId.PURGE, "1", card)
    slack.wait_for(lambda: purge_form_ready(slack, RESPONDER))
    hunting_before = len(defender.hunting_queries)
    assert group_lookups(slack) == 1

    # Sam leaves Security; a minute later Sam clicks Purge and Dismiss on the same card.
    slack.add_usergroup(RESPONDER_GROUP, [KIM])
    clock.advance(60)
    slack.click(RESPONDER, ActionId.PURGE, "1", card)
    slack.click(RESPONDER, ActionId.DISMISS, "1", card)

    # Both refused, and Sam is told why.
    refusals = slack.wait_for(
        lambda: len(r := said_to(slack, RESPONDER, "Only Security responders")) == 2 and r
    )
    assert all(NOT_A_RESPONDER in text for text in refusals)
    # The bot asked Slack again instead of trusting what it knew a minute ago.
    assert group_lookups(slack) >= 2
    time.sleep(0.5)  # give a wrongly accepted click the time to do harm
    # Nothing happened: no second form, no hunting, no purge, the case is still open.
    assert purge_forms_opened_for(slack, RESPONDER) == 1
    assert len(defender.hunting_queries) == hunting_before
    assert defender.remediated_pairs() == []
    assert bot.store.cases.case_view(1).status is CaseStatus.VERDICT
    assert len(graph.submissions) == 1

    # The audit log has the allowed click and both refusals, with the reason.
    assert sorted(audited(bot, RESPONDER)) == sorted(
        [
            (ActionId.PURGE, "allowed", f"Member of responder group {RESPONDER_GROUP}."),
            (ActionId.PURGE, "refused", NOT_A_RESPONDER),
            (ActionId.DISMISS, "refused", NOT_A_RESPONDER),
        ]
    )
    # ... and `phishbot audit` prints it.
    out = io.StringIO()
    write_audit(bot.store.audit.entries(), "json", out)
    printed = [(e["actor"], e["action"], e["outcome"]) for e in json.loads(out.getvalue())]
    assert (RESPONDER, ActionId.DISMISS, "refused") in printed and (
        RESPONDER,
        ActionId.PURGE,
        "refused",
    ) in printed


def test_someone_just_added_to_the_group_can_act_at_once(start, slack, graph, clock):
    slack.add_user(KIM, name="kim", email="kim@contoso.example")
    bot = start()
    card = report_and_wait(slack, bot)
    slack.click(RESPONDER, ActionId.RESUBMIT, "1", card)
    slack.wait_for(lambda: said_to(slack, RESPONDER, "day"))  # Sam may: the choice of when is offered
    assert group_lookups(slack) == 1

    # Kim joins the group; the bot's copy of it is 11 s old, still fresh, but without Kim in it.
    slack.add_usergroup(RESPONDER_GROUP, [RESPONDER, KIM])
    clock.advance(11)
    slack.click(KIM, ActionId.RESUBMIT, "1", card)
    slack.wait_for(lambda: said_to(slack, KIM, "day"))
    assert group_lookups(slack) == 2  # a miss asked Slack again
    assert (ActionId.RESUBMIT, "allowed", f"Member of responder group {RESPONDER_GROUP}.") in audited(
        bot, KIM
    )


def test_a_stream_of_refused_clicks_asks_slack_at_most_once_per_10_seconds(start, slack, graph, clock):
    bot = start()
    card = report_and_wait(slack, bot)
    slack.click(RESPONDER, ActionId.RESUBMIT, "1", card)  # an allowed click fills the cache
    slack.wait_for(lambda: said_to(slack, RESPONDER, "day"))
    for _ in range(5):
        slack.click(OUTSIDER, ActionId.RESUBMIT, "1", card)
    slack.wait_for(lambda: len(said_to(slack, OUTSIDER, NOT_A_RESPONDER)) == 5)
    assert group_lookups(slack) == 1
    clock.advance(10)
    slack.click(OUTSIDER, ActionId.RESUBMIT, "1", card)
    slack.wait_for(lambda: len(said_to(slack, OUTSIDER, NOT_A_RESPONDER)) == 6)
    assert group_lookups(slack) == 2
    refused = [entry for entry in audited(bot, OUTSIDER) if entry[1] == "refused"]
    assert len(refused) == 6


@pytest.mark.parametrize(
    "fault",
    [{"status": 500}, {"status": 429, "retry_after": 0}],
    ids=["server-error", "ratelimited"],
)
def test_when_slack_cannot_list_the_group_a_member_is_refused(start, slack, graph, clock, fault):
    bot = start()
    card = report_and_wait(slack, bot)
    slack.click(RESPONDER, ActionId.RESUBMIT, "1", card)
    slack.wait_for(lambda: said_to(slack, RESPONDER, "day"))

    # The cached answer has expired and Slack cannot give a new one: refused, not waved through on old data.
    clock.advance(60)
    slack.fail_next("usergroups.users.list", times=10, **fault)
    slack.click(RESPONDER, ActionId.DISMISS, "1", card)
    [text] = slack.wait_for(lambda: said_to(slack, RESPONDER, COULD_NOT_CONFIRM))
    assert "Only Security responders" in text
    time.sleep(0.3)
    assert bot.store.cases.case_view(1).status is CaseStatus.VERDICT
    [refusal] = [entry for entry in audited(bot, RESPONDER) if entry[1] == "refused"]
    assert refusal[:2] == (ActionId.DISMISS, "refused") and COULD_NOT_CONFIRM in refusal[2]


def test_a_responder_listed_by_id_acts_while_slack_cannot_list_the_group(start, slack, graph):
    bot = start(PHISHBOT_RESPONDERS=f"{RESPONDER_GROUP},{RESPONDER}")
    card = report_and_wait(slack, bot)
    slack.fail_next("usergroups.users.list", status=500, times=10)
    slack.click(RESPONDER, ActionId.DISMISS, "1", card)
    slack.wait_for(lambda: bot.store.cases.case_view(1).status is CaseStatus.DISMISSED)
    assert (ActionId.DISMISS, "allowed", "Listed in PHISHBOT_RESPONDERS.") in audited(bot, RESPONDER)
    assert group_lookups(slack) == 0  # listed by id: Slack is not asked at all
