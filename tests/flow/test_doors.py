"""Every door of a report, end to end through the real bot over HTTP: the message shortcut, Slack's Email app
forwarding into an intake channel (as an attachment, inline with the original found in the mailbox or not, from
an address no Slack user has), the modal's "pick from my recent emails", .msg files, reporters without an
email address, dedupe across many reporters, and reporters' languages. Each test reads what Slack and
Microsoft Graph actually received."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from importlib import resources

import pytest
from conftest import ALICE, BOB, EMAILS, INTAKE, SOC
from msgfile import MsgMessage, build_msg

from bot.domain import CaseStatus
from bot.email.parsing import original_message_bytes
from bot.slack.contract import ModalCallback

SAMPLES = resources.files("bot.sandbox") / "samples"
PHISH = (SAMPLES / "credential-phish.eml").read_bytes()
WRAPPED = (SAMPLES / "forwarded-phish.eml").read_bytes()
FINISHED = {CaseStatus.VERDICT, CaseStatus.GAVE_UP, CaseStatus.FAILED, CaseStatus.DISMISSED}
GUEST = "U0GUEST01"
RANDOM = "C0RANDOM01"


def email_submissions(graph):
    return [
        r
        for r in graph.requests
        if r.method == "POST" and r.path == "/beta/security/threatSubmission/emailThreats" and not r.in_batch
    ]


def url_submissions(graph):
    return [
        r
        for r in graph.requests
        if r.method == "POST" and r.path == "/beta/security/threatSubmission/urlThreats" and not r.in_batch
    ]


def submitted_mime(request) -> bytes:
    return base64.b64decode(request.body["fileContent"])


def wait_case(slack, bot, case_id: int, statuses=FINISHED, timeout: float = 15.0):
    return slack.wait_for(
        lambda: (view := bot.store.cases.case_view(case_id)).status in statuses and view, timeout=timeout
    )


def ephemerals_to(slack, user_id):
    return [e for e in slack.ephemerals if e["user"] == user_id]


def responses_text(slack) -> str:
    return "\n".join(str(r.get("text") or "") for r in slack.responses)


def last_message(slack, channel):
    return slack.messages(channel, include_users=True)[-1]


def mailbox_requests(graph, suffix: str = ""):
    return [r for r in graph.requests if "/messages" in r.path and r.path.endswith(suffix)]


def the_phish(
    subject: str, sender: str = "no-reply@login-micros0ft-secure.example", mid: str = "orig-1"
) -> bytes:
    return (
        f"Received: from mail.login-micros0ft-secure.example (203.0.113.45) by mx.contoso.example\r\n"
        f"Authentication-Results: spf=fail (sender IP is 203.0.113.45) smtp.mailfrom=login-micros0ft-secure"
        f".example; dkim=none (message not signed) header.d=none;dmarc=fail action=quarantine "
        f"header.from=login-micros0ft-secure.example;compauth=fail reason=000\r\n"
        f'From: "IT Desk" <{sender}>\r\n'
        f"To: {EMAILS[ALICE]}\r\n"
        f"Subject: {subject}\r\n"
        f"Date: Mon, 24 Nov 2026 09:14:00 +0000\r\n"
        f"Message-ID: <{mid}@login-micros0ft-secure.example>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Verify your password at https://login-micros0ft-secure.example/verify now.\r\n"
    ).encode()


@pytest.fixture
def random_channel(slack):
    slack.add_channel(RANDOM, "random", members=[ALICE, BOB, GUEST])
    return RANDOM


# --- the message shortcut ---------------------------------------------------------------------------------------


def test_shortcut_on_an_emailed_message_submits_the_attached_original(bot, slack, graph, random_channel):
    # Mail to a channel that is not an intake channel: only the shortcut reports it.
    slack.email_to_channel(
        random_channel,
        from_address=EMAILS[BOB],
        from_name="Bob",
        subject="FW: Action required",
        plain_text="Bob forwarded this, see the attachment.",
        message_id="<fwd-1@contoso.example>",
        attachments=[("Action required.eml", PHISH, "message/rfc822")],
    )
    emailed = last_message(slack, random_channel)
    assert emailed.user == "USLACKBOT" and emailed.files[0]["mode"] == "email"

    assert slack.message_shortcut(ALICE, emailed).status_code == 200
    [sent] = slack.wait_for(lambda: email_submissions(graph))
    assert submitted_mime(sent) == PHISH  # the inner message, not the forward
    assert sent.body["recipientEmailAddress"] == EMAILS[BOB]  # who received the phish
    view = wait_case(slack, bot, 1)
    assert view.reporters == (ALICE,)
    assert view.message.original.message_id == "20240514081238.4F2A9C1D7E@login-micros0ft-secure.example"
    assert "Security has your report" in slack.wait_for(lambda: responses_text(slack))


@pytest.mark.parametrize("kind", ["eml", "msg"])
def test_shortcut_in_a_thread_on_a_message_with_an_email_file(bot, slack, graph, random_channel, kind):
    parent = slack.post_as_user(BOB, random_channel, "what is this?")
    if kind == "eml":
        content, expected = PHISH, PHISH
    else:
        content = build_msg(
            MsgMessage(
                subject="Your invoice is overdue",
                body="Pay at https://pay.evil.example/invoice today.",
                sender_name="Accounts",
                sender_address="billing@evil.example",
                to=[("Alice", EMAILS[ALICE])],
                message_id="<msg-1@evil.example>",
            )
        )
        expected = original_message_bytes(content)
    file = slack.add_file(BOB, f"suspicious.{kind}", content, mimetype="application/octet-stream")
    reply = slack.post_as_user(BOB, random_channel, "", files=[file], thread_ts=parent.ts)

    slack.message_shortcut(ALICE, reply)
    [sent] = slack.wait_for(lambda: email_submissions(graph))
    assert submitted_mime(sent) == expected
    assert sent.body["recipientEmailAddress"] == EMAILS[ALICE]
    if kind == "msg":
        submitted = message_from_bytes(submitted_mime(sent))
        assert submitted["Subject"] == "Your invoice is overdue"
        assert "https://pay.evil.example/invoice" in bot.store.cases.case_view(1).message.urls
        assert "converted from an Outlook .msg file" in bot.store.cases.case_view(1).message.flags
    slack.wait_for(lambda: "Security has your report" in responses_text(slack))


def test_shortcut_on_a_message_with_links_reports_each_link_once(bot, slack, graph, random_channel):
    message = slack.post_as_user(
        BOB,
        random_channel,
        "look: <https://a.phish.example/login?x=1&amp;y=2|this> and <https://b.phish.example/> "
        "and again <https://a.phish.example/login?x=1&amp;y=2> and <mailto:x@phish.example|mail>",
    )
    slack.message_shortcut(ALICE, message)
    sent = slack.wait_for(lambda: len(url_submissions(graph)) == 2 and url_submissions(graph))
    assert sorted(r.body["webUrl"] for r in sent) == [
        "https://a.phish.example/login?x=1&y=2",
        "https://b.phish.example/",
    ]
    # One answer for both links.
    [answer] = slack.wait_for(lambda: [r for r in slack.responses if "Security has your report" in str(r)])
    assert answer["text"].count("Security has your report") == 2
    wait_case(slack, bot, 2)
    assert len(url_submissions(graph)) == 2


def test_shortcut_caps_the_links_it_reports(bot, slack, graph, random_channel):
    links = " ".join(f"<https://l{i}.phish.example/>" for i in range(14))
    slack.message_shortcut(ALICE, slack.post_as_user(BOB, random_channel, links))
    slack.wait_for(lambda: "Only the first 10 of the 14 links" in responses_text(slack))
    assert len(url_submissions(graph)) == 10


def test_shortcut_on_a_message_with_nothing_to_report_says_so(bot, slack, graph, random_channel):
    slack.message_shortcut(ALICE, slack.post_as_user(BOB, random_channel, "lunch at noon?"))
    slack.wait_for(lambda: "nothing phishbot can report" in responses_text(slack))
    assert email_submissions(graph) == [] and url_submissions(graph) == []


# --- Slack's Email app forwarding into an intake channel -----------------------------------------------------


def test_email_app_forward_as_attachment_submits_the_inner_message(bot, slack, graph):
    response = slack.email_to_channel(
        INTAKE,
        from_address=EMAILS[ALICE],
        from_name="Alice",
        subject="FW: Your mailbox is almost full",
        plain_text="see attached",
        message_id="<fwd-2@contoso.example>",
        attachments=[("Your mailbox is almost full.eml", PHISH, "message/rfc822")],
    )
    assert response.status_code == 200
    [sent] = slack.wait_for(lambda: email_submissions(graph))
    assert submitted_mime(sent) == PHISH
    assert sent.body["recipientEmailAddress"] == EMAILS[ALICE]
    view = wait_case(slack, bot, 1)
    assert view.reporters == (ALICE,)
    assert "attached original" in view.message.provenance
    [ack] = slack.wait_for(lambda: ephemerals_to(slack, ALICE))
    assert "Security has your report" in ack["text"]
    assert slack.calls_to("files.info"), "the Email app's fields are read from files.info"
    # Slack redelivering the event makes nothing new.
    slack.redeliver_last_event()
    slack.wait_for(lambda: slack.dms(ALICE))
    assert len(email_submissions(graph)) == 1 and len(ephemerals_to(slack, ALICE)) == 1


def test_email_app_raw_download_that_wraps_the_original_is_used(bot, slack, graph):
    # Should Slack ever serve the raw forward at url_private_download, the wrapped original is found in it.
    slack.email_to_channel(
        INTAKE,
        from_address=EMAILS[ALICE],
        subject="FW: Your mailbox is almost full",
        plain_text="This looks like phishing",
        download=WRAPPED,
    )
    [sent] = slack.wait_for(lambda: email_submissions(graph))
    assert submitted_mime(sent) == original_message_bytes(WRAPPED) != WRAPPED


OUTLOOK_FORWARD = """Hi Security, this came in this morning.

________________________________
From: IT Desk <no-reply@login-micros0ft-secure.example>
Sent: Monday, November 24, 2026 10:14 AM
To: Alice <alice@contoso.example>
Subject: {subject}

Verify your password at https://login-micros0ft-secure.example/verify now.
"""

DUTCH_GMAIL_FORWARD = """---------- Doorgestuurd bericht ---------
Van: IT Desk <no-reply@login-micros0ft-secure.example>
Date: ma 24 nov 2026 om 10:14
Subject: {subject}
To: <alice@contoso.example>

Verify your password at https://login-micros0ft-secure.example/verify now.
"""


@pytest.mark.parametrize("template", [OUTLOOK_FORWARD, DUTCH_GMAIL_FORWARD], ids=["outlook-en", "gmail-nl"])
def test_email_app_inline_forward_submits_the_original_from_the_mailbox(bot, slack, graph, template):
    subject = "Don't lose access: verify today"  # a quote: the $filter literal must double it
    original = the_phish(subject)
    received = datetime(2026, 11, 24, 9, 14, 5, tzinfo=UTC)
    graph.add_mailbox_message(EMAILS[ALICE], the_phish("Weekly newsletter", mid="other"), received=received)
    graph.add_mailbox_message(EMAILS[ALICE], original, received=received)
    graph.add_mailbox_message(
        EMAILS[ALICE], the_phish(subject, mid="older"), received=received - timedelta(days=20)
    )

    slack.email_to_channel(
        INTAKE,
        from_address=EMAILS[ALICE],
        subject=f"FW: {subject}",
        plain_text=template.format(subject=subject),
        message_id="<fwd-3@contoso.example>",
    )
    [sent] = slack.wait_for(lambda: email_submissions(graph))
    assert submitted_mime(sent) == original  # the mailbox's MIME, not the forward
    view = wait_case(slack, bot, 1)
    assert view.message.message_id == "orig-1@login-micros0ft-secure.example"
    assert "found in their mailbox" in view.message.provenance
    [search] = [r for r in mailbox_requests(graph) if "$filter" in r.query]
    assert "subject eq 'Don''t lose access: verify today'" in search.query["$filter"]
    assert "from/emailAddress/address eq 'no-reply@login-micros0ft-secure.example'" in search.query["$filter"]
    assert search.path == f"/v1.0/users/{EMAILS[ALICE]}/messages"
    assert mailbox_requests(graph, "/$value")
    card = slack.messages(SOC)[0]
    assert "found in their mailbox" in str(card.blocks)


def test_email_app_inline_forward_not_found_submits_the_forward_and_says_so(bot, slack, graph):
    graph.add_mailbox_message(EMAILS[ALICE], the_phish("Something else"))
    slack.email_to_channel(
        INTAKE,
        from_address=EMAILS[ALICE],
        subject="FW: Verify your account",
        plain_text=OUTLOOK_FORWARD.format(subject="Verify your account"),
        message_id="<fwd-4@contoso.example>",
    )
    [sent] = slack.wait_for(lambda: email_submissions(graph))
    rebuilt = message_from_bytes(submitted_mime(sent))
    assert rebuilt["Subject"] == "FW: Verify your account"
    assert rebuilt["Message-ID"] == "<fwd-4@contoso.example>"
    assert "Verify your password at https://login-micros0ft-secure.example/verify" in (
        rebuilt.get_payload(decode=True).decode()
    )
    view = wait_case(slack, bot, 1)
    assert "not found in their mailbox" in view.message.provenance
    assert "not found in their mailbox" in str(slack.messages(SOC)[0].blocks)
    [ack] = slack.wait_for(lambda: ephemerals_to(slack, ALICE))
    assert "could not find the original email in your mailbox" in ack["text"]


def test_email_app_without_mail_read_submits_the_forward(bot, slack, graph):
    graph.mail_access = False
    slack.email_to_channel(
        INTAKE,
        from_address=EMAILS[ALICE],
        subject="FW: Verify your account",
        plain_text=OUTLOOK_FORWARD.format(subject="Verify your account"),
    )
    [sent] = slack.wait_for(lambda: email_submissions(graph))
    assert message_from_bytes(submitted_mime(sent))["Subject"] == "FW: Verify your account"
    assert "not found" in wait_case(slack, bot, 1).message.provenance


def test_email_app_from_an_address_no_slack_user_has(bot, slack, graph):
    slack.email_to_channel(
        INTAKE,
        from_address="contractor@partner.example",
        subject="FW: invoice",
        plain_text="fyi",
        attachments=[("invoice.eml", PHISH, "message/rfc822")],
    )
    [sent] = slack.wait_for(lambda: email_submissions(graph))
    assert submitted_mime(sent) == PHISH
    assert sent.body["recipientEmailAddress"] == "contractor@partner.example"
    notice = slack.wait_for(
        lambda: [m for m in slack.messages(INTAKE) if "no Slack user has the sender" in m.text]
    )[0]
    assert "contractor@partner[.]example" in notice.text and notice.thread_ts is not None
    view = wait_case(slack, bot, 1)
    assert len(view.reporters) == 1 and view.reporters[0].startswith("mail:")
    # Nobody to tell: no DM is attempted for the unmatched address.
    assert all(
        not str(c.args.get("users", "")).startswith("mail:") for c in slack.calls_to("conversations.open")
    )
    assert bot.store.reporters.cases_with_untold_reporters() == []


# --- the modal: pick from my recent emails -------------------------------------------------------------------


def test_modal_lists_recent_emails_and_submits_the_chosen_one(bot, slack, graph):
    now = datetime.now(UTC)
    chosen = the_phish("Password expires today", mid="pick-me")
    graph.add_mailbox_message(
        EMAILS[ALICE], the_phish("Old news", mid="old"), received=now - timedelta(days=3)
    )
    graph.add_mailbox_message(EMAILS[ALICE], chosen, received=now - timedelta(hours=1))
    graph.add_mailbox_message(
        EMAILS[ALICE],
        the_phish("Draft", sender=EMAILS[ALICE], mid="own"),
        received=now - timedelta(minutes=5),
    )
    for index in range(20):
        graph.add_mailbox_message(
            EMAILS[ALICE],
            the_phish(f"Filler {index}", mid=f"f{index}"),
            received=now - timedelta(days=10 + index),
        )

    slack.slash_command(ALICE, "", channel_id=INTAKE)
    view = slack.wait_for(
        lambda: (
            (v := slack.last_view())
            and any(b.get("block_id") == "recent" and b["type"] == "input" for b in v["blocks"])
            and v
        )
    )
    [recent] = [b for b in view["blocks"] if b.get("block_id") == "recent"]
    labels = [o["text"]["text"] for o in recent["element"]["options"]]
    assert len(labels) == 15  # the 15 newest
    assert labels[0].startswith("Password expires today — IT Desk")
    assert not any("Draft" in label for label in labels)  # what Alice sent herself is not listed
    assert all(len(label) <= 75 for label in labels)

    values = slack.state_values(view["id"], {"recent": "0"})
    assert slack.submit_view(ALICE, view["id"], values).status_code == 200
    [sent] = slack.wait_for(lambda: email_submissions(graph))
    assert submitted_mime(sent) == chosen
    assert sent.body["recipientEmailAddress"] == EMAILS[ALICE]
    listing = [r for r in mailbox_requests(graph) if r.path.endswith("/messages") and "$orderby" in r.query]
    assert listing and listing[0].query["$orderby"] == "receivedDateTime desc"


def test_modal_without_mail_read_drops_the_choice_and_remembers(bot, slack, graph):
    graph.mail_access = False
    slack.slash_command(ALICE, "", channel_id=INTAKE)
    first = slack.wait_for(lambda: slack.calls_to("views.update") and slack.last_view())
    assert "recent" not in {b.get("block_id") for b in first["blocks"]}
    assert [b.get("block_id") for b in first["blocks"] if b["type"] == "input"] == [
        "file",
        "url",
        "category",
        "note",
    ]
    asked = len(mailbox_requests(graph))
    assert asked == 1

    slack.slash_command(ALICE, "", channel_id=INTAKE)
    second = slack.wait_for(lambda: len(slack.calls_to("views.open")) == 2 and slack.last_view())
    assert "recent" not in {b.get("block_id") for b in second["blocks"]}  # not even "looking…"
    assert len(mailbox_requests(graph)) == asked  # the 403 is remembered
    assert len(slack.calls_to("views.update")) == 1


# --- reporters without an email address ---------------------------------------------------------------------


def test_a_guest_using_the_shortcut_on_an_email_file_is_told_why(bot, slack, graph, random_channel):
    file = slack.add_file(BOB, "x.eml", PHISH)
    message = slack.post_as_user(BOB, random_channel, "", files=[file])
    slack.message_shortcut(GUEST, message)
    slack.wait_for(lambda: "work email address" in responses_text(slack))
    assert email_submissions(graph) == []


def test_a_guest_uploading_through_the_modal_is_told_why(bot, slack, graph):
    slack.slash_command(GUEST, "", channel_id=INTAKE)
    view = slack.wait_for(lambda: slack.calls_to("views.update") and slack.last_view())
    file = slack.add_file(
        GUEST, "x.msg", build_msg(MsgMessage(subject="s", body="b", sender_address="a@evil.example"))
    )
    slack.submit_view(GUEST, view["id"], slack.state_values(view["id"], {"file": file}))
    [notice] = slack.wait_for(lambda: ephemerals_to(slack, GUEST))
    assert "work email address" in notice["text"]
    assert email_submissions(graph) == []


# --- dedupe ------------------------------------------------------------------------------------------------------


def test_fifty_reporters_of_one_message_make_one_submission_and_one_card(bot, slack, graph):
    reporters = [f"U0MANY{i:04d}" for i in range(50)]
    for user_id in reporters:
        slack.add_user(user_id, name=user_id.lower(), email=f"{user_id.lower()}@contoso.example")
    for user_id in reporters:
        slack.upload_file(user_id, INTAKE, "phish.eml", PHISH)
    slack.wait_for(lambda: len(bot.store.cases.case_view(1).reporters) == 50, timeout=60)
    view = wait_case(slack, bot, 1, timeout=30)
    assert len(email_submissions(graph)) == 1
    assert set(view.reporters) == set(reporters)
    slack.wait_for(lambda: all(ephemerals_to(slack, u) for u in reporters), timeout=30)
    [card] = slack.messages(SOC)
    slack.wait_for(lambda: "+40 more" in str(slack.messages(SOC)[0].blocks), timeout=20)
    assert len(slack.messages(SOC)) == 1 and card.ts == slack.messages(SOC)[0].ts


def test_a_reporter_joining_a_finished_case_is_thanked_and_told_the_verdict(bot, slack, graph):
    slack.upload_file(ALICE, INTAKE, "a.eml", PHISH)
    wait_case(slack, bot, 1)
    slack.wait_for(lambda: slack.dms(ALICE))
    slack.upload_file(BOB, INTAKE, "b.eml", PHISH)
    [ack] = slack.wait_for(lambda: ephemerals_to(slack, BOB))
    assert "already reported" in ack["text"] and "malicious" in ack["text"]
    assert len(email_submissions(graph)) == 1
    # The acknowledgement carried the outcome: no second message with it.
    assert bot.store.reporters.cases_with_untold_reporters() == []
    assert slack.dms(BOB) == []


def test_the_same_file_uploaded_again_creates_nothing_new(bot, slack, graph):
    slack.upload_file(ALICE, INTAKE, "a.eml", PHISH)
    slack.wait_for(lambda: ephemerals_to(slack, ALICE))
    slack.upload_file(ALICE, INTAKE, "a-again.eml", PHISH)
    slack.wait_for(lambda: len(ephemerals_to(slack, ALICE)) == 2)
    assert "already reported this" in ephemerals_to(slack, ALICE)[1]["text"]
    wait_case(slack, bot, 1)
    assert len(email_submissions(graph)) == 1
    assert bot.store.cases.case_view(1).reporters == (ALICE,)


# --- the reporter's language ----------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["nl-NL", "nl-BE"])
def test_dutch_reporters_hear_dutch(bot, slack, graph, locale):
    slack.add_user("U0DUTCH01", name="daan", email="daan@contoso.example", locale=locale)
    slack.upload_file("U0DUTCH01", INTAKE, "a.eml", PHISH)
    [ack] = slack.wait_for(lambda: ephemerals_to(slack, "U0DUTCH01"))
    assert ack["text"].startswith("Bedankt — Security heeft je melding")
    [outcome] = slack.wait_for(lambda: slack.dms("U0DUTCH01"))
    assert "kwaadaardig" in outcome.text
    # The SOC card stays English.
    assert "Reported by" in str(slack.messages(SOC)[0].blocks)
    slack.upload_file("U0DUTCH01", INTAKE, "nope.eml", b"\x00\x01 not an email")
    slack.wait_for(
        lambda: any("Dat bestand is geen e-mail" in e["text"] for e in ephemerals_to(slack, "U0DUTCH01"))
    )


def test_other_locales_hear_english(bot, slack, graph):
    slack.add_user("U0FRENCH1", name="zoe", email="zoe@contoso.example", locale="fr-FR")
    slack.upload_file("U0FRENCH1", INTAKE, "a.eml", PHISH)
    [ack] = slack.wait_for(lambda: ephemerals_to(slack, "U0FRENCH1"))
    assert ack["text"].startswith("Thanks — Security has your report")
    assert ModalCallback.REPORT == "report.submit"


def outlook_phish() -> bytes:
    return build_msg(
        MsgMessage(
            subject="Shared document",
            body="Open https://docs.evil.example/share?id=1 to view.",
            sender_name="Docs",
            sender_address="share@evil.example",
            to=[("Alice", EMAILS[ALICE])],
            message_id="<outlook-1@evil.example>",
            transport_headers=(
                "Authentication-Results: spf=fail smtp.mailfrom=evil.example; dmarc=fail\r\n"
                "From: Docs <share@evil.example>\r\nSubject: Shared document\r\n"
                "Message-ID: <outlook-1@evil.example>\r\nDate: Mon, 24 Nov 2026 09:14:00 +0000\r\n"
            ),
        )
    )


def test_an_msg_uploaded_into_an_intake_channel_is_submitted_as_mime(bot, slack, graph):
    data = outlook_phish()
    slack.upload_file(ALICE, INTAKE, "Shared document.msg", data, mimetype="application/vnd.ms-outlook")
    [sent] = slack.wait_for(lambda: email_submissions(graph))
    mime = submitted_mime(sent)
    assert mime == original_message_bytes(data) and not mime.startswith(b"\xd0\xcf")
    assert message_from_bytes(mime)["Message-ID"] == "<outlook-1@evil.example>"
    view = wait_case(slack, bot, 1)
    assert view.message.urls == ("https://docs.evil.example/share?id=1",)


def test_email_app_forward_with_an_msg_attached_submits_it_as_mime(bot, slack, graph):
    data = outlook_phish()
    slack.email_to_channel(
        INTAKE,
        from_address=EMAILS[ALICE],
        subject="FW: Shared document",
        plain_text="see attached",
        attachments=[("Shared document.msg", data, "application/vnd.ms-outlook")],
    )
    [sent] = slack.wait_for(lambda: email_submissions(graph))
    assert submitted_mime(sent) == original_message_bytes(data)
    assert wait_case(slack, bot, 1).message.message_id == "outlook-1@evil.example"
