"""bot.slack.cards and bot.microsoft.vocabulary: every state of a case renders, validates, stays within
Slack's limits, and shows attacker text only defanged and escaped."""

from __future__ import annotations

import dataclasses
import json
import re
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.domain import (
    Address,
    AdminReview,
    Attachment,
    AuthResult,
    BlockEntry,
    BlockView,
    CaseAction,
    CaseKind,
    CaseReport,
    CaseStatus,
    CaseView,
    Category,
    DetectedFile,
    RemediationState,
    RemediationView,
    ReportedMessage,
    ReviewView,
    UserSubmissionView,
    Verdict,
)
from bot.microsoft import vocabulary as words
from bot.slack import cards
from bot.slack.cards import blockkit
from bot.slack.contract import ActionId, ModalCallback
from bot.slack.safe_text import text_length

ENUMS = json.loads(
    (Path(__file__).resolve().parents[2] / "fixtures" / "graph-openapi" / "enums.json").read_text()
)["enums"]
NOW = datetime(2026, 11, 26, 17, 41, tzinfo=UTC)
CASE_ID = 4217
PORTAL = re.compile(
    r"<https://security\.microsoft\.com/(?:reportsubmission\?viewid=(?:email|url|user)|threatexplorerv3"
    r"|action-center/history\?[A-Za-z0-9%=&._~-]+)\|[^>]*>"
)
LIVE_SCHEME = re.compile(r"(?i)(?:https?|ftp)://")
HOSTILE_SUBJECT = "Invoice <!channel> <@U123> <https://evil.example|Microsoft> @here"


def enum_members(short_name: str) -> list[str]:
    (versions,) = [v for k, v in ENUMS.items() if k.endswith("." + short_name)]
    (enum,) = versions.values()
    return sorted(enum["members"])


# --- building cases -------------------------------------------------------------------------------------


def email_message(**changes: Any) -> ReportedMessage:
    message = ReportedMessage(
        message_id="<phish-1@evil.example>",
        subject="Your mailbox is full",
        from_=(Address("IT Helpdesk", "helpdesk@evil.example"),),
        reply_to=(Address("", "collect@evil.example"),),
        return_path="bounce@evil.example",
        to=(Address("Ann", "ann@corp.example"),),
        date="2026-11-26T08:00:00+00:00",
        authentication=(
            AuthResult("spf", "fail", "sender IP is 203.0.113.9", "mx.corp.example", trusted=True),
            AuthResult("dkim", "none", "message not signed", "mx.corp.example", trusted=True),
            AuthResult(
                "dmarc", "fail", "action=quarantine header.from=evil.example", "mx.corp.example", trusted=True
            ),
            AuthResult("compauth", "fail", "reason=000", "mx.corp.example", trusted=True),
            AuthResult("spf", "pass", "forged upstream", "relay.evil.example"),
        ),
        antispam={"SCL": "5", "BCL": "0", "CAT": "PHSH", "SFV": "SPM"},
        urls=("https://evil.example/login?u=ann", "http://xn--80ak6aa92e.com/"),
        attachments=(Attachment("invoice.html", "application/pdf", "text/html", 48_213, "ab" * 32),),
        size=60_000,
        sha256="cd" * 32,
    )
    return dataclasses.replace(message, **changes)


def case(
    kind: CaseKind = CaseKind.EMAIL, status: CaseStatus = CaseStatus.VERDICT, **changes: Any
) -> CaseView:
    base = CaseView(
        case_id=CASE_ID,
        kind=kind,
        status=status,
        category=Category.PHISHING,
        created_at=NOW - timedelta(hours=2),
        reporters=("U0REPORTER1", "U0REPORTER2"),
        message=email_message() if kind == CaseKind.EMAIL else None,
        url="https://evil.example/login" if kind == CaseKind.URL else None,
        note="It asks for my password.",
        submission_id="49c5ef5b-1f65-444a-e6b9-08d772ea2059",
        submitted_at=NOW - timedelta(hours=2),
    )
    return dataclasses.replace(base, **changes)


def verdict(
    category: str | None = "phishing", detail: str | None = "itemFoundMalicious", **changes: Any
) -> Verdict:
    return dataclasses.replace(
        Verdict(status="succeeded", category=category, detail=detail, sender="helpdesk@evil.example"),
        **changes,
    )


def states(kind: CaseKind) -> dict[str, CaseView]:
    """Every state of a case the card must show."""
    return {
        "submitting": case(kind, CaseStatus.SUBMITTING, submission_id=None, submitted_at=None),
        "checking": case(
            kind,
            CaseStatus.CHECKING,
            checks_done=3,
            next_check_at=NOW + timedelta(minutes=5),
            verdict=Verdict(status="running", detail="underInvestigation"),
        ),
        "phishing": case(kind, verdict=verdict("phishing")),
        "malware_with_files": case(
            kind,
            verdict=verdict(
                "malware",
                "goodReclassifiedAsBad",
                detected_urls=("https://evil.example/payload",),
                detected_files=(DetectedFile("invoice.html", "e3b0c44298fc1c149afbf4c8996fb924"),),
                admin_review=AdminReview("malware", "grader@microsoft.example", "2026-11-26T12:00:00Z"),
            ),
        ),
        "spam": case(kind, verdict=verdict("spam", "itemFoundSpam")),
        "clean": case(kind, verdict=verdict("noThreatsFound", "itemFoundClean")),
        "simulation": case(
            kind, verdict=verdict("phishingSimulation", "partOfEducationCampaign", is_simulation=True)
        ),
        "policy_override": case(
            kind,
            verdict=verdict(
                "allowedDueToOrganizationOverride",
                "allowedByExchangeTransportRule",
                user_mailbox_settings=("isFromAddressInAddressSafeList", "isJunkMailRuleEnabled"),
            ),
        ),
        "unknown_member": case(kind, verdict=verdict("someCategoryAddedNextYear", "someDetailAddedNextYear")),
        "no_verdict_object": case(kind, verdict=None),
        "gave_up": case(kind, CaseStatus.GAVE_UP, checks_done=40),
        "failed": case(
            kind,
            CaseStatus.FAILED,
            submission_id=None,
            error="Microsoft refused the submission: <b>InvalidRequest</b> & more",
        ),
        "dismissed": case(
            kind,
            CaseStatus.DISMISSED,
            verdict=verdict("noThreatsFound", "itemFoundClean"),
            actions=(CaseAction("dismissed", "U0RESPONDER", NOW, "newsletter"),),
        ),
        "resubmit_scheduled": case(
            kind,
            verdict=verdict("unknown", "unableToMakeDecision"),
            actions=(CaseAction("resubmit_scheduled", "U0RESPONDER", NOW),),
            resubmit_due_at=NOW + timedelta(days=1),
        ),
        "purging": case(
            kind, verdict=verdict("phishing"), remediations=(remediation(RemediationState.RUNNING),)
        ),
        "purge_verifying": case(
            kind,
            verdict=verdict("phishing"),
            remediations=(remediation(RemediationState.VERIFYING, done=12),),
        ),
        "purged": case(
            kind,
            verdict=verdict("phishing"),
            remediations=(remediation(RemediationState.DONE, done=30),),
            network_message_id="73ca4154-58d8-43d0-a890-08dc18c52e6d",
        ),
        "purge_partial": case(
            kind,
            verdict=verdict("phishing"),
            remediations=(
                remediation(
                    RemediationState.PARTIAL,
                    done=28,
                    method="mailbox",
                    remaining=("ann@corp.example", "<!channel>@evil.example"),
                    error="Defender's remediate is not permitted here; using the mailbox API instead.",
                ),
            ),
        ),
        "purge_failed": case(
            kind,
            verdict=verdict("phishing"),
            remediations=(
                remediation(RemediationState.FAILED, done=0, error="Microsoft refused: 400 <b>x</b>"),
            ),
        ),
        "hard_deleted": case(
            kind,
            verdict=verdict("phishing"),
            remediations=(remediation(RemediationState.DONE, done=30, action="hardDelete"),),
        ),
        "restored": case(
            kind,
            verdict=verdict("phishing"),
            remediations=(
                remediation(RemediationState.DONE, done=30),
                remediation(RemediationState.DONE, done=30, kind="restore", action="moveToInbox"),
            ),
        ),
        "blocked": case(
            kind, verdict=verdict("phishing"), blocks=(block_view("done", entries=BLOCK_ENTRIES),)
        ),
        "block_scheduled": case(kind, verdict=verdict("phishing"), blocks=(block_view("scheduled"),)),
        "auto_block_skipped": case(
            kind, verdict=verdict("phishing"), blocks=(block_view("skipped", error="a phishing simulation"),)
        ),
        # Reported with the Report button by a Slack user and by an address Slack does not know; the original
        # could not be read from the mailbox (no copy: no Block, no Resubmit).
        "report_button": case(
            kind,
            verdict=verdict("phishing"),
            submission_id=USER_SUBMISSIONS[0].microsoft_id,
            reports=USER_REPORTS,
            reporters=tuple(r.user_id for r in USER_REPORTS),
            user_submissions=USER_SUBMISSIONS,
            has_copy=False,
        ),
        "report_button_reviewed": case(
            kind,
            verdict=verdict("phishing"),
            reports=USER_REPORTS,
            reporters=tuple(r.user_id for r in USER_REPORTS),
            user_submissions=tuple(
                dataclasses.replace(s, review=ReviewView("phishing", "U0RESPONDER", "done", NOW))
                for s in USER_SUBMISSIONS
            ),
            actions=(CaseAction("reviewed", "U0RESPONDER", NOW, "phishing, 2 user submissions notified"),),
        ),
    }


USER_REPORTS = (
    CaseReport("U0REPORTER1", "ann@corp.example", "report_button", NOW - timedelta(hours=2)),
    CaseReport("mail:0123456789abcdef", "<!channel>@corp.example", "report_button", NOW - timedelta(hours=1)),
    CaseReport("U0REPORTER2", "bob@corp.example", "upload", NOW),
)
USER_SUBMISSIONS = (
    UserSubmissionView("0c1f5e1a-7d1e-4a1b-9f3e-000000000001", "ann@corp.example", NOW - timedelta(hours=2)),
    UserSubmissionView(
        "0c1f5e1a-7d1e-4a1b-9f3e-000000000002", "<!channel>@corp.example", NOW - timedelta(hours=1)
    ),
)


def remediation(state: RemediationState, *, done: int = 0, **changes: Any) -> RemediationView:
    base = RemediationView(
        remediation_id=7,
        kind="purge",
        scope="message",
        action="softDelete",
        method="defender",
        state=state,
        requested_by="U0RESPONDER",
        created_at=NOW - timedelta(minutes=30),
        total=30,
        done=done,
        action_center_urls=(
            'https://security.microsoft.com/action-center/history?filters={"bulkId":["b-1"]}&tid=t-1',
            "https://evil.example/action-center/history",  # not Microsoft's: never a link
        ),
    )
    return dataclasses.replace(base, **changes)


BLOCK_ENTRIES = (
    BlockEntry("sender", "helpdesk@evil.example", "succeeded", "2026-12-26T17:41:00Z"),
    BlockEntry("url", "evil.example", "succeeded", "2026-12-26T17:41:00Z"),
    BlockEntry("fileHash", "ab" * 32, "succeeded", None),
    BlockEntry("url", "<!channel> xn--80ak6aa92e.com", "skipped", None),
)


def block_view(state: str, **changes: Any) -> BlockView:
    base = BlockView(
        block_id=3,
        state=state,
        automatic=state == "skipped",
        requested_by="U0RESPONDER" if state != "skipped" else "phishbot",
        created_at=NOW - timedelta(minutes=10),
        not_before=NOW + timedelta(hours=20),
        expires_days=30,
        sent_at=NOW - timedelta(minutes=9) if state == "done" else None,
    )
    return dataclasses.replace(base, **changes)


ALL_STATES = [(kind, name) for kind in (CaseKind.EMAIL, CaseKind.URL) for name in states(kind)]


# --- checking what was rendered -------------------------------------------------------------------------


def texts(blocks: list[dict[str, Any]]) -> list[str]:
    """Every string a person can see in the blocks."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return found


def assert_valid_message(fallback: str, blocks: list[dict[str, Any]]) -> None:
    """What Slack would reject: slack_sdk's validators plus the limits they don't check (slack.md §3.2)."""
    assert 0 < len(blocks) <= 50
    assert 0 < text_length(fallback) <= 3000
    for block in blocks:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an unknown key is a typo Slack would reject
            Block.parse(block).validate_json()
        kind = block["type"]
        if kind == "header":
            assert 0 < text_length(block["text"]["text"]) <= 150
        elif kind == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert 0 < text_length(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(0 < text_length(f["text"]) <= 2000 for f in block.get("fields", []))
        elif kind == "context":
            assert 0 < len(block["elements"]) <= 10
            assert all(0 < text_length(e["text"]) <= 3000 for e in block["elements"])
        elif kind == "actions":
            assert 0 < len(block["elements"]) <= 25
            for button in block["elements"]:
                assert 0 < text_length(button["text"]["text"]) <= 75
                assert text_length(button["value"]) <= 2000
    for text in texts(blocks):
        assert text.strip(), "Slack rejects empty text objects"


def assert_nothing_live(fallback: str, blocks: list[dict[str, Any]]) -> None:
    """No live link outside our portal link, no mention except reporters and actors we put there."""
    for text in [fallback, *texts(blocks)]:
        outside_portal = PORTAL.sub("", text)
        assert not LIVE_SCHEME.search(outside_portal), text
        for token in re.findall(r"<([^>]*)>", outside_portal):
            assert re.fullmatch(r"@U0[A-Z0-9]+|!date\^\d+\^\{date_short_pretty\} \{time\}\|[^|]*", token), (
                token
            )


def button_ids(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for b in blocks if b["type"] == "actions" for e in b["elements"]]


def block(blocks: list[dict[str, Any]], block_id: str) -> str:
    (found,) = [b for b in blocks if b.get("block_id") == block_id]
    return "\n".join(texts([found]))


# --- the case card: every state -------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "state"), ALL_STATES)
def test_every_state_renders_valid_and_safe(kind, state):
    fallback, blocks = cards.case_card(states(kind)[state], now=NOW)
    assert_valid_message(fallback, blocks)
    assert_nothing_live(fallback, blocks)
    assert f"#{CASE_ID}" in fallback


EMAIL_ACTS = [ActionId.PURGE, ActionId.BLOCK, ActionId.WHO_CLICKED]
AFTER_VERDICT = [ActionId.RESUBMIT, ActionId.DISMISS]


@pytest.mark.parametrize(
    ("state", "email", "url"),
    [
        ("submitting", [ActionId.DISMISS], [ActionId.DISMISS]),
        ("checking", [*EMAIL_ACTS, ActionId.DISMISS], [ActionId.WHO_CLICKED, ActionId.DISMISS]),
        ("phishing", EMAIL_ACTS + AFTER_VERDICT, [ActionId.WHO_CLICKED, *AFTER_VERDICT]),
        ("clean", EMAIL_ACTS + AFTER_VERDICT, [ActionId.WHO_CLICKED, *AFTER_VERDICT]),
        # A simulation: no Purge, no Block (the card says why).
        ("simulation", [ActionId.WHO_CLICKED, *AFTER_VERDICT], [ActionId.WHO_CLICKED, *AFTER_VERDICT]),
        ("gave_up", EMAIL_ACTS + AFTER_VERDICT, [ActionId.WHO_CLICKED, *AFTER_VERDICT]),
        ("resubmit_scheduled", EMAIL_ACTS + AFTER_VERDICT, [ActionId.WHO_CLICKED, *AFTER_VERDICT]),
        ("failed", EMAIL_ACTS + AFTER_VERDICT, [ActionId.WHO_CLICKED, *AFTER_VERDICT]),
        ("dismissed", [], []),
        # Restore only after a finished purge that removed copies, not while one runs, not after a hard delete.
        ("purging", EMAIL_ACTS + AFTER_VERDICT, [ActionId.WHO_CLICKED, *AFTER_VERDICT]),
        (
            "purged",
            [ActionId.PURGE, ActionId.RESTORE, ActionId.BLOCK, ActionId.WHO_CLICKED, *AFTER_VERDICT],
            [ActionId.WHO_CLICKED, *AFTER_VERDICT],
        ),
        (
            "purge_partial",
            [ActionId.PURGE, ActionId.RESTORE, ActionId.BLOCK, ActionId.WHO_CLICKED, *AFTER_VERDICT],
            [ActionId.WHO_CLICKED, *AFTER_VERDICT],
        ),
        ("purge_failed", EMAIL_ACTS + AFTER_VERDICT, [ActionId.WHO_CLICKED, *AFTER_VERDICT]),
        ("hard_deleted", EMAIL_ACTS + AFTER_VERDICT, [ActionId.WHO_CLICKED, *AFTER_VERDICT]),
        ("restored", EMAIL_ACTS + AFTER_VERDICT, [ActionId.WHO_CLICKED, *AFTER_VERDICT]),
    ],
)
@pytest.mark.parametrize("kind", [CaseKind.EMAIL, CaseKind.URL])
def test_buttons_per_state_carry_the_case_id_only(kind, state, email, url):
    _, blocks = cards.case_card(states(kind)[state], now=NOW)
    assert button_ids(blocks) == (email if kind == CaseKind.EMAIL else url)
    assert all(button["value"] == str(CASE_ID) for button in buttons(blocks))


def test_purge_is_the_danger_button():
    _, blocks = cards.case_card(states(CaseKind.EMAIL)["phishing"], now=NOW)
    assert [b.get("style") for b in buttons(blocks) if b["action_id"] == ActionId.PURGE] == ["danger"]


def test_action_ids_are_the_stable_design_ids():
    assert (ModalCallback.REPORT, ActionId.RESUBMIT, ActionId.DISMISS) == (
        "report.submit",
        "report.resubmit",
        "report.dismiss",
    )
    assert (ActionId.RESUBMIT_NOW, ActionId.RESUBMIT_LATER) == (
        "report.resubmit_now",
        "report.resubmit_later",
    )
    assert (ActionId.PURGE, ActionId.RESTORE, ActionId.WHO_CLICKED, ActionId.BLOCK) == (
        "report.purge",
        "report.restore",
        "report.who_clicked",
        "report.block",
    )
    assert ModalCallback.PURGE == "purge.submit"


def test_checking_shows_progress():
    _, blocks = cards.case_card(states(CaseKind.EMAIL)["checking"], now=NOW)
    assert blocks[0]["text"]["text"] == ":hourglass_flowing_sand: Analysing…"
    assert "check 3, next in ~5 min" in block(blocks, "status")


def test_checking_before_the_first_check():
    soon = case(status=CaseStatus.CHECKING, checks_done=0, next_check_at=NOW + timedelta(seconds=50))
    assert "first check in under a minute" in block(cards.case_card(soon, now=NOW)[1], "status")
    later = case(status=CaseStatus.CHECKING, checks_done=0, next_check_at=NOW + timedelta(seconds=61))
    assert "first check in ~2 min" in block(cards.case_card(later, now=NOW)[1], "status")


def test_submitting_says_so():
    _, blocks = cards.case_card(states(CaseKind.EMAIL)["submitting"], now=NOW)
    assert "Sending to Microsoft" in blocks[0]["text"]["text"]
    assert "sending to Microsoft" in block(blocks, "status")
    assert not [b for b in blocks if b.get("block_id") == "submission"]


@pytest.mark.parametrize(
    ("state", "header"),
    [
        ("phishing", ":red_circle: Phishing"),
        ("malware_with_files", ":red_circle: Malware"),
        ("spam", ":large_orange_circle: Spam"),
        ("clean", ":large_green_circle: No threats found"),
        ("simulation", ":mortar_board: Phishing simulation (not a real attack)"),
        ("unknown_member", ":white_circle: Some category added next year"),
        ("gave_up", ":grey_question: No verdict from Microsoft in time"),
        ("failed", ":x: Submission failed"),
        ("dismissed", ":heavy_minus_sign: Dismissed by Security"),
    ],
)
def test_header_shows_the_verdict(state, header):
    _, blocks = cards.case_card(states(CaseKind.EMAIL)[state], now=NOW)
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}}


def test_email_card_shows_subject_sender_reporters_note_and_category():
    _, blocks = cards.case_card(states(CaseKind.EMAIL)["phishing"], now=NOW)
    item = block(blocks, "item")
    assert "*Subject:* Your mailbox is full" in item
    assert "*From:* IT Helpdesk &lt;helpdesk@evil[.]example&gt;" in item
    assert "*Reply-To:* collect@evil[.]example" in item
    reporters = block(blocks, "reporters")
    assert "<@U0REPORTER1>, <@U0REPORTER2>" in reporters
    assert "*Reported as:* Phishing" in reporters
    assert ">It asks for my password." in reporters


def test_url_card_shows_the_defanged_url():
    _, blocks = cards.case_card(states(CaseKind.URL)["phishing"], now=NOW)
    assert block(blocks, "item") == "*URL:* hxxps://evil[.]example/login"


def test_sender_authentication_lists_the_delivering_server_first_and_microsofts_view():
    view = case(verdict=verdict("spoof", "senderFailedAuthentication", sender_ip="203.0.113.9"))
    _, blocks = cards.case_card(view, now=NOW)
    auth = block(blocks, "authentication")
    assert auth.index("mx[.]corp[.]example") < auth.index(":x: SPF fail (sender IP is 203[.]0[.]113[.]9)")
    assert (
        auth.index(":x: DMARC fail")
        < auth.index("could be forged")
        < auth.index(":white_check_mark: SPF pass")
    )
    assert ":x: compauth fail (reason=000)" in auth
    assert "*Microsoft:* The sender failed email authentication · sender helpdesk@evil[.]example" in auth
    assert "sender IP 203[.]0[.]113[.]9" in auth


def test_policy_hits_and_mailbox_settings_in_words():
    _, blocks = cards.case_card(states(CaseKind.EMAIL)["policy_override"], now=NOW)
    policy = block(blocks, "policy")
    assert "Allowed by an Exchange mail flow rule (transport rule) in your organisation" in policy
    assert "The recipient has the sender in their Safe Senders list" in policy
    assert "The recipient's junk email filter is on" in policy
    assert "allowedByExchangeTransportRule" not in policy
    # The policy detail is shown once, under policy, not again under Microsoft's result.
    assert "Exchange mail flow rule (transport rule)" not in block(blocks, "verdict")


def test_detonation_and_grader_feedback():
    _, blocks = cards.case_card(states(CaseKind.EMAIL)["malware_with_files"], now=NOW)
    detonation = block(blocks, "detonation")
    assert "• hxxps://evil[.]example/payload" in detonation
    assert "• invoice.html `e3b0c44298fc…`" in detonation
    grader = block(blocks, "grader")
    assert grader.startswith("*Grader review:* Malware by grader@microsoft[.]example, <!date^1795694400^")


def test_simulation_warning():
    _, blocks = cards.case_card(states(CaseKind.EMAIL)["simulation"], now=NOW)
    assert "Phishing simulation, not a real attack" in block(blocks, "simulation")
    _, blocks = cards.case_card(states(CaseKind.EMAIL)["phishing"], now=NOW)
    assert not [b for b in blocks if b.get("block_id") == "simulation"]


def test_urls_attachments_and_antispam_headers():
    _, blocks = cards.case_card(states(CaseKind.EMAIL)["phishing"], now=NOW)
    urls = block(blocks, "urls")
    assert "• hxxps://evil[.]example/login?u=ann" in urls
    assert "• hxxp://xn--80ak6aa92e[.]com/ (аррӏе[.]com)" in urls
    attachments = block(blocks, "attachments")
    assert "• invoice.html: text/html (claims application/pdf), 47.1 KB `abababababab`" in attachments
    headers = block(blocks, "headers")
    assert "SCL 5 · BCL 0 · CAT PHSH (phishing) · SFV SPM (marked spam by spam filtering)" in headers


def test_submission_id_and_documented_portal_link():
    _, email = cards.case_card(states(CaseKind.EMAIL)["phishing"], now=NOW)
    submission = block(email, "submission")
    assert "Submission `49c5ef5b-1f65-444a-e6b9-08d772ea2059`" in submission
    assert "<https://security.microsoft.com/reportsubmission?viewid=email|" in submission
    _, url = cards.case_card(states(CaseKind.URL)["phishing"], now=NOW)
    assert "<https://security.microsoft.com/reportsubmission?viewid=url|" in block(url, "submission")


def test_actions_history_and_scheduled_resubmission():
    _, blocks = cards.case_card(states(CaseKind.EMAIL)["resubmit_scheduled"], now=NOW)
    history = block(blocks, "history")
    assert "Resubmission scheduled by <@U0RESPONDER>, <!date^" in history
    due = int((NOW + timedelta(days=1)).timestamp())
    assert f"Resubmission to Microsoft scheduled for <!date^{due}^{{date_short_pretty}} {{time}}|" in history
    _, blocks = cards.case_card(states(CaseKind.EMAIL)["dismissed"], now=NOW)
    assert "Dismissed by <@U0RESPONDER>" in block(blocks, "history")


def test_error_line_is_escaped():
    _, blocks = cards.case_card(states(CaseKind.EMAIL)["failed"], now=NOW)
    assert block(blocks, "error") == (
        ":warning: *Problem:* Microsoft refused the submission: &lt;b&gt;InvalidRequest&lt;/b&gt; &amp; more"
    )


def test_dates_use_slack_date_formatting():
    _, blocks = cards.case_card(states(CaseKind.EMAIL)["phishing"], now=NOW)
    created = int((NOW - timedelta(hours=2)).timestamp())
    assert f"<!date^{created}^{{date_short_pretty}} {{time}}|2026-11-26 15:41 UTC>" in block(blocks, "status")


# --- hostile content ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [CaseKind.EMAIL, CaseKind.URL])
def test_hostile_subject_note_and_url_are_inert(kind):
    view = case(
        kind,
        message=email_message(subject=HOSTILE_SUBJECT) if kind == CaseKind.EMAIL else None,
        url="https://evil.example/<!channel>|@everyone" if kind == CaseKind.URL else None,
        note="<!here> <@U123> <https://evil.example|click> @channel",
        verdict=verdict(sender="<!channel>@evil.example", detected_urls=("<https://evil.example|x>",)),
    )
    fallback, blocks = cards.case_card(view, now=NOW)
    assert_valid_message(fallback, blocks)
    assert_nothing_live(fallback, blocks)
    rendered = "\n".join([fallback, *texts(blocks)])
    assert "&lt;!channel&gt;" in rendered
    for live in ("<!channel>", "<!here>", "<@U123>", "<https://evil", "@channel", "@everyone", "@here"):
        assert live not in rendered


def test_hostile_subject_in_the_fallback_text():
    fallback, _ = cards.case_card(case(message=email_message(subject=HOSTILE_SUBJECT)), now=NOW)
    assert "&lt;!channel&gt; &lt;@U123&gt; &lt;hxxps://evil[.]example|Microsoft&gt;" in fallback


def test_everything_at_once_stays_within_limits():
    many_urls = tuple(f"https://host{i}.evil.example/{'p' * 200}?id={i}" for i in range(300))
    many_attachments = tuple(
        Attachment(f"{'x' * 300}{i}.html", "application/pdf" * 20, "text/html", i * 1000, f"{i:064x}")
        for i in range(200)
    )
    hostile = {
        "from_": tuple(Address("N" * 500, f"a{i}@evil.example") for i in range(50)),
        "to": tuple(Address("<!here>" * 100, f"b{i}@corp.example") for i in range(500)),
        "urls": many_urls,
        "attachments": many_attachments,
        "authentication": tuple(
            AuthResult("spf", "fail", "r" * 1000, f"mx{i % 3}.example") for i in range(100)
        ),
        "antispam": {"SCL": "9" * 1000, "SFV": "SPM", "CAT": "<!channel>"},
        "date": "x" * 5000,
    }
    message = email_message(
        subject="S" * 10_000,
        flags=tuple("f" * 500 for _ in range(50)),
        inner=email_message(subject="inner " + "T" * 10_000, **hostile),
        **hostile,
    )
    view = case(
        message=message,
        reporters=tuple(f"U0R{i:05d}" for i in range(50)),
        note="N" * 1_000_000,
        submission_id="i" * 5000,
        verdict=verdict(
            detail="allowedByTenant",
            user_mailbox_settings=tuple(words.USER_MAILBOX_SETTING)
            + tuple(f"newFlag{i}" for i in range(100)),
            detected_urls=many_urls,
            detected_files=tuple(DetectedFile("f" * 1000, "h" * 1000) for _ in range(300)),
            admin_review=AdminReview("phishing", "r" * 5000, "not a date " * 100),
            sender="s" * 5000,
            sender_ip="1" * 5000,
        ),
        actions=tuple(CaseAction("resubmitted", "U0RESPONDER", NOW, "d" * 5000) for _ in range(100)),
        resubmit_due_at=NOW,
        error="E" * 100_000,
    )
    fallback, blocks = cards.case_card(view, now=NOW)
    assert_valid_message(fallback, blocks)
    assert_nothing_live(fallback, blocks)
    assert len(blocks) <= 50
    reporters = block(blocks, "reporters")
    assert "<@U0R00009> +40 more" in reporters and "<@U0R00010>" not in reporters
    assert "…and 29" in block(blocks, "urls")  # about 10 of 300 shown, the rest counted
    assert "…and 19" in block(blocks, "attachments")
    assert "*Links in the message (300)*" in block(blocks, "urls")


def test_300_urls_and_a_10kb_subject_for_a_url_case():
    view = case(CaseKind.URL, url="https://evil.example/" + "a" * 10_000)
    fallback, blocks = cards.case_card(view, now=NOW)
    assert_valid_message(fallback, blocks)
    assert_nothing_live(fallback, blocks)


def test_the_last_line_of_defence_trims_any_text_object():
    # The builders keep each section within its limit line by line; this is what catches a new one that doesn't.
    section = blockkit.section("&" * 5000)
    assert text_length(section["text"]["text"]) <= 3000 and section["text"]["text"].endswith("…")
    context = blockkit.context(["x" * 5000] * 20)
    assert len(context["elements"]) == 10
    assert all(text_length(e["text"]) <= 2000 for e in context["elements"])
    assert text_length(blockkit.header("h" * 500)["text"]["text"]) == 150


def test_reporter_ids_that_are_not_slack_ids_are_not_mentions():
    view = case(reporters=("U0GOOD", "<!channel>", "x" * 500))
    _, blocks = cards.case_card(view, now=NOW)
    reporters = block(blocks, "reporters")
    assert "<@U0GOOD>" in reporters
    assert "&lt;!channel&gt;" in reporters


# --- words ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("enum_name", sorted(words.ENUM_WORDS))
def test_every_graph_enum_member_has_words(enum_name):
    members = enum_members(enum_name)
    mapping = words.ENUM_WORDS[enum_name]
    assert set(members) == set(mapping), "mapping and enums.json disagree"
    for member in members:
        said = words.words_for(enum_name, member)
        assert said and said != member and len(said) <= 200


def test_enum_sizes_match_the_reference():
    sizes = {name: len(enum_members(name)) for name in words.ENUM_WORDS}
    assert sizes == {
        "submissionResultCategory": 28,
        "submissionResultDetail": 71,
        "userMailboxSetting": 19,  # 18 flags and none
        "longRunningOperationStatus": 6,
        "submissionCategory": 5,
    }


def test_words_for_the_brief_examples():
    assert words.detail_words("allowedByExchangeTransportRule") == (
        "Allowed by an Exchange mail flow rule (transport rule) in your organisation"
    )
    assert words.mailbox_setting_words("isFromAddressInAddressSafeList") == (
        "The recipient has the sender in their Safe Senders list"
    )


@pytest.mark.parametrize(
    ("member", "expected"),
    [
        ("someNewMember", "Some new member"),
        ("senderIPAddress", "Sender IP address"),
        ("URLDetonated", "URL detonated"),
        ("x", "X"),
        ("", ""),
    ],
)
def test_unknown_members_read_as_words(member, expected):
    assert words.humanize(member) == expected
    assert words.detail_words(member or None) == expected


@pytest.mark.parametrize("category", enum_members("submissionResultCategory") + ["brandNewCategory", None])
@pytest.mark.parametrize("detail", [None, "none", "itemFoundMalicious", "brandNewDetail"])
def test_every_result_category_renders(category, detail):
    view = case(verdict=verdict(category, detail))
    fallback, blocks = cards.case_card(view, now=NOW)
    assert_valid_message(fallback, blocks)
    emoji, headline = words.verdict_headline(view.verdict, view.status)
    assert emoji.startswith(":") and emoji.endswith(":") and headline


@pytest.mark.parametrize("detail", enum_members("submissionResultDetail"))
def test_every_result_detail_renders_in_words(detail):
    _, blocks = cards.case_card(case(verdict=verdict("unknown", detail)), now=NOW)
    rendered = "\n".join(texts(blocks))
    if detail != "none":
        assert words.detail_words(detail) in rendered


@pytest.mark.parametrize(
    ("verdict_", "status", "expected"),
    [
        (Verdict(status="succeeded", category="phishing"), CaseStatus.VERDICT, (":red_circle:", "Phishing")),
        (
            Verdict(status="succeeded", category="noThreatsFound"),
            CaseStatus.VERDICT,
            (":large_green_circle:", "No threats found"),
        ),
        (
            Verdict(status="succeeded", category="notJunk"),
            CaseStatus.VERDICT,
            (":large_green_circle:", "No threats found"),
        ),
        (None, CaseStatus.CHECKING, (":hourglass_flowing_sand:", "Microsoft is analysing")),
        (
            Verdict.from_graph(
                {"status": "succeeded", "result": {"category": "phishing"}, "attackSimulationInfo": {"x": 1}}
            ),
            CaseStatus.VERDICT,
            (":mortar_board:", "Phishing simulation (not a real attack)"),
        ),
        (
            Verdict(status="succeeded", category=None, detail="itemFoundMalicious"),
            CaseStatus.VERDICT,
            (":red_circle:", "Threats found"),
        ),
        (
            Verdict(status="succeeded", category="bulk"),
            CaseStatus.VERDICT,
            (":large_orange_circle:", "Bulk mail"),
        ),
    ],
)
def test_verdict_headline(verdict_, status, expected):
    assert words.verdict_headline(verdict_, status) == expected


# --- the report modal -----------------------------------------------------------------------------------


@pytest.mark.parametrize("error", [None, "That file is over 25 MB. <!channel>"])
def test_report_modal_validates(error):
    view = cards.report_modal(max_upload_mb=25, error=error)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        View(**view).validate_json()  # slack_sdk knows file_input (FileInputElement) and url_text_input
        for b in view["blocks"]:
            Block.parse(b).validate_json()
    assert view["callback_id"] == "report.submit"
    assert (view["title"]["text"], view["submit"]["text"], view["close"]["text"]) == (
        "Report phishing",
        "Report",
        "Cancel",
    )
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert list(inputs) == ["file", "url", "category", "note"]
    assert {b["element"]["action_id"] for b in inputs.values()} == set(inputs)
    file_input = inputs["file"]
    assert file_input["element"] == {
        "type": "file_input",
        "action_id": "file",
        "filetypes": ["eml", "msg"],
        "max_files": 1,
    }
    assert file_input["optional"] is True
    assert file_input["hint"]["text"].endswith("— up to 25 MB")
    assert "File → Save as" in file_input["hint"]["text"]
    assert "recent" not in {b.get("block_id") for b in view["blocks"]}  # mailboxes out of reach: no choice
    assert inputs["url"]["element"]["type"] == "url_text_input" and inputs["url"]["optional"] is True
    select = inputs["category"]["element"]
    assert [o["value"] for o in select["options"]] == ["phishing", "malware", "spam"]
    assert select["initial_option"]["value"] == "phishing"
    assert not inputs["category"].get("optional")
    note = inputs["note"]["element"]
    assert (note["type"], note["multiline"], note["max_length"]) == ("plain_text_input", True, 2000)
    if error:
        assert "&lt;!channel&gt;" in block(view["blocks"], "error")


def submission_state(files=None, url=None, category="malware", note=None) -> dict[str, Any]:
    """A view.state as Slack sends it on view_submission."""
    return {
        "values": {
            "file": {"file": {"type": "file_input", "files": files or []}},
            "url": {"url": {"type": "url_text_input", "value": url}},
            "category": {
                "category": {"type": "static_select", "selected_option": {"text": {}, "value": category}}
            },
            "note": {"note": {"type": "plain_text_input", "value": note}},
        }
    }


def test_read_report_modal():
    file = {"id": "F0FILE", "name": "phish.eml", "size": 1234}
    form = cards.read_report_modal(submission_state(files=[file], note="  see attached \n"))
    assert form == cards.ReportForm(files=(file,), url="", category="malware", note="see attached")
    form = cards.read_report_modal(submission_state(url=" https://evil.example/x ", note="n" * 5000))
    assert (form.files, form.url, len(form.note)) == ((), "https://evil.example/x", 2000)


@pytest.mark.parametrize(
    "state", [{}, {"values": None}, {"values": {"file": {"file": {"files": "x"}}}}, [], None]
)
def test_read_report_modal_tolerates_junk(state):
    assert cards.read_report_modal(state) == cards.ReportForm()


# --- what the reporter sees -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [CaseKind.EMAIL, CaseKind.URL])
def test_reporter_ack(kind):
    view = case(
        kind,
        CaseStatus.SUBMITTING,
        message=email_message(subject=HOSTILE_SUBJECT) if kind == CaseKind.EMAIL else None,
    )
    fallback, blocks = cards.reporter_ack(view, joined=False)
    assert_valid_message(fallback, blocks)
    assert_nothing_live(fallback, blocks)
    assert fallback.startswith("Thanks — Security has your report of ")
    assert fallback.endswith("Microsoft Defender is analysing it; you'll hear the outcome here.")
    shown = "&lt;!channel&gt;" if kind == CaseKind.EMAIL else "hxxps://evil[.]example/login"
    assert shown in fallback
    assert "delete" not in fallback.lower()

    fallback, blocks = cards.reporter_ack(view, joined=True)
    assert_valid_message(fallback, blocks)
    assert "already reported; your report was added to the case." in fallback


@pytest.mark.parametrize(
    ("state", "phrase"),
    [
        ("phishing", "It was malicious."),
        ("malware_with_files", "It was malicious."),
        ("spam", "spam"),
        ("clean", "Microsoft found no threat"),
        ("simulation", "this was a phishing simulation run by your organisation — well spotted."),
        ("dismissed", "found it isn't a threat"),
        ("gave_up", "Security will review it by hand"),
        ("failed", "Security will review it by hand"),
        ("unknown_member", "Security will review it"),
    ],
)
@pytest.mark.parametrize("kind", [CaseKind.EMAIL, CaseKind.URL])
def test_reporter_outcome(kind, state, phrase):
    fallback, blocks = cards.reporter_outcome(states(kind)[state])
    assert_valid_message(fallback, blocks)
    assert_nothing_live(fallback, blocks)
    assert phrase.lower() in fallback.lower()
    if state in {"clean", "simulation", "dismissed", "gave_up", "failed", "unknown_member"}:
        assert "delete" not in fallback.lower()
    if state in {"phishing", "malware_with_files"}:
        advice = (
            "Don't open it; if you did and typed anything into the page, tell Security now."
            if kind == CaseKind.URL
            else "Don't click its links or open its attachments; if you did, tell Security now."
        )
        assert advice in fallback


# --- resubmit choice and notices ------------------------------------------------------------------------


def test_resubmit_choice():
    due = datetime(2026, 11, 27, 17, 41, tzinfo=UTC)
    fallback, blocks = cards.resubmit_choice(CASE_ID, due)
    assert_valid_message(fallback, blocks)
    assert "wait a day" in fallback
    assert f"<!date^{int(due.timestamp())}^" in fallback
    assert button_ids(blocks) == [ActionId.RESUBMIT_LATER, ActionId.RESUBMIT_NOW]
    assert [b["text"]["text"] for b in buttons(blocks)] == ["Schedule for 27 Nov 17:41 UTC", "Send now"]
    assert all(b["value"] == str(CASE_ID) for b in buttons(blocks))


@dataclasses.dataclass(frozen=True)
class Summary:
    case_id: int
    status: CaseStatus
    subject: str
    created_at: datetime
    verdict: Verdict | None


def test_status_list():
    summaries = [
        Summary(3, CaseStatus.CHECKING, "", NOW, None),
        Summary(2, CaseStatus.VERDICT, HOSTILE_SUBJECT, NOW, verdict("phishing")),
        *[
            Summary(i, CaseStatus.VERDICT, "S" * 10_000, NOW, verdict("spam", "itemFoundSpam"))
            for i in range(30)
        ],
    ]
    fallback, blocks = cards.status_list(summaries)
    assert_valid_message(fallback, blocks)
    assert_nothing_live(fallback, blocks)
    listed = block(blocks, "status_list")
    assert (
        "• Case #3: _(no subject)_, <!date^" in listed
        and ":hourglass_flowing_sand: Microsoft is analysing" in listed
    )
    assert "“Invoice &lt;!channel&gt;" in listed and ":red_circle: Phishing" in listed
    assert "…and 22 more reports" in listed
    fallback, blocks = cards.status_list([])
    assert_valid_message(fallback, blocks)
    assert "haven't reported anything yet" in fallback


def test_notice_escapes():
    fallback, blocks = cards.notice("Only responders can do that. <!channel> https://evil.example")
    assert_valid_message(fallback, blocks)
    assert_nothing_live(fallback, blocks)
    assert block(blocks, "notice") == "Only responders can do that. &lt;!channel&gt; hxxps://evil[.]example"
    fallback, blocks = cards.notice("")
    assert_valid_message(fallback, blocks)


def every_rendered_state() -> list[list[dict[str, Any]]]:
    """The blocks of every state of both kinds of case (used by the manifest test to find every button)."""
    return [cards.case_card(view, now=NOW)[1] for kind in CaseKind for view in states(kind).values()]


# --- clean-up, blocks, the purge and block modals, who clicked ------------------------------------------


def assert_valid_view(view: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        View(**view).validate_json()
        for b in view["blocks"]:
            Block.parse(b).validate_json()


def test_clean_up_section_says_who_what_and_how_far():
    _, blocks = cards.case_card(states(CaseKind.EMAIL)["purge_verifying"], now=NOW)
    text = block(blocks, "remediation")
    assert "*Purge* (soft delete, this message) by <@U0RESPONDER>" in text
    assert "Microsoft accepted it; checking the mailboxes: 12 of 30 removed" in text
    _, blocks = cards.case_card(states(CaseKind.EMAIL)["purged"], now=NOW)
    text = block(blocks, "remediation")
    assert "*30 of 30 removed*" in text and text.count("|Action center>") == 1  # the foreign URL is no link
    assert "evil" not in text
    links = block(blocks, "defender_links")
    assert "<https://security.microsoft.com/threatexplorerv3|Threat Explorer>" in links
    assert "`73ca4154-58d8-43d0-a890-08dc18c52e6d`" in links


def test_a_partial_purge_names_what_is_left_and_why_escaped():
    _, blocks = cards.case_card(states(CaseKind.EMAIL)["purge_partial"], now=NOW)
    text = block(blocks, "remediation")
    assert "28 of 30 removed" in text and "via the mailbox API" in text
    assert "Not done: ann@corp[.]example, &lt;!channel&gt;@evil[.]example" in text
    assert "using the mailbox API instead" in text


def test_restore_reads_as_back_in_the_inbox():
    _, blocks = cards.case_card(states(CaseKind.EMAIL)["restored"], now=NOW)
    assert "*Restore* (move back to the Inbox, this message)" in block(blocks, "remediation")
    assert "30 of 30 back in the Inbox" in block(blocks, "remediation")


def test_block_section_lists_created_and_skipped_entries():
    _, blocks = cards.case_card(states(CaseKind.EMAIL)["blocked"], now=NOW)
    text = block(blocks, "block")
    created, skipped = text.split("_Skipped by Microsoft")
    assert "sender helpdesk@evil[.]example" in created and "URL evil[.]example" in created
    assert f"file `{'ab' * 32}`" in created
    assert "&lt;!channel&gt;" in skipped and "<!channel>" not in text
    _, blocks = cards.case_card(states(CaseKind.EMAIL)["block_scheduled"], now=NOW)
    assert "three times per 24 hours); goes <!date^" in block(blocks, "block")
    _, blocks = cards.case_card(states(CaseKind.EMAIL)["auto_block_skipped"], now=NOW)
    assert "Automatic block not made: a phishing simulation" in block(blocks, "block")


def test_purge_modal_shows_counts_scope_and_action():
    view = cards.purge_modal(
        states(CaseKind.EMAIL)["phishing"], message_copies=(30, 30), campaign_copies=(44, 41), method="auto"
    )
    assert_valid_view(view)
    assert view["callback_id"] == "purge.submit" and json.loads(view["private_metadata"]) == {
        "case_id": CASE_ID
    }
    counts = block(view["blocks"], "purge_counts")
    assert "*This message* is in 30 mailboxes" in counts and "44 copies in 41 mailboxes" in counts
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert [o["value"] for o in inputs["scope"]["options"]] == ["message", "campaign"]
    assert [o["value"] for o in inputs["action"]["options"]] == [
        "softDelete",
        "hardDelete",
        "moveToJunk",
        "moveToDeletedItems",
    ]
    assert inputs["action"]["initial_option"]["value"] == "softDelete"
    nothing = cards.purge_modal(
        states(CaseKind.EMAIL)["phishing"], message_copies=(0, 0), campaign_copies=(0, 0), method="auto"
    )
    assert_valid_view(nothing)
    assert "submit" not in nothing
    for other in (cards.purge_modal_loading(CASE_ID), cards.purge_modal_problem(CASE_ID, "<!here> 403")):
        assert_valid_view(other)
        assert "submit" not in other


@pytest.mark.parametrize(
    "view",
    [
        {},
        {"private_metadata": "not json", "state": "junk"},
        {"private_metadata": '{"case_id": "7; DROP"}', "state": {"values": {"scope": {"scope": 3}}}},
        {"private_metadata": '{"case_id": true}'},
    ],
)
def test_reading_the_modals_tolerates_junk(view):
    form = cards.read_purge_modal(view)
    assert form.case_id is None and (form.scope, form.action) == ("message", "softDelete")
    block_form = cards.read_block_modal(view)
    assert block_form.case_id is None and block_form.expires_days == 30 and block_form.note == ""


def test_block_modal_shows_what_would_be_blocked_and_when_it_goes():
    view_ = states(CaseKind.EMAIL)["malware_with_files"]
    modal = cards.block_modal(view_, sends_in_24h=3, goes_at=NOW + timedelta(hours=3), now=NOW)
    assert_valid_view(modal)
    items = block(modal["blocks"], "block_items")
    assert "helpdesk@evil[.]example" in items and "(or its domain evil[.]example)" in items
    assert "URLs Microsoft detected (1)" in items and "URLs in the message (2)" in items
    assert "`e3b0c44298fc1c149afbf4c8996fb924`" in items and f"`{'ab' * 32}`" in items
    assert "sent this one 3 times" in block(modal["blocks"], "block_throttle")
    assert "will be sent <!date^" in block(modal["blocks"], "block_throttle")
    expiry = next(b for b in modal["blocks"] if b.get("block_id") == "expiry")["element"]
    assert [o["value"] for o in expiry["options"]] == ["1", "7", "30", "90"]
    assert expiry["initial_option"]["value"] == "30"
    form = cards.read_block_modal(
        {
            "private_metadata": modal["private_metadata"],
            "state": {
                "values": {
                    "expiry": {"expiry": {"selected_option": {"value": "90"}}},
                    "note": {"note": {"value": "  seen twice  "}},
                }
            },
        }
    )
    assert (form.case_id, form.expires_days, form.note) == (CASE_ID, 90, "seen twice")


def click(user, url, *, through=False, action="ClickAllowed", minutes=10):
    from bot.microsoft.hunting import Click

    return Click(NOW - timedelta(minutes=minutes), user, url, action, through, "Email", "nm-1")


def test_who_clicked_puts_click_throughs_first_with_mentions_only_for_slack_people():
    clicks = [
        click("bob@corp.example", "https://evil.example/login", action="ClickBlocked", minutes=30),
        click("ann@corp.example", "https://evil.example/login", through=True, minutes=20),
        click("ann@corp.example", "https://evil.example/login?x=<!channel>", through=True, minutes=5),
        click("<@U999>@evil.example", "https://evil.example/", minutes=3),
    ]
    fallback, blocks = cards.who_clicked(CASE_ID, clicks, {"ann@corp.example": "U0ANN0001"})
    assert_valid_message(fallback, blocks)
    assert_nothing_live(fallback, blocks)
    assert "4 clicks by 3 people; *1 clicked through*" in block(blocks, "who_clicked")
    assert block(blocks, "clicked_through").startswith(
        ":rotating_light: *<@U0ANN0001> (ann@corp[.]example) clicked through the warning*"
    )
    assert ", 2 clicks" in block(blocks, "clicked_through")
    others = block(blocks, "clicked")
    assert "bob@corp[.]example" in others and "blocked" in others and "&lt;@U999&gt;" in others
    assert "reset their password" in block(blocks, "follow_up")


def test_who_clicked_with_no_clicks_says_so():
    fallback, blocks = cards.who_clicked(CASE_ID, [], {})
    assert_valid_message(fallback, blocks)
    assert "nobody" in block(blocks, "who_clicked")


def test_remediation_line_in_plain_words_for_a_notice():
    line = cards.remediation_line(remediation(RemediationState.VERIFYING, done=12), plain=True)
    assert line == (
        "Purge (soft delete, this message) by U0RESPONDER at 2026-11-26 17:11 UTC, via Microsoft Defender: "
        "Microsoft accepted it; checking the mailboxes: 12 of 30 removed"
    )
