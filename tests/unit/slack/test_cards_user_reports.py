"""The Slack side of the Report button: the card of a case reported with it (who and how, the employee's own
submission, Mark as … and notify), the Mark-as modal, what a reporter hears, and the App Home of a reporter and
of a responder. Pure functions, validated with slack_sdk's models."""

from __future__ import annotations

import dataclasses
import json

from test_cards import NOW, USER_SUBMISSIONS, assert_valid_view, block, case, states, verdict

from bot.domain import (
    CaseKind,
    CaseStatus,
    Category,
    DetectedFile,
    ReviewView,
)
from bot.slack import cards
from bot.slack import i18n as messages
from bot.slack.contract import ActionId, ModalCallback
from bot.store import CaseSummary, OpenCaseGroup, OpenCaseLine


def buttons(blocks) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_the_card_says_who_reported_it_and_how_and_mentions_only_slack_users():
    _, blocks = cards.case_card(states(CaseKind.EMAIL)["report_button"], now=NOW)
    reporters = block(blocks, "reporters")
    assert "<@U0REPORTER1> (Report button)" in reporters
    assert "<@U0REPORTER2> (Slack)" in reporters
    # An address no Slack user has is shown, escaped, never mentioned.
    assert "&lt;!channel&gt;@corp[.]example (Report button)" in reporters
    assert "<!channel>" not in json.dumps(blocks)
    assert "mail:" not in reporters


def test_the_card_shows_the_employees_own_submission_and_offers_mark_as_and_notify():
    _, blocks = cards.case_card(states(CaseKind.EMAIL)["report_button"], now=NOW)
    text = block(blocks, "user_reports")
    assert "2 employee submissions" in text and "does not submit the message again" in text
    assert "cannot Resubmit or Block it" in text
    shown = buttons(blocks)
    assert shown[0] == ActionId.REVIEW
    # Without a copy of the message there is nothing to send: no Block, no Resubmit; Purge still works.
    assert ActionId.BLOCK not in shown and ActionId.RESUBMIT not in shown
    assert ActionId.PURGE in shown and ActionId.DISMISS in shown
    submission = block(blocks, "submission")
    assert "the employee's own (Report button)" in submission
    assert "<https://security.microsoft.com/reportsubmission?viewid=user|User reported" in submission


def test_once_every_submission_is_marked_the_button_goes_and_the_card_says_by_whom():
    view = states(CaseKind.EMAIL)["report_button_reviewed"]
    _, blocks = cards.case_card(view, now=NOW)
    assert ActionId.REVIEW not in buttons(blocks)
    assert ActionId.BLOCK in buttons(blocks)  # this case has the message's bytes
    text = block(blocks, "user_reports")
    assert "Marked as *phishing* by <@U0RESPONDER>: Microsoft notifies ann@corp[.]example" in text
    assert "Marked as phishing and notified by <@U0RESPONDER>" in block(blocks, "history")
    # A failed review is offered again.
    failed = dataclasses.replace(
        view,
        user_submissions=(
            dataclasses.replace(USER_SUBMISSIONS[0], review=ReviewView("spam", "U0RESPONDER", "failed", NOW)),
        ),
    )
    _, blocks = cards.case_card(failed, now=NOW)
    assert ActionId.REVIEW in buttons(blocks)
    assert "Marking as *spam* failed" in block(blocks, "user_reports")


def test_a_dismissed_case_offers_no_mark_as():
    view = dataclasses.replace(states(CaseKind.EMAIL)["report_button"], status=CaseStatus.DISMISSED)
    assert buttons(cards.case_card(view, now=NOW)[1]) == []


def test_the_mark_as_modal_preselects_microsofts_verdict_and_names_who_is_told():
    view = states(CaseKind.EMAIL)["report_button"]
    modal = cards.review_modal(view)
    assert_valid_view(modal)
    assert modal["callback_id"] == ModalCallback.REVIEW
    assert json.loads(modal["private_metadata"]) == {"case_id": view.case_id}
    intro = modal["blocks"][0]["text"]["text"]
    assert "tell the 2 employees" in intro and "&lt;!channel&gt;@corp[.]example" in intro
    choice = modal["blocks"][1]["element"]
    assert [o["value"] for o in choice["options"]] == ["phishing", "malware", "spam", "notJunk"]
    assert choice["initial_option"]["value"] == "phishing"
    picks = {
        "malware": verdict("malware", detected_files=(DetectedFile("a.exe", "00"),)),
        "spam": verdict("spam", "itemFoundSpam"),
        "notJunk": verdict("noThreatsFound", "itemFoundClean"),
    }
    for expected, answer in picks.items():
        modal = cards.review_modal(dataclasses.replace(view, verdict=answer))
        assert modal["blocks"][1]["element"]["initial_option"]["value"] == expected
    # No verdict yet: what the reporter said it was.
    pending = dataclasses.replace(view, verdict=None, category=Category.SPAM)
    assert cards.review_modal(pending)["blocks"][1]["element"]["initial_option"]["value"] == "spam"


def test_the_mark_as_modal_reads_only_its_own_choices():
    def submitted(value):
        return {
            "private_metadata": json.dumps({"case_id": 12}),
            "state": {"values": {"category": {"category": {"selected_option": {"value": value}}}}},
        }

    assert cards.read_review_modal(submitted("malware")) == cards.ReviewForm(12, "malware")
    assert cards.read_review_modal(submitted("notSpam")).category is None
    assert cards.read_review_modal({"state": "garbage"}) == cards.ReviewForm(None, None)


def test_a_reporter_hears_the_review_in_their_language():
    view = case(CaseKind.EMAIL)
    text, blocks = cards.reporter_review(view, "phishing", messages.ENGLISH)
    assert text.startswith(
        "Security reviewed your report of the email “Your mailbox is full”: it is phishing."
    )
    assert "Don't click its links" in text
    dutch, _ = cards.reporter_review(view, "notJunk", messages.DUTCH)
    assert "geen ongewenste e-mail" in dutch


def summary(case_id, **changes) -> CaseSummary:
    base = CaseSummary(
        case_id,
        CaseStatus.VERDICT,
        "Your mailbox is full <!here>",
        NOW,
        verdict("phishing"),
        kind=CaseKind.EMAIL,
        url=None,
        door="upload",
    )
    return dataclasses.replace(base, **changes)


def test_a_reporters_home_lists_their_reports_with_the_verdict_in_words_and_what_to_do():
    reports = [
        summary(3),
        summary(
            2,
            kind=CaseKind.URL,
            subject="https://evil.example/login",
            url="https://evil.example/login",
            verdict=None,
            status=CaseStatus.CHECKING,
        ),
        summary(1, door="report_button", reviewed_as="phishing", verdict=verdict("spam", "itemFoundSpam")),
    ]
    view = cards.app_home(reports, language=messages.ENGLISH)
    assert_valid_view(view)
    assert view["type"] == "home"
    text = json.dumps(view)
    assert ActionId.HOME_REPORT in buttons(view["blocks"])
    first = block(view["blocks"], "report_3")
    assert "The email “Your mailbox is full &lt;!here&gt;”" in first
    assert "Microsoft: malicious. Don't click its links" in first
    link = block(view["blocks"], "report_2")
    assert "the link hxxps://evil[.]example/login" in link.lower()
    assert "Microsoft Defender is analysing it" in link
    outlook = block(view["blocks"], "report_1")
    assert "Security marked it as phishing." in outlook and "with the Report button" in outlook
    assert "Open cases" not in text  # not a responder: nobody else's cases


def test_an_empty_home_says_so_in_the_persons_language():
    view = cards.app_home([], language=messages.DUTCH)
    assert_valid_view(view)
    assert "Je hebt nog niets gemeld." in json.dumps(view, ensure_ascii=False)


def test_a_responders_home_counts_the_open_cases_and_links_each_card():
    line = OpenCaseLine(
        case_id=9,
        kind=CaseKind.EMAIL,
        status=CaseStatus.VERDICT,
        subject="Invoice <@U123>",
        url=None,
        created_at=NOW,
        verdict=verdict("phishing"),
        card=("C0SOC0001", "1700000000.000100"),
    )
    groups = [
        OpenCaseGroup("running", 0, []),
        OpenCaseGroup("to_act", 12, [line]),
        OpenCaseGroup("waiting", 3, [dataclasses.replace(line, case_id=10, status=CaseStatus.CHECKING)]),
    ]
    view = cards.app_home(
        [], groups=groups, links={9: "https://sandbox.slack.com/archives/C0SOC0001/p1700000000000100"}
    )
    assert_valid_view(view)
    counts = block(view["blocks"], "open_counts")
    assert "Verdict in, nothing done yet: *12*" in counts and "Waiting for Microsoft: *3*" in counts
    to_act = block(view["blocks"], "open_to_act")
    assert "<https://sandbox.slack.com/archives/C0SOC0001/p1700000000000100|Case #9>" in to_act
    assert "&lt;@U123&gt;" in to_act and "…and 11 more" in to_act
    assert "Case #10" in block(view["blocks"], "open_waiting")
    assert "open_running" not in json.dumps(view)
