"""Messages employees report with Outlook's Report button, end to end through the real bot: Microsoft's user-reported
submissions (the Graph emulator's Report button) become one card per message within one poll, join and are joined
by Slack reports of the same message, are marked and notified by responders only, survive a restart without a
second card, and a refused or throttled listing leaves the rest of the bot working. Each test reads what Slack and
Microsoft actually received."""

from __future__ import annotations

import json
import logging
from email.message import EmailMessage
from importlib import resources

import pytest
from conftest import ALICE, BOB, EMAILS, INTAKE, OUTSIDER, RESPONDER, SOC, RunningBot

from bot.domain import CaseStatus
from bot.slack.contract import ActionId, ModalCallback

SAMPLE = (resources.files("bot.sandbox") / "samples" / "credential-phish.eml").read_bytes()
THREATS = "/beta/security/threatSubmission/emailThreats"
POLL = 60  # PHISHBOT_USER_REPORTS_POLL's default
CAROL = "carol@contoso.example"  # has a mailbox, but no Slack account


def phish(n: int, subject: str = "Verify your account now") -> bytes:
    message = EmailMessage()
    message["From"] = "IT Support <support@login-micros0ft-secure.example>"
    message["To"] = EMAILS[ALICE]
    message["Subject"] = f"{subject} #{n}"
    message["Message-ID"] = f"<user-report-{n}@login-micros0ft-secure.example>"
    message["Date"] = "Tue, 02 Dec 2026 09:00:00 +0000"
    message.set_content(f"Your password expires today: https://login-micros0ft-secure.example/reset/{n}")
    return message.as_bytes()


def admin_submissions(graph):
    return [r for r in graph.requests if r.method == "POST" and r.path == THREATS and not r.in_batch]


def listings(graph):
    return [
        r
        for r in graph.requests
        if r.method == "GET" and r.path == THREATS and "source eq 'user'" in r.query.get("$filter", "")
    ]


def card_text(slack) -> str:
    [card] = slack.messages(SOC)
    return json.dumps(card.blocks)


def to(slack, user_id):
    return [e for e in slack.ephemerals if e["user"] == user_id] + [
        r for r in slack.responses if r.get("user") == user_id
    ]


def opened_modal(slack, user_id, callback_id):
    entries = [e for e in list(slack.views.values()) if e["user"] == user_id and e["open"]]
    return next((e["view"] for e in entries if e["view"]["callback_id"] == callback_id), None)


@pytest.fixture
def quiet_bot(slack, graph, tls, database_url, clock):
    """The bot whose scheduler leaves every round after the first to the test: each Graph call is the test's."""
    running = RunningBot(slack, graph, tls, database_url, clock=clock, PHISHBOT_SWEEP_SECONDS="3600")
    yield running
    running.stop()


def test_a_report_button_report_is_one_card_within_one_poll_with_the_reporter_and_microsofts_result(
    quiet_bot, slack, graph, report_button
):
    bot = quiet_bot
    bot.sweep()  # the first listing: nothing reported yet
    graph.verdict_after = 2 * POLL  # Microsoft is still analysing Alice's report when it is listed
    submission_id = report_button.press(EMAILS[ALICE], SAMPLE)
    bot.sweep(after=POLL)

    [card] = slack.messages(SOC)  # one poll later, the card is there
    view = bot.store.cases.case_view(1)
    assert [s.microsoft_id for s in view.user_submissions] == [submission_id]
    assert view.reporters == (ALICE,) and view.reports[0].door == "report_button"
    shown = json.dumps(card.blocks)
    assert f"<@{ALICE}> (Report button)" in shown  # Slack knows Alice's address: she is mentioned
    # The original was read from Alice's mailbox: the sections of any reported email.
    ids = {b.get("block_id") for b in card.blocks}
    assert {"authentication", "urls", "user_reports"} <= ids
    assert "read the original from alice@contoso[.]example's mailbox" in shown
    assert ActionId.REVIEW in shown

    # Microsoft's result of Alice's own submission, followed on the verdict schedule; never a submission of ours.
    bot.until(lambda: bot.store.cases.case_view(1).status is CaseStatus.VERDICT)
    assert bot.store.cases.case_view(1).verdict.category == "phishing"
    slack.wait_for(lambda: "Phishing" in card_text(slack))
    assert admin_submissions(graph) == []
    reads = [r for r in graph.batch_requests() if r.path == f"{THREATS}/{submission_id}"]
    assert reads and all(r.headers.get("prefer") == "include-unknown-enum-members" for r in reads)
    # The Report button's reporter hears the result from Microsoft, not in a phishbot DM.
    assert slack.dms(ALICE) == []
    [listing] = [r for r in listings(graph) if r.query.get("$skiptoken") is None][-1:]
    assert listing.query["$filter"].startswith("source eq 'user' and createdDateTime ge ")


def test_the_same_message_then_reported_in_slack_joins_that_case(bot, slack, graph, report_button):
    report_button.press(EMAILS[ALICE], SAMPLE)
    bot.sweep(after=POLL)
    slack.wait_for(lambda: slack.messages(SOC))
    slack.upload_file(BOB, INTAKE, "fwd.eml", SAMPLE)
    [ack] = slack.wait_for(lambda: to(slack, BOB))
    assert "already reported" in ack["text"]
    assert "still analysing" in ack["text"] or "About" in ack["text"]  # where it stands
    bot.until(lambda: bot.store.cases.case_view(1).reporters == (ALICE, BOB))
    bot.until(lambda: bot.store.cases.case_view(1).status is CaseStatus.VERDICT)
    assert admin_submissions(graph) == []
    assert len(slack.messages(SOC)) == 1
    slack.wait_for(lambda: f"<@{BOB}> (Slack)" in card_text(slack))


def test_a_report_button_report_joins_the_case_of_a_message_reported_in_slack(
    bot, slack, graph, report_button
):
    slack.upload_file(BOB, INTAKE, "suspicious.eml", SAMPLE)
    slack.wait_for(lambda: admin_submissions(graph))
    report_button.press(EMAILS[ALICE], SAMPLE)
    bot.sweep(after=POLL)
    view = bot.until(lambda: (v := bot.store.cases.case_view(1)).user_submissions and v)
    assert view.reporters == (BOB, ALICE)
    assert len(admin_submissions(graph)) == 1  # Bob's report's; nothing sent for Alice's
    assert len(slack.messages(SOC)) == 1
    slack.wait_for(lambda: f"<@{ALICE}> (Report button)" in card_text(slack))
    assert bot.store.cases.case_exists(2) is False


def test_mark_as_and_notify_reviews_each_user_submission_once_for_a_responder_only(
    bot, slack, graph, report_button
):
    alices = report_button.press(EMAILS[ALICE], SAMPLE)
    bobs = report_button.press(EMAILS[BOB], SAMPLE)
    bot.sweep(after=POLL)
    bot.until(lambda: bot.store.cases.case_view(1).status is CaseStatus.VERDICT)
    assert len(bot.store.cases.case_view(1).user_submissions) == 2
    card = slack.wait_for(lambda: [m for m in slack.messages(SOC) if ActionId.REVIEW in str(m.blocks)])[0]

    # Someone who is not a responder: refused, audited, nothing sent to Microsoft.
    slack.click(OUTSIDER, ActionId.REVIEW, "1", card)
    slack.wait_for(
        lambda: [r for r in to(slack, OUTSIDER) if "Only Security responders" in r.get("text", "")]
    )
    slack.wait_for(lambda: bot.runtime.services.handover.in_flight == 0)
    assert opened_modal(slack, OUTSIDER, ModalCallback.REVIEW) is None and report_button.reviews == []

    # A responder: the choice opens with Microsoft's verdict preselected; they pick malware and confirm.
    slack.click(RESPONDER, ActionId.REVIEW, "1", card)
    modal = slack.wait_for(lambda: opened_modal(slack, RESPONDER, ModalCallback.REVIEW))
    choice = next(b for b in modal["blocks"] if b.get("block_id") == "category")["element"]
    assert choice["initial_option"]["value"] == "phishing"
    slack.submit_view(RESPONDER, modal["id"], slack.state_values(modal["id"], {"category": "malware"}))
    slack.wait_for(lambda: len(report_button.reviews) == 2)
    assert sorted(report_button.reviews) == sorted([(alices, "malware"), (bobs, "malware")])
    assert graph.submissions[alices]["adminReview"]["reviewResult"] == "malware"

    # Every attempt audited; each submission once, with its outcome.
    slack.wait_for(lambda: bot.runtime.services.handover.in_flight == 0)
    entries = [(e["actor"], e["action"], e["outcome"], e["details"]) for e in bot.store.audit.entries(1)]
    assert (OUTSIDER, "report.review", "refused") in [e[:3] for e in entries]
    assert (RESPONDER, "report.review", "allowed") in [e[:3] for e in entries]
    assert (RESPONDER, "review.submit", "allowed") in [e[:3] for e in entries]
    reviewed = sorted(e[3]["submission"] for e in entries if e[1] == "review" and e[2] == "done")
    assert reviewed == sorted([alices, bobs])
    assert all(e[3]["category"] == "malware" for e in entries if e[1] == "review")

    # The reporters phishbot finds in Slack hear it there; the card says it, and offers it no more.
    for user_id in (ALICE, BOB):
        [dm] = slack.wait_for(lambda user_id=user_id: slack.dms(user_id))
        assert "Security reviewed your report" in dm.text and "malware" in dm.text
    slack.wait_for(lambda: "Marked as *malware*" in card_text(slack))
    assert ActionId.REVIEW not in card_text(slack)

    # A third employee reports it later: only their submission is marked the next time.
    carols = report_button.press(CAROL, SAMPLE)
    bot.sweep(after=POLL)
    card = slack.wait_for(lambda: [m for m in slack.messages(SOC) if ActionId.REVIEW in str(m.blocks)])[0]
    slack.click(RESPONDER, ActionId.REVIEW, "1", card)
    modal = slack.wait_for(lambda: opened_modal(slack, RESPONDER, ModalCallback.REVIEW))
    slack.submit_view(RESPONDER, modal["id"], slack.state_values(modal["id"], {"category": "phishing"}))
    slack.wait_for(lambda: len(report_button.reviews) == 3)
    assert report_button.reviews[-1] == (carols, "phishing")
    slack.wait_for(lambda: bot.runtime.services.handover.in_flight == 0)
    assert len(report_button.reviews) == 3


def test_no_card_twice_across_a_restart(bot, slack, graph, report_button):
    report_button.press(EMAILS[ALICE], phish(1))
    bot.sweep(after=POLL)
    slack.wait_for(lambda: len(slack.messages(SOC)) == 1)
    watermark = bot.store.user_reports.poll_state("email").watermark
    bot.restart()
    report_button.press(EMAILS[BOB], phish(2))
    bot.sweep(after=POLL)
    bot.sweep(after=POLL)
    slack.wait_for(lambda: len(slack.messages(SOC)) == 2)
    state = bot.store.user_reports.poll_state("email")
    assert state.taken == 2 and state.watermark >= watermark
    assert [bot.store.cases.case_view(n).reporters for n in (1, 2)] == [(ALICE,), (BOB,)]
    assert bot.store.cases.case_exists(3) is False
    assert admin_submissions(graph) == []


def test_a_refused_listing_turns_the_feature_off_once_leaves_the_bot_working_and_is_asked_again_later(
    quiet_bot, slack, graph, report_button, caplog
):
    bot = quiet_bot
    bot.sweep()
    graph.fail_next(f"GET {THREATS}", status=403, times=2)
    report_button.press(EMAILS[ALICE], phish(1))
    with caplog.at_level(logging.WARNING, logger="bot.cases.user_reports"):
        bot.sweep(after=POLL)
        assert bot.store.user_reports.poll_state("email").denied_at is not None
        # Everything else still works: a Slack report is submitted and gets its card and verdict.
        slack.upload_file(BOB, INTAKE, "a.eml", SAMPLE)
        bot.until(lambda: bot.store.cases.case_view(1).status is CaseStatus.VERDICT)
        assert len(admin_submissions(graph)) == 1 and len(slack.messages(SOC)) == 1
        asked = len(listings(graph))
        bot.sweep(after=POLL)  # not asked again at the next poll: the permission is missing
        assert len(listings(graph)) == asked
        bot.sweep(after=3600)  # an hour later: asked, refused again, no second warning
        assert len(listings(graph)) == asked + 1
    refusals = [
        r for r in caplog.records if "refused the list of user-reported submissions" in r.getMessage()
    ]
    assert len(refusals) == 1
    bot.sweep(after=3600)  # the permission was granted meanwhile: followed again, nothing missed
    slack.wait_for(lambda: len(slack.messages(SOC)) == 2)
    assert bot.store.user_reports.poll_state("email").denied_at is None
    assert bot.store.cases.case_view(2).user_submissions


def test_a_throttled_listing_is_waited_out(quiet_bot, slack, graph, report_button):
    bot = quiet_bot
    bot.sweep()
    report_button.press(EMAILS[ALICE], phish(1))
    graph.fail_next(f"GET {THREATS}", status=429, retry_after=1)
    bot.sweep(after=POLL)
    assert len(slack.messages(SOC)) == 1
    assert [r.status for r in listings(graph)][-2:] == [429, 200]


def test_without_mail_read_the_card_says_what_it_shows_and_a_slack_report_brings_the_message(
    bot, slack, graph, report_button
):
    graph.mail_access = False
    report_button.press(CAROL, SAMPLE)
    bot.sweep(after=POLL)
    card = slack.wait_for(lambda: slack.messages(SOC))[0]
    shown = json.dumps(card.blocks)
    assert "could not read the original" in shown and "no headers, sender authentication, links" in shown
    assert "carol@contoso[.]example (Report button)" in shown  # no Slack user: the address, no mention
    assert ActionId.BLOCK not in shown and ActionId.RESUBMIT not in shown
    view = bot.store.cases.case_view(1)
    assert view.message.subject.startswith("Action required: your password expires") and not view.has_copy
    # Bob reports the same email in Slack: the case now has the message, and Block is offered.
    slack.upload_file(BOB, INTAKE, "a.eml", SAMPLE)
    bot.until(lambda: bot.store.cases.case_view(1).has_copy)
    slack.wait_for(lambda: ActionId.BLOCK in card_text(slack) and "Links in the message" in card_text(slack))
    assert admin_submissions(graph) == []


def poll_requests(bot, graph) -> list:
    """The Graph requests one poll makes: the listing's pages and the reads of the originals (the same round's
    verdict checks of earlier cases, `/beta/$batch`, are not the poll's)."""
    before = len(graph.requests)
    bot.sweep(after=POLL)
    return [
        r
        for r in graph.requests[before:]
        if not r.in_batch
        and (
            (r.method == "GET" and r.path == THREATS)
            or r.path == "/v1.0/$batch"
            or (r.method == "GET" and r.path.endswith("/$value"))
        )
    ]


def test_the_graph_calls_one_poll_makes_for_0_1_and_250_new_user_reports(
    quiet_bot, slack, graph, report_button
):
    bot = quiet_bot
    bot.sweep()
    assert [(r.method, r.path) for r in poll_requests(bot, graph)] == [("GET", THREATS)]

    report_button.press(EMAILS[ALICE], phish(0))
    one = poll_requests(bot, graph)
    assert [(r.method, r.path.rsplit("/", 1)[-1] if "/messages/" in r.path else r.path) for r in one] == [
        ("GET", THREATS),  # the listing
        ("POST", "/v1.0/$batch"),  # the original found in Alice's mailbox by its Internet-Message-ID
        ("GET", "$value"),  # and read
    ]
    assert len(slack.messages(SOC)) == 1

    for n in range(1, 102):  # a campaign: 101 messages, each reported by another employee
        report_button.press(f"employee{n:03d}@contoso.example", phish(n))
    many = poll_requests(bot, graph)
    pages = [r for r in many if r.path == THREATS]
    assert len(pages) == 2 and [bool(r.query.get("$skiptoken")) for r in pages] == [False, True]
    assert len([r for r in many if r.path == "/v1.0/$batch"]) == 6  # ⌈101/20⌉ look-ups
    assert len([r for r in many if r.path.endswith("/$value")]) == 101
    assert len(many) == 109
    assert len(slack.messages(SOC)) == 102 and bot.store.cases.case_exists(102)
    assert bot.store.user_reports.poll_state("email").taken == 102


def test_two_replicas_polling_at_once_make_one_case_and_one_card_per_report(
    slack, graph, tls, postgres_url, report_button, clock
):
    import threading

    first = RunningBot(slack, graph, tls, postgres_url, clock=clock, PHISHBOT_SWEEP_SECONDS="3600")
    second = RunningBot(slack, graph, tls, postgres_url, clock=clock, PHISHBOT_SWEEP_SECONDS="3600")
    try:
        first.sweep()
        for n in range(20):
            report_button.press(f"employee{n:03d}@contoso.example", phish(n))
        for _ in range(3):
            # Both replicas sweep at the same moment (a fail-over overlap; normally only the leader does), both
            # alive: their heartbeats are as fresh as in real time, where a minute passes between listings (the
            # clock jumping a minute would otherwise make each look dead to the other, its claim free).
            clock.advance(POLL)
            for b in (first, second):
                b.store.workers.heartbeat()
            threads = [threading.Thread(target=b.sweep) for b in (first, second)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert len(slack.messages(SOC)) == 20
        assert first.store.cases.case_exists(20) and not first.store.cases.case_exists(21)
        assert all(len(first.store.cases.case_view(n).user_submissions) == 1 for n in range(1, 21))
        assert first.store.user_reports.poll_state("email").taken == 20
    finally:
        first.stop()
        second.stop()


def test_a_shutdown_in_the_middle_of_a_listing_misses_none_and_repeats_none(
    quiet_bot, slack, graph, report_button
):
    import threading

    bot = quiet_bot
    bot.sweep()
    for n in range(5):
        report_button.press(f"employee{n:03d}@contoso.example", phish(n))
    slack.hold_answer_next("chat.postMessage", 1.0)  # the first card takes a while: SIGTERM arrives meanwhile
    round_ = threading.Thread(target=bot.sweep, kwargs={"after": POLL})
    round_.start()
    slack.wait_for(lambda: slack.calls_to("chat.postMessage"))
    bot.runtime.services.stopping.set()  # what SIGTERM does first
    round_.join()
    taken = len(slack.messages(SOC))
    assert 1 <= taken < 5  # stopped part way
    assert bot.store.user_reports.poll_state("email").taken == 0  # the listing was handed back whole
    bot.restart()
    bot.sweep()  # due at once: the handed-back listing
    assert len(slack.messages(SOC)) == 5
    assert bot.store.cases.case_exists(5) and not bot.store.cases.case_exists(6)
    assert bot.store.user_reports.poll_state("email").taken == 5 - taken


def test_with_user_reports_off_nothing_is_listed(slack, graph, tls, database_url, report_button, clock):
    bot = RunningBot(slack, graph, tls, database_url, clock=clock, PHISHBOT_USER_REPORTS="off")
    try:
        report_button.press(EMAILS[ALICE], SAMPLE)
        bot.sweep(after=POLL)
        bot.sweep(after=POLL)
        assert listings(graph) == [] and slack.messages(SOC) == []
        assert bot.store.user_reports.poll_state("email") is None
    finally:
        bot.stop()


def test_a_send_resumed_after_a_crash_does_not_take_an_employees_submission_for_its_own(
    quiet_bot, slack, graph, report_button, database_url
):
    """A worker died mid-send: before sending again, phishbot looks for what its lost attempt may have made.
    Bob's own Report-button submission of the same message, from the same mailbox, is not that."""
    from bot.domain import CaseKind, Category, Door
    from bot.email import read_report
    from bot.store import NewReport, open_store

    bot = quiet_bot
    bot.sweep()  # the first listing: before Bob presses Report
    message, raw = read_report(SAMPLE, max_bytes=25 * 1024 * 1024)
    dead = open_store(database_url)  # another process, which never beats: it is gone
    try:
        opened = dead.cases.open_case(
            NewReport(
                dedupe_key=message.dedupe_key,
                kind=CaseKind.EMAIL,
                category=Category.PHISHING,
                door=Door.UPLOAD.value,
                reporter_id=BOB,
                reporter_email=EMAILS[BOB],
                channel_id=INTAKE,
                subject=message.subject,
                message=message,
                raw=raw,
            )
        )
        assert dead.submissions.claim_send(opened.submission_id) is not None  # and then it died
    finally:
        dead.database.close()
    employees = report_button.press(EMAILS[BOB], SAMPLE)
    bot.sweep()
    assert len(admin_submissions(graph)) == 1  # sent again: Bob's own submission was not phishbot's
    view = bot.store.cases.case_view(opened.case_id)
    assert view.submission_id not in (None, employees) and view.user_submissions == ()
    bot.sweep(after=POLL)  # then his report is listed, and joins the case
    view = bot.store.cases.case_view(opened.case_id)
    assert [s.microsoft_id for s in view.user_submissions] == [employees]
    assert len(admin_submissions(graph)) == 1
