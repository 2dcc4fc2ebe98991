"""Purge, Restore and Who clicked, end to end: the real bot over HTTP, the Slack emulator clicking, the Graph
emulator answering with a seeded Defender tenant (EmailEvents, mailboxes, Safe Links clicks). Each test reads
what Microsoft and Slack actually received."""

from __future__ import annotations

import json
import re
import threading
import time
from importlib import resources

import pytest
from conftest import ALICE, INTAKE, OUTSIDER, RESPONDER, RESPONDER_GROUP, SOC, RunningBot

from bot.domain import CaseStatus, RemediationState
from bot.microsoft import OUTLOOK_CONCURRENCY_PER_MAILBOX
from bot.sandbox.defender import DefenderTenant
from bot.slack.contract import ActionId, ModalCallback

SAMPLE = (resources.files("bot.sandbox") / "samples" / "credential-phish.eml").read_bytes()
MESSAGE_ID = "<20240514081238.4F2A9C1D7E@login-micros0ft-secure.example>"
SENDER = "no-reply@login-micros0ft-secure.example"
SUBJECT = "Action required: your password expires today ⚠"
LINK = "https://login-micros0ft-secure.example/common/oauth2/authorize?client=owa"
REMEDIATE = "POST /v1.0/security/collaboration/analyzedEmails/remediate"
RECIPIENTS = [f"user{i:02d}@contoso.example" for i in range(29)] + ["alice@contoso.example"]


@pytest.fixture
def defender(graph):
    tenant = DefenderTenant(remediation_after=0.3).attach(graph)
    tenant.deliver(MESSAGE_ID, sender=SENDER, subject=SUBJECT, recipients=RECIPIENTS, urls=[LINK])
    # Noise the queries must leave alone: another message to the same people, and a quarantined copy.
    tenant.deliver(
        "<newsletter-1@contoso.example>",
        sender="news@contoso.example",
        subject="Weekly news",
        recipients=RECIPIENTS[:5],
    )
    return tenant


def report_and_wait(slack, bot):
    slack.upload_file(ALICE, INTAKE, "suspicious.eml", SAMPLE)
    bot.until(lambda: bot.store.cases.case_view(1).status is CaseStatus.VERDICT)
    return slack.wait_for(lambda: [m for m in slack.messages(SOC) if ActionId.PURGE in str(m.blocks)])[0]


def open_purge_modal(slack, card, user=RESPONDER):
    slack.click(user, ActionId.PURGE, "1", card)

    def ready():
        for entry in list(slack.views.values()):
            view = entry["view"]
            if entry["user"] == user and entry["open"] and view["callback_id"] == ModalCallback.PURGE:
                if "scope" in json.dumps(view["blocks"]):
                    return view
        return None

    return slack.wait_for(ready)


def submit_purge(slack, view, scope="message", action="softDelete", user=RESPONDER):
    values = slack.state_values(view["id"], {"scope": scope, "action": action})
    return slack.submit_view(user, view["id"], values)


def card_text(slack) -> str:
    [card] = slack.messages(SOC)
    return json.dumps(card.blocks)


def wait_remediation(
    slack, bot, states=(RemediationState.DONE, RemediationState.PARTIAL, RemediationState.FAILED)
):
    return bot.until(
        lambda: (r := bot.store.cases.case_view(1).remediation) is not None and r.state in states and r
    )


def test_a_responder_purges_a_message_from_30_mailboxes_with_defender(bot, slack, graph, defender):
    card = report_and_wait(slack, bot)
    view = open_purge_modal(slack, card)
    assert "30 mailboxes" in json.dumps(view["blocks"])

    submit_purge(slack, view)
    remediation = wait_remediation(slack, bot)

    assert remediation.state is RemediationState.DONE and (remediation.done, remediation.total) == (30, 30)
    pairs = defender.remediated_pairs()
    network_message_id = next(
        e["NetworkMessageId"] for e in defender.events if e["InternetMessageId"] == MESSAGE_ID
    )
    assert sorted(pairs) == sorted(("softDelete", network_message_id, r) for r in RECIPIENTS)
    assert all(folders == ["recoverableitemsdeletions"] for folders in defender.copies(MESSAGE_ID).values())
    assert len(defender.copies("<newsletter-1@contoso.example>")) == 5  # untouched
    slack.wait_for(lambda: "30 of 30 removed" in card_text(slack))
    assert "action-center/history" in card_text(slack)
    assert network_message_id in card_text(slack)  # for Threat Explorer
    audit = [(e["action"], e["outcome"]) for e in bot.store.audit.entries(1) if e["actor"] == RESPONDER]
    assert (ActionId.PURGE, "allowed") in audit and (ModalCallback.PURGE, "allowed") in audit
    assert ("report.purge", "done") in audit
    done = next(
        e for e in bot.store.audit.entries(1) if (e["action"], e["outcome"]) == ("report.purge", "done")
    )
    assert (
        "scope=message" in done["detail"]
        and "action=softDelete" in done["detail"]
        and "count=30" in done["detail"]
    )


def test_with_remediate_refused_403_the_mailbox_api_removes_the_same_30_copies(bot, slack, graph, defender):
    graph.fail_next(REMEDIATE, status=403, times=5)
    # Outlook throttles too: a few moves answer 429 inside their $batch, and are sent again after Retry-After.
    graph.fail_next(
        "POST /v1.0/users/{id}/messages/{mid}/move", status=429, retry_after=1, in_batch=True, times=3
    )
    card = report_and_wait(slack, bot)
    submit_purge(slack, open_purge_modal(slack, card))

    remediation = wait_remediation(slack, bot)
    assert remediation.state is RemediationState.DONE and remediation.method == "mailbox"
    assert (remediation.done, remediation.total) == (30, 30)
    copies = defender.copies(MESSAGE_ID)
    assert sorted(copies) == sorted(RECIPIENTS)
    assert all(folders == ["recoverableitemsdeletions"] for folders in copies.values())
    assert defender.remediated_pairs() == []  # Defender never accepted anything
    moves = [r for r in graph.batch_requests() if r.path.endswith("/move")]
    assert [m.status for m in moves].count(429) == 3 and [m.status for m in moves].count(201) == 30
    assert all(m.body == {"destinationId": "recoverableitemsdeletions"} for m in moves)
    assert_at_most_four_per_mailbox_per_batch(graph)
    slack.wait_for(lambda: "30 of 30 removed" in card_text(slack))
    outcomes = [(e["action"], e["outcome"]) for e in bot.store.audit.entries(1)]
    assert ("report.purge", "fallback") in outcomes and ("report.purge", "done") in outcomes


def assert_at_most_four_per_mailbox_per_batch(graph):
    envelopes = [r for r in graph.graph_requests() if r.path == "/v1.0/$batch"]
    assert envelopes
    for envelope in envelopes:
        mailboxes = [
            re.match(r"/users/([^/]+)/", inner["url"]).group(1) for inner in envelope.body["requests"]
        ]
        assert max(mailboxes.count(m) for m in mailboxes) <= OUTLOOK_CONCURRENCY_PER_MAILBOX


@pytest.fixture
def mailbox_bot(slack, graph, tls, database_url, clock):
    running = RunningBot(slack, graph, tls, database_url, clock=clock, PHISHBOT_PURGE_METHOD="mailbox")
    yield running
    running.stop()


def test_purge_method_mailbox_never_asks_defender_and_hard_delete_purges(mailbox_bot, slack, graph, defender):
    # One mailbox holds several copies of the campaign: the envelopes still carry at most four of its requests.
    for n in range(6):
        defender.deliver(
            f"<wave-{n}@login-micros0ft-secure.example>",
            sender=SENDER,
            subject=SUBJECT,
            recipients=["user00@contoso.example"],
        )
    card = report_and_wait(slack, mailbox_bot)
    submit_purge(slack, open_purge_modal(slack, card), scope="campaign", action="hardDelete")
    remediation = wait_remediation(slack, mailbox_bot)
    assert remediation.state is RemediationState.DONE and (remediation.done, remediation.total) == (36, 36)
    assert [r for r in graph.requests if "remediate" in r.path] == []
    assert defender.copies(MESSAGE_ID) == {}  # permanently deleted
    deletes = [r for r in graph.batch_requests() if r.path.endswith("/permanentDelete")]
    assert len(deletes) == 36 and all(r.body is None for r in deletes)
    assert_at_most_four_per_mailbox_per_batch(graph)
    # A hard delete cannot be restored: no Restore button.
    slack.wait_for(lambda: "36 of 36 removed" in card_text(slack))
    assert ActionId.RESTORE not in card_text(slack)


def test_the_campaign_adds_same_sender_and_subject_and_shared_links_only(bot, slack, graph, defender):
    same = defender.deliver(
        "<wave-2@login-micros0ft-secure.example>",
        sender=SENDER.upper(),
        subject=SUBJECT,
        recipients=["x1@contoso.example", "x2@contoso.example", "x3@contoso.example"],
    )
    shared = defender.deliver(
        "<other-lure@evil.example>",
        sender="billing@evil.example",
        subject="Invoice",
        recipients=["y1@contoso.example", "y2@contoso.example"],
        urls=[LINK],
    )
    defender.deliver(
        "<unrelated@partner.example>",
        sender="hello@partner.example",
        subject="Lunch?",
        recipients=["z1@contoso.example"],
        urls=["https://partner.example/menu"],
    )
    card = report_and_wait(slack, bot)
    view = open_purge_modal(slack, card)
    assert "35 mailboxes" in json.dumps(view["blocks"])
    submit_purge(slack, view, scope="campaign", action="moveToJunk")
    remediation = wait_remediation(slack, bot)
    assert (remediation.done, remediation.total) == (35, 35)
    purged = {(n, r) for _, n, r in defender.remediated_pairs()}
    assert {(same, f"x{i}@contoso.example") for i in (1, 2, 3)} <= purged
    assert {(shared, f"y{i}@contoso.example") for i in (1, 2)} <= purged
    assert not any(r == "z1@contoso.example" for _, r in purged)
    assert {a for a, _, _ in defender.remediated_pairs()} == {"moveToJunk"}


def test_a_non_responders_click_changes_nothing_and_is_audited(bot, slack, graph, defender):
    card = report_and_wait(slack, bot)
    slack.click(OUTSIDER, ActionId.PURGE, "1", card)
    slack.forge_click(OUTSIDER, ActionId.RESTORE, "1", SOC)
    slack.wait_for(
        lambda: len([r for r in slack.responses if "Only Security responders" in r.get("text", "")]) == 2
    )
    refused = sorted(
        (e["actor"], e["action"]) for e in bot.store.audit.entries(1) if e["outcome"] == "refused"
    )
    assert refused == sorted([(OUTSIDER, ActionId.PURGE), (OUTSIDER, ActionId.RESTORE)])
    assert_nothing_changed(slack, bot, defender)


def test_a_click_while_slack_cannot_list_the_responder_group_is_refused(bot, slack, graph, defender):
    card = report_and_wait(slack, bot)
    slack.fail_next("usergroups.users.list", status=500, times=20)
    slack.click(RESPONDER, ActionId.PURGE, "1", card)
    slack.wait_for(lambda: [r for r in slack.responses if "could not confirm" in r.get("text", "")])
    [entry] = [e for e in bot.store.audit.entries(1) if e["outcome"] == "refused"]
    assert (entry["actor"], entry["action"]) == (RESPONDER, ActionId.PURGE)
    assert_nothing_changed(slack, bot, defender)


def test_a_click_on_a_simulation_verdict_changes_nothing_and_says_why(bot, slack, graph, defender):
    simulation = SAMPLE.replace(
        b"Subject: =?UTF-8?B?QWN0aW9uIHJlcXVpcmVkOiB5b3VyIHBhc3N3b3JkIGV4cGlyZXM=?=",
        b"Subject: Security awareness simulation: your password expires",
    )
    slack.upload_file(ALICE, INTAKE, "drill.eml", simulation)
    bot.until(lambda: bot.store.cases.case_view(1).status is CaseStatus.VERDICT)
    assert bot.store.cases.case_view(1).verdict.is_simulation
    [card] = slack.wait_for(
        lambda: [m for m in slack.messages(SOC) if "Purge and Block are off" in str(m.blocks)]
    )
    assert ActionId.PURGE not in str(card.blocks) and ActionId.BLOCK not in str(card.blocks)
    # The button is not shown; a click on it anyway (an old card, a crafted request) is judged on the server.
    slack.forge_click(RESPONDER, ActionId.PURGE, "1", SOC)
    slack.wait_for(lambda: [r for r in slack.responses if "phishing simulation" in r.get("text", "")])
    refused = [e for e in bot.store.audit.entries(1) if e["outcome"] == "refused"]
    assert [(e["actor"], e["action"]) for e in refused] == [(RESPONDER, "report.purge")]
    assert "simulation" in refused[0]["detail"]
    assert_nothing_changed(slack, bot, defender)


def assert_nothing_changed(slack, bot, defender):
    # What a wrongly accepted click would do runs after the ack, on the handover pool: let it finish.
    slack.wait_for(lambda: bot.runtime.services.handover.in_flight == 0)
    assert bot.store.cases.case_view(1).remediations == ()
    assert defender.hunting_queries == [] and defender.remediated_pairs() == []
    assert all(folders == ["inbox"] for folders in defender.copies(MESSAGE_ID).values())
    assert [c for c in slack.calls if c.method == "views.open"] == []


def test_two_purge_submissions_50_ms_apart_make_one_remediation(bot, slack, graph, defender):
    kim = "U0KIM00001"
    slack.add_user(kim, name="kim", email="kim@contoso.example")
    slack.add_usergroup(RESPONDER_GROUP, [RESPONDER, kim])
    card = report_and_wait(slack, bot)
    first = open_purge_modal(slack, card, RESPONDER)
    second = open_purge_modal(slack, card, kim)

    def submit(user, view, delay):
        time.sleep(delay)
        submit_purge(slack, view, user=user)

    threads = [
        threading.Thread(target=submit, args=(RESPONDER, first, 0.0)),
        threading.Thread(target=submit, args=(kim, second, 0.05)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_remediation(slack, bot)
    slack.wait_for(lambda: [e for e in slack.ephemerals if "Already running" in e["text"]])
    assert len(bot.store.cases.case_view(1).remediations) == 1
    assert len(defender.remediated_pairs()) == 30
    refused = [
        e for e in bot.store.audit.entries(1) if (e["action"], e["outcome"]) == ("report.purge", "refused")
    ]
    assert len(refused) == 1 and "Already running" in refused[0]["detail"]


def test_a_hostile_message_id_reaches_hunting_as_one_escaped_literal(bot, slack, graph, defender):
    from bot.domain import CaseKind, Category, ReportedMessage
    from bot.email.parsing import parse_message
    from bot.store import NewReport

    hostile = "a\"b'c|d\nunion EmailEvents@x"  # as the parser keeps it: without the angle brackets
    defender.deliver(f"<{hostile}>", sender=SENDER, subject=SUBJECT, recipients=["victim@contoso.example"])
    parsed = parse_message(SAMPLE)
    message = ReportedMessage(**{**parsed.__dict__, "message_id": hostile})
    bot.store.cases.open_case(
        NewReport(
            dedupe_key="mid:hostile",
            kind=CaseKind.EMAIL,
            category=Category.PHISHING,
            door="upload",
            reporter_id=ALICE,
            reporter_email="alice@contoso.example",
            channel_id=INTAKE,
            subject=SUBJECT,
            message=message,
            raw=SAMPLE,
        )
    )
    card = slack.wait_for(lambda: [m for m in slack.messages(SOC) if ActionId.PURGE in str(m.blocks)])[0]
    view = open_purge_modal(slack, card)
    assert "1 mailbox" in json.dumps(view["blocks"])

    queries = [r.body["Query"] for r in graph.requests if r.path == "/v1.0/security/runHuntingQuery"]
    assert len(queries) == 2 and all(r.status == 200 for r in graph.requests if "runHuntingQuery" in r.path)
    for query in queries:
        literals = KQL_LITERAL.findall(query)
        decoded = [decode_kql(literal) for literal in literals]
        # The whole Message-ID is one literal, byte for byte, brackets included ...
        assert f"<{hostile}>" in decoded
        # ... and nothing of it leaked into the query's own text: no new pipe, no `union`, no line break.
        outside = KQL_LITERAL.sub('""', query)
        assert "union" not in outside and "EmailEvents@x" not in outside
        assert outside.count("|") == EXPECTED_PIPES[query.startswith("let ")]
        assert all("\n" not in literal for literal in literals)


# An independent reading of KQL string literals (Kusto docs: double quotes, backslash escapes \" \\ \n \t).
KQL_LITERAL = re.compile(r'"(?:[^"\\\n]|\\.)*"')
EXPECTED_PIPES = {False: 4, True: 13}  # the message query; the campaign query


def decode_kql(literal: str) -> str:
    escapes = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "'": "'"}
    return re.sub(r"\\(.)", lambda m: escapes[m.group(1)], literal[1:-1])


def test_restore_moves_the_purged_copies_back_to_the_inbox(bot, slack, graph, defender):
    card = report_and_wait(slack, bot)
    submit_purge(slack, open_purge_modal(slack, card), action="moveToDeletedItems")
    wait_remediation(slack, bot)
    card = slack.wait_for(lambda: [m for m in slack.messages(SOC) if ActionId.RESTORE in str(m.blocks)])[0]
    slack.click(RESPONDER, ActionId.RESTORE, "1", card)
    bot.until(
        lambda: (
            (r := bot.store.cases.case_view(1).remediation).kind == "restore"
            and r.state is RemediationState.DONE
        )
    )
    assert all(folders == ["inbox"] for folders in defender.copies(MESSAGE_ID).values())
    actions = [a for a, _, _ in defender.remediated_pairs()]
    assert actions == ["moveToDeletedItems"] * 30 + ["moveToInbox"] * 30
    slack.wait_for(lambda: "30 of 30 back in the Inbox" in card_text(slack))
    assert ActionId.RESTORE not in card_text(slack)
    assert ("report.restore", "done") in [(e["action"], e["outcome"]) for e in bot.store.audit.entries(1)]


def test_who_clicked_is_posted_in_the_cards_thread_with_click_throughs_first(bot, slack, graph, defender):
    network_message_id = next(
        e["NetworkMessageId"] for e in defender.events if e["InternetMessageId"] == MESSAGE_ID
    )
    defender.add_click(
        "alice@contoso.example", LINK, network_message_id=network_message_id, clicked_through=True
    )
    defender.add_click(
        "user03@contoso.example", LINK, network_message_id=network_message_id, action_type="ClickBlocked"
    )
    defender.add_click("someone@elsewhere.example", "https://unrelated.example/", network_message_id="other")
    card = report_and_wait(slack, bot)
    slack.click(RESPONDER, ActionId.WHO_CLICKED, "1", card)
    [reply] = slack.wait_for(lambda: [m for m in slack.messages(SOC) if m.thread_ts == card.ts])
    text = json.dumps(reply.blocks)
    assert "2 clicks by 2 people" in text and "1 clicked through" in text
    assert f"<@{ALICE}>" in text and "clicked through the warning" in text
    assert "user03@contoso[.]example" in text and "blocked" in text  # addresses are defanged too
    assert "unrelated" not in text and "https://" not in text  # links are defanged
    entries = slack.wait_for(
        lambda: (
            len(e := [x for x in bot.store.audit.entries(1) if x["action"] == ActionId.WHO_CLICKED]) == 2
            and e
        )
    )
    assert [e["outcome"] for e in entries] == ["allowed", "done"] and "count=2" in entries[1]["detail"]
