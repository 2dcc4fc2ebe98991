"""A report, end to end, through the real bot over HTTP: signed requests in, the Slack and Graph emulators on
loopback, the store on SQLite. Each test reads what Slack and Microsoft actually received."""

from __future__ import annotations

import base64
from importlib import resources

import pytest
from conftest import ALICE, BOB, EMAILS, INTAKE, OUTSIDER, RESPONDER, SOC

from bot.domain import CaseStatus
from bot.slack.contract import ActionId, ModalCallback

SAMPLE = (resources.files("bot.sandbox") / "samples" / "credential-phish.eml").read_bytes()
FINISHED = {CaseStatus.VERDICT, CaseStatus.GAVE_UP, CaseStatus.FAILED, CaseStatus.DISMISSED}


def submissions(graph, kind: str):
    return [
        r
        for r in graph.requests
        if r.method == "POST" and r.path == f"/beta/security/threatSubmission/{kind}" and not r.in_batch
    ]


def wait_case(slack, bot, case_id: int, statuses=FINISHED, timeout: float = 15.0):
    """Sweeps at moved-on times until the case is in one of `statuses`: poll gaps are skipped, not waited out."""
    return bot.until(
        lambda: (view := bot.store.cases.case_view(case_id)).status in statuses and view, timeout=timeout
    )


def ephemerals_to(slack, user_id):
    return [e for e in slack.ephemerals if e["user"] == user_id]


def test_an_uploaded_eml_is_submitted_once_and_its_card_is_edited_to_the_verdict(bot, slack, graph):
    response = slack.upload_file(ALICE, INTAKE, "suspicious.eml", SAMPLE)
    assert response.status_code == 200

    view = wait_case(slack, bot, 1)
    assert view.status is CaseStatus.VERDICT and view.verdict.category == "phishing"

    sent = submissions(graph, "emailThreats")
    assert len(sent) == 1
    body = sent[0].body
    assert body["@odata.type"] == "#microsoft.graph.security.emailContentThreatSubmission"
    assert body["recipientEmailAddress"] == EMAILS[ALICE]
    assert body["category"] == "phishing"
    assert base64.b64decode(body["fileContent"]) == SAMPLE

    # One card, posted once, edited in place to the final verdict.
    slack.wait_for(lambda: slack.dms(ALICE))
    assert len(slack.calls_to("chat.postMessage")) - len(slack.dms(ALICE)) == 1
    [card] = slack.messages(SOC)
    assert card.updates >= 1
    assert "Phishing" in card.text
    assert ActionId.DISMISS in str(card.blocks) and ActionId.RESUBMIT in str(card.blocks)

    # The reporter heard at once, and then the outcome, once.
    assert len(ephemerals_to(slack, ALICE)) == 1
    outcome = slack.wait_for(lambda: slack.dms(ALICE))
    assert len(outcome) == 1
    assert "malicious" in outcome[0].text.lower() or "phish" in outcome[0].text.lower()

    # Every read of a verdict asked for the evolvable enum members.
    reads = [r for r in graph.requests if r.in_batch or r.method == "GET"]
    reads = [r for r in reads if "threatSubmission" in r.path]
    assert reads and all(r.headers.get("prefer") == "include-unknown-enum-members" for r in reads)


def test_report_phish_with_a_url_submits_that_url(bot, slack, graph):
    response = slack.slash_command(
        ALICE, "https://login-micros0ft-secure.example/owa/?u=alice", channel_id=INTAKE
    )
    assert response.status_code == 200
    assert "phishbot" in response.text  # the immediate acknowledgement

    view = wait_case(slack, bot, 1)
    assert view.url == "https://login-micros0ft-secure.example/owa/?u=alice"
    [sent] = submissions(graph, "urlThreats")
    assert sent.body == {
        "@odata.type": "#microsoft.graph.security.urlThreatSubmission",
        "category": "phishing",
        "webUrl": "https://login-micros0ft-secure.example/owa/?u=alice",
    }
    assert len(slack.messages(SOC)) == 1
    # The reporter's acknowledgement went to the command's response_url; the outcome to a DM.
    assert any("Security has your report" in (r.get("text") or "") for r in slack.responses)
    slack.wait_for(lambda: slack.dms(ALICE))


def test_a_second_reporter_joins_the_case_and_microsoft_is_not_asked_twice(bot, slack, graph):
    slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
    slack.wait_for(lambda: submissions(graph, "emailThreats"))
    slack.upload_file(BOB, INTAKE, "b.eml", SAMPLE)
    slack.wait_for(lambda: ephemerals_to(slack, BOB))
    wait_case(slack, bot, 1)
    assert len(submissions(graph, "emailThreats")) == 1
    assert bot.store.cases.case_view(1).reporters == (ALICE, BOB)
    assert "already reported" in ephemerals_to(slack, BOB)[0]["text"]
    slack.wait_for(lambda: slack.dms(ALICE) and slack.dms(BOB))
    assert len(slack.messages(SOC)) == 1


def test_a_redelivered_event_is_one_report(bot, slack, graph):
    slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
    slack.wait_for(lambda: ephemerals_to(slack, ALICE))
    slack.redeliver_last_event()
    wait_case(slack, bot, 1)
    assert len(submissions(graph, "emailThreats")) == 1
    assert len(ephemerals_to(slack, ALICE)) == 1


def test_a_file_that_is_not_an_email_gets_a_clear_message_and_no_case(bot, slack, graph):
    slack.upload_file(ALICE, INTAKE, "notes.eml", b"\x00\x01\x02 this is not an email \xff" * 10)
    [notice] = slack.wait_for(lambda: ephemerals_to(slack, ALICE))
    assert "not an email" in notice["text"]
    assert submissions(graph, "emailThreats") == []
    assert slack.messages(SOC) == []


def test_files_outside_intake_channels_and_other_types_are_ignored(bot, slack, graph):
    slack.add_channel("C0RANDOM01", "random", members=[ALICE])
    slack.upload_file(ALICE, "C0RANDOM01", "a.eml", SAMPLE)
    slack.upload_file(ALICE, INTAKE, "cat.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64, mimetype="image/png")
    # A report that counts, sent after them: by the time its case is finished, the others were long handled.
    slack.upload_file(BOB, INTAKE, "real.eml", SAMPLE)
    wait_case(slack, bot, 1)
    assert bot.store.reporters.cases_reported_by(ALICE) == []
    assert len(submissions(graph, "emailThreats")) == 1


def test_a_reporter_without_an_email_address_is_told_why(bot, slack, graph):
    slack.upload_file("U0GUEST01", INTAKE, "a.eml", SAMPLE)
    [notice] = slack.wait_for(lambda: ephemerals_to(slack, "U0GUEST01"))
    assert "email address" in notice["text"]
    assert submissions(graph, "emailThreats") == []


@pytest.mark.parametrize(
    ("timestamp_offset", "signature"),
    [(0, "v0=" + "0" * 64), (-301, None), (0, "")],
    ids=["bad-signature", "stale-timestamp", "missing-signature"],
)
def test_unsigned_or_stale_requests_are_refused_with_401(bot, slack, graph, timestamp_offset, signature):
    import time

    body = b"command=%2Freport-phish&text=https%3A%2F%2Fevil.example&user_id=U0ALICE01&channel_id=C0INTAKE01"
    response = slack.send_signed(
        body,
        "application/x-www-form-urlencoded",
        timestamp=int(time.time()) + timestamp_offset,
        signature=signature,
    )
    assert response.status_code == 401
    assert submissions(graph, "urlThreats") == []


def _finished_card(slack, bot):
    slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
    wait_case(slack, bot, 1)
    # The card in Slack has been edited to the verdict once it offers Resubmit.
    return slack.wait_for(lambda: [m for m in slack.messages(SOC) if ActionId.RESUBMIT in str(m.blocks)])[0]


def test_a_non_responder_cannot_resubmit_or_dismiss(bot, slack, graph):
    card = _finished_card(slack, bot)
    for action_id in (ActionId.RESUBMIT, ActionId.DISMISS):
        assert slack.click(OUTSIDER, action_id, "1", card).status_code == 200
    # The choice buttons are only ever shown to responders; a forged click on one is judged all the same.
    assert slack.forge_click(OUTSIDER, ActionId.RESUBMIT_NOW, "1", SOC).status_code == 200
    slack.wait_for(
        lambda: len([r for r in slack.responses if "Only Security responders" in r.get("text", "")]) == 3
    )
    refused = [e for e in bot.store.audit.entries(1) if e["outcome"] == "refused"]
    # The clicks are handled concurrently: compare without order.
    assert sorted((e["actor"], e["action"]) for e in refused) == sorted(
        [(OUTSIDER, ActionId.RESUBMIT), (OUTSIDER, ActionId.DISMISS), (OUTSIDER, ActionId.RESUBMIT_NOW)]
    )
    assert len(submissions(graph, "emailThreats")) == 1
    assert bot.store.cases.case_view(1).status is CaseStatus.VERDICT


def test_a_button_naming_another_case_is_refused_and_audited(bot, slack, graph):
    _finished_card(slack, bot)
    for value in ("999", "1; DROP TABLE cases", "", "-1"):
        slack.forge_click(RESPONDER, ActionId.DISMISS, value, SOC)
    slack.wait_for(lambda: len([e for e in bot.store.audit.entries() if e["outcome"] == "refused"]) == 4)
    assert bot.store.cases.case_view(1).status is CaseStatus.VERDICT


def test_a_responder_resubmits_within_a_day_only_after_choosing(bot, slack, graph):
    card = _finished_card(slack, bot)
    slack.click(RESPONDER, ActionId.RESUBMIT, "1", card)
    choice = slack.wait_for(
        lambda: [r for r in slack.responses if ActionId.RESUBMIT_NOW in str(r.get("blocks"))]
    )
    assert "day" in choice[0]["text"]
    assert len(submissions(graph, "emailThreats")) == 1  # nothing sent yet

    slack.click_ephemeral(RESPONDER, ActionId.RESUBMIT_NOW, "1", SOC)
    slack.wait_for(lambda: len(submissions(graph, "emailThreats")) == 2)
    wait_case(slack, bot, 1, statuses={CaseStatus.VERDICT})
    actions = [a.action for a in bot.store.cases.case_view(1).actions]
    assert actions == ["resubmitted"]
    allowed = [e for e in bot.store.audit.entries(1) if e["actor"] == RESPONDER and e["outcome"] == "allowed"]
    assert [e["action"] for e in allowed] == [ActionId.RESUBMIT, ActionId.RESUBMIT_NOW]


def test_a_scheduled_resubmission_is_durable_across_a_restart(bot, slack, graph):
    card = _finished_card(slack, bot)
    slack.click(RESPONDER, ActionId.RESUBMIT, "1", card)
    slack.wait_for(lambda: [r for r in slack.responses if ActionId.RESUBMIT_LATER in str(r.get("blocks"))])
    slack.click_ephemeral(RESPONDER, ActionId.RESUBMIT_LATER, "1", SOC)
    slack.wait_for(lambda: bot.store.cases.case_view(1).resubmit_due_at is not None)
    due = bot.store.cases.case_view(1).resubmit_due_at
    bot.restart()
    view = bot.store.cases.case_view(1)
    assert view.resubmit_due_at == due
    assert [a.action for a in view.actions] == ["resubmit_scheduled"]
    assert len(submissions(graph, "emailThreats")) == 1

    # Not a minute early, and sent once its day has passed, by the restarted bot's sweep.
    bot.sweep()
    assert len(submissions(graph, "emailThreats")) == 1
    bot.sweep(after=(due - bot.clock.now()).total_seconds() + 1)
    assert len(submissions(graph, "emailThreats")) == 2


def test_dismiss_tells_every_reporter(bot, slack, graph):
    card = _finished_card(slack, bot)
    slack.wait_for(lambda: slack.dms(ALICE))
    slack.click(RESPONDER, ActionId.DISMISS, "1", card)
    wait_case(slack, bot, 1, statuses={CaseStatus.DISMISSED})
    dms = slack.wait_for(lambda: len(slack.dms(ALICE)) == 2 and slack.dms(ALICE))
    assert "isn't a threat" in dms[-1].text
    assert [a.action for a in bot.store.cases.case_view(1).actions] == ["dismissed"]


def test_healthz_and_readyz(bot, slack):
    import httpx

    assert httpx.get(f"http://127.0.0.1:{bot.port}/healthz").status_code == 200
    # Ready once Slack's auth.test has answered (HTTP mode has no connection to watch).
    ready = slack.wait_for(
        lambda: (r := httpx.get(f"http://127.0.0.1:{bot.port}/readyz")).status_code == 200 and r
    )
    body = ready.json()
    assert body["checks"] == {"database": True, "slack": True, "scheduler": True}
    assert body["scheduler"] == "leader" and body["mode"] == "http"
    assert slack.calls_to("auth.test")


def test_report_phish_alone_opens_the_form_and_an_uploaded_eml_is_reported(bot, slack, graph):
    slack.slash_command(ALICE, "", channel_id=INTAKE)
    view = slack.wait_for(slack.last_view)
    assert view["callback_id"] == ModalCallback.REPORT
    file = slack.add_file(ALICE, "phish.eml", SAMPLE, mimetype="message/rfc822")
    values = slack.state_values(view["id"], {"file": file, "category": "malware", "note": "Looks off"})
    response = slack.submit_view(ALICE, view["id"], values)
    assert response.status_code == 200 and response.text in ("", "{}")
    view_after = wait_case(slack, bot, 1)
    assert view_after.category.value == "malware" and view_after.note == "Looks off"
    [sent] = submissions(graph, "emailThreats")
    assert sent.body["category"] == "malware"
    assert base64.b64decode(sent.body["fileContent"]) == SAMPLE
    # The form came from #phish-reports: the acknowledgement is shown there, to Alice only.
    assert ephemerals_to(slack, ALICE)


def test_the_form_asks_again_when_neither_file_nor_link_is_given(bot, slack, graph):
    slack.slash_command(ALICE, "", channel_id=INTAKE)
    view = slack.wait_for(slack.last_view)
    response = slack.submit_view(ALICE, view["id"], {}, strict=False)
    assert response.json()["response_action"] == "errors"
    assert "url" in response.json()["errors"]
    assert graph.submissions == {}


@pytest.mark.parametrize(
    "text", ["not a link", "javascript:alert(1)", "ftp://files.example/x", "https://a b"]
)
def test_report_phish_with_something_that_is_not_a_url_explains(bot, slack, graph, text):
    slack.slash_command(ALICE, text, channel_id=INTAKE)
    slack.wait_for(lambda: [r for r in slack.responses if "/report-phish" in (r.get("text") or "")])
    assert graph.submissions == {}


def test_report_phish_help_and_status(bot, slack, graph):
    help_response = slack.slash_command(ALICE, "help", channel_id=INTAKE)
    assert "/report-phish" in help_response.text
    slack.slash_command(ALICE, "https://evil.example/login", channel_id=INTAKE)
    wait_case(slack, bot, 1)
    slack.slash_command(ALICE, "status", channel_id=INTAKE)
    status = slack.wait_for(lambda: [r for r in slack.responses if "#1" in str(r.get("blocks"))])
    assert "evil[.]example" in str(status[-1]["blocks"])
