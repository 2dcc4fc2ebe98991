"""Block, end to end: an email submission carrying tenantAllowOrBlockListAction, its results read on the verdict
schedule and shown on the card, Microsoft's throttle on the same message respected by scheduling (durably), and
the automatic block of PHISHBOT_AUTO_BLOCK — never for a simulation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest
from conftest import ALICE, INTAKE, OUTSIDER, RESPONDER, SOC, RunningBot
from graph_schema import validate_graph_request

from bot.domain import CaseStatus
from bot.slack.contract import ActionId, ModalCallback
from bot.slack.safe_text import mrkdwn

SAMPLE = (resources.files("bot.sandbox") / "samples" / "credential-phish.eml").read_bytes()
EMAIL_THREATS = "/beta/security/threatSubmission/emailThreats"


def submissions(graph):
    return [r for r in graph.requests if r.method == "POST" and r.path == EMAIL_THREATS and not r.in_batch]


def block_submissions(graph):
    return [r for r in submissions(graph) if "tenantAllowOrBlockListAction" in (r.body or {})]


@pytest.fixture
def bot(slack, graph, tls, database_url, clock):
    # Microsoft's 15 minutes between two submissions of one message, shortened so the test watches a
    # throttled block go out; the three-per-24-hours rule keeps its real length.
    running = RunningBot(slack, graph, tls, database_url, clock=clock, PHISHBOT_SAME_ITEM_GAP_SECONDS="1")
    yield running
    running.stop()


@pytest.fixture
def auto_bot(slack, graph, tls, database_url, clock):
    running = RunningBot(
        slack,
        graph,
        tls,
        database_url,
        clock=clock,
        PHISHBOT_SAME_ITEM_GAP_SECONDS="1",
        PHISHBOT_AUTO_BLOCK="phishing",
    )
    yield running
    running.stop()


def reported_card(slack, bot, sample=SAMPLE):
    slack.upload_file(ALICE, INTAKE, "suspicious.eml", sample)
    bot.until(lambda: bot.store.cases.case_view(1).status is CaseStatus.VERDICT)
    return slack.wait_for(lambda: [m for m in slack.messages(SOC) if ActionId.BLOCK in str(m.blocks)])[0]


def block(slack, card, *, days="30", note=""):
    slack.click(RESPONDER, ActionId.BLOCK, "1", card)

    def opened():
        entries = [e for e in list(slack.views.values()) if e["user"] == RESPONDER and e["open"]]
        return next((e["view"] for e in entries if e["view"]["callback_id"] == ModalCallback.BLOCK), None)

    view = slack.wait_for(opened)
    values = slack.state_values(view["id"], {"expiry": days, "note": note})
    slack.submit_view(RESPONDER, view["id"], values)
    return view


def card_text(slack) -> str:
    [card] = slack.messages(SOC)
    return json.dumps(card.blocks)


def test_a_responder_blocks_a_case_and_the_card_lists_created_and_skipped_entries(bot, slack, graph):
    # The phishing host is on the tenant's list already: Microsoft skips that entry.
    graph.tenant_block_list.add(("url", "cdn.login-micros0ft-secure.example"))
    card = reported_card(slack, bot)
    view = block(slack, card, days="90", note="campaign seen by three teams")
    shown = json.dumps(view["blocks"])
    assert (
        "no-reply@login-micros0ft-secure[.]example" in shown and "login-micros0ft-secure[.]example" in shown
    )
    slack.wait_for(
        lambda: (
            bot.store.cases.case_view(1).blocks and bot.store.cases.case_view(1).blocks[-1].state == "done"
        ),
        timeout=20,
    )

    [sent] = block_submissions(graph)
    assert len(submissions(graph)) == 2  # the report's own, and the block
    action = sent.body["tenantAllowOrBlockListAction"]
    assert validate_graph_request("POST", EMAIL_THREATS, sent.body) == []
    assert action["action"] == "block" and action["note"] == "campaign seen by three teams"
    expires = datetime.fromisoformat(action["expirationDateTime"].replace("Z", "+00:00"))
    assert abs(expires - (datetime.now(UTC) + timedelta(days=90))) < timedelta(minutes=5)

    results = graph.submissions[next(iter(b.submission_id for b in bot.store.cases.case_view(1).blocks))][
        "tenantAllowOrBlockListAction"
    ]["results"]
    created = {r["value"] for r in results if r["status"] == "succeeded"}
    skipped = {r["value"] for r in results if r["status"] == "skipped"}
    assert skipped == {"cdn.login-micros0ft-secure.example"} and created
    slack.wait_for(lambda: "Now on the list" in card_text(slack))
    text = card_text(slack)
    for value in created | skipped:
        assert mrkdwn(value, 300) in text  # shown, defanged
    skipped_part = text[text.index("Skipped by Microsoft") :]
    assert mrkdwn("cdn.login-micros0ft-secure.example", 300) in skipped_part
    outcomes = [(e["actor"], e["action"], e["outcome"]) for e in bot.store.audit.entries(1)]
    assert (RESPONDER, ActionId.BLOCK, "allowed") in outcomes and (
        RESPONDER,
        "report.block",
        "sent",
    ) in outcomes
    assert ("phishbot", "report.block", "done") in outcomes


def test_a_non_responder_cannot_block(bot, slack, graph):
    card = reported_card(slack, bot)
    slack.click(OUTSIDER, ActionId.BLOCK, "1", card)
    slack.wait_for(lambda: [r for r in slack.responses if "Only Security responders" in r.get("text", "")])
    slack.wait_for(lambda: bot.runtime.services.handover.in_flight == 0)  # what the click would have done
    assert block_submissions(graph) == [] and [c for c in slack.calls if c.method == "views.open"] == []


def test_a_fourth_submission_of_the_message_within_24_hours_is_scheduled_not_sent(bot, slack, graph):
    card = reported_card(slack, bot)
    for expected in (1, 2):
        block(slack, card)
        bot.until(lambda n=expected: len(block_submissions(graph)) == n)
        bot.until(lambda: bot.store.cases.case_view(1).blocks[-1].state == "done")
        card = slack.messages(SOC)[0]
    first_sent = min(t for t in bot.store.block_requests.submission_times(1))

    block(slack, card)  # the message's fourth submission in 24 hours
    notice = slack.wait_for(lambda: [e for e in slack.ephemerals if "scheduled" in e["text"]])[0]
    due = first_sent + timedelta(hours=24)
    assert f"{due:%Y-%m-%d %H:%M} UTC" in notice["text"] and "three times per 24 hours" in notice["text"]
    pending = bot.store.cases.case_view(1).blocks[-1]
    assert pending.state == "scheduled" and abs(pending.not_before - due) < timedelta(seconds=1)
    for _ in range(3):
        bot.sweep(after=60)  # minutes later: still not sent
    assert len(block_submissions(graph)) == 2
    slack.wait_for(lambda: "waiting for Microsoft" in card_text(slack))

    bot.restart()  # the schedule is in the database
    assert bot.store.cases.case_view(1).blocks[-1].state == "scheduled"
    assert bot.store.block_requests.due_blocks(due + timedelta(seconds=1)) == [pending.block_id]
    assert len(block_submissions(graph)) == 2
    assert [e["outcome"] for e in bot.store.audit.entries(1) if e["action"] == "report.block"].count(
        "scheduled"
    ) == 1
    bot.sweep(
        after=(due - bot.clock.now()).total_seconds() + 1
    )  # its time has come: the restarted bot sends it
    assert len(block_submissions(graph)) == 3


def test_auto_block_blocks_a_phishing_verdict_once(auto_bot, slack, graph):
    slack.upload_file(ALICE, INTAKE, "suspicious.eml", SAMPLE)
    auto_bot.until(lambda: (b := auto_bot.store.cases.case_view(1).blocks) and b[0].state == "done")
    for _ in range(3):
        auto_bot.sweep(after=60)  # more rounds: no second automatic block
    [sent] = block_submissions(graph)
    assert sent.body["tenantAllowOrBlockListAction"]["action"] == "block"
    [only] = auto_bot.store.cases.case_view(1).blocks
    assert only.automatic and only.requested_by == "phishbot"
    slack.wait_for(lambda: "Automatic block" in card_text(slack))
    audit = [
        (e["actor"], e["outcome"]) for e in auto_bot.store.audit.entries(1) if e["action"] == "report.block"
    ]
    assert ("phishbot", "scheduled") in audit and ("phishbot", "sent") in audit


def test_auto_block_never_blocks_a_simulation(auto_bot, slack, graph):
    drill = SAMPLE.replace(
        b"Subject: =?UTF-8?B?QWN0aW9uIHJlcXVpcmVkOiB5b3VyIHBhc3N3b3JkIGV4cGlyZXM=?=",
        b"Subject: Security awareness simulation: your password expires",
    )
    slack.upload_file(ALICE, INTAKE, "drill.eml", drill)
    auto_bot.until(lambda: auto_bot.store.cases.case_view(1).status is CaseStatus.VERDICT)
    assert auto_bot.store.cases.case_view(1).verdict.is_simulation
    for _ in range(3):
        auto_bot.sweep(after=60)  # more rounds
    assert block_submissions(graph) == [] and auto_bot.store.cases.case_view(1).blocks == ()


def test_auto_block_skips_a_verdict_flagged_as_simulation_whatever_its_category(auto_bot, slack, graph):
    def phishing_but_simulated(content_type, body):
        return {
            "category": "phishing",
            "detail": "brandImpersonation",
            "attackSimulationInfo": {"attackSimId": "00000000-0000-0000-0000-000000000001"},
        }

    graph.outcome = phishing_but_simulated
    slack.upload_file(ALICE, INTAKE, "suspicious.eml", SAMPLE)
    auto_bot.until(lambda: (b := auto_bot.store.cases.case_view(1).blocks) and b[0].state == "skipped")
    for _ in range(3):
        auto_bot.sweep(after=60)
    assert block_submissions(graph) == []
    [entry] = [e for e in auto_bot.store.audit.entries(1) if e["action"] == "report.block"]
    assert (entry["actor"], entry["outcome"]) == ("phishbot", "skipped") and "simulation" in entry["detail"]
