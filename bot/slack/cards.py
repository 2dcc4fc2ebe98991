"""Block Kit as data: pure functions from a case to (fallback text, blocks), and the report modal.

No I/O here. Every attacker string goes through `bot.slack.safe_text` on its way in; every list is bounded
here, once, so a card is never rejected by Slack whatever the report holds (slack.md §3.2 limits).
Only our own markup is live: `<@U…>` mentions of reporters (Slack ids we got from Slack), Slack
date tokens, and the link to the Defender portal.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote

from bot.domain import (
    AuthResult,
    BlockView,
    CaseAction,
    CaseKind,
    CaseStatus,
    CaseView,
    Category,
    RemediationState,
    RemediationView,
    ReportedMessage,
    Verdict,
)
from bot.microsoft import vocabulary as words
from bot.slack import i18n as messages
from bot.slack.safe_text import code, mrkdwn, plain, text_length, truncate, truncate_mrkdwn

# --- stable identifiers (design §4) ---------------------------------------------------------------------

REPORT_MODAL = "report.submit"
RESUBMIT = "report.resubmit"
DISMISS = "report.dismiss"
RESUBMIT_NOW = "report.resubmit_now"
RESUBMIT_LATER = "report.resubmit_later"
PURGE = "report.purge"
RESTORE = "report.restore"
WHO_CLICKED = "report.who_clicked"
BLOCK = "report.block"
PURGE_MODAL = "purge.submit"
BLOCK_MODAL = "block.submit"

# Links into the Microsoft Defender portal for the purge and the message, each as Microsoft documents it:
# - Action center: the remediate call answers 202 with `Location:
#   https://security.microsoft.com/action-center/history?filters={"bulkId":[...]}&tid=...` (learn.microsoft.com
#   /graph/api/security-analyzedemail-remediate, v1.0); only a link of that origin and path is shown.
# - Threat Explorer: "the Explorer page at https://security.microsoft.com/threatexplorerv3" (MicrosoftDocs/
#   defender-docs defender-office-365/mdo-email-entity-page.md @ 00506641, learn.microsoft.com/defender-office-365/
#   mdo-email-entity-page). That page says "There are no direct links to the Email entity page": a responder finds
#   the message there by its Network Message ID and opens the email entity; "A security analyst starts an
#   automated investigation while using Explorer" (defender-office-365/air-about.md @ 006b8a9f) — Graph cannot.
ACTION_CENTER_PREFIX = "https://security.microsoft.com/action-center/"
THREAT_EXPLORER_URL = "https://security.microsoft.com/threatexplorerv3"

# --- Slack's limits (slack.md §3.2) ---------------------------------------------------------------------

MAX_BLOCKS = 50
HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
CONTEXT_ELEMENTS_MAX = 10
CONTEXT_TEXT_MAX = 2000
BUTTON_TEXT_MAX = 75
FALLBACK_TEXT_MAX = 3000

ITEMS_SHOWN = 10  # URLs, attachments, detected files, reporters ...
SUBJECT_MAX = 300
ADDRESS_MAX = 200
URL_MAX = 300
NOTE_MAX = 1500
NOTE_LINES_MAX = 12

# The Submissions page of the Microsoft Defender portal, with the tab for each kind of submission.
# Source: Microsoft Learn, "Use the Submissions page to submit suspected spam, phish, URLs, ... to
# Microsoft" (https://learn.microsoft.com/defender-office-365/submissions-admin; MicrosoftDocs/defender-docs
# defender-office-365/submissions-admin.md @ 00506641, ms.date 2025-09-11): "To go directly to the
# Submissions page, use https://security.microsoft.com/reportsubmission" and, for the tabs,
# "Emails tab: https://security.microsoft.com/reportsubmission?viewid=email",
# "URLs tab: https://security.microsoft.com/reportsubmission?viewid=url". No per-submission deep link is
# documented, so the card shows the submission id, which that page filters on ("Submission ID").
DEFENDER_SUBMISSIONS_URL = "https://security.microsoft.com/reportsubmission"
DEFENDER_SUBMISSIONS_TAB = {CaseKind.EMAIL: "email", CaseKind.URL: "url"}

Blocks = list[dict[str, Any]]

# --- small builders -------------------------------------------------------------------------------------


def _plain_text(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit) or " ", "emoji": True}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": _plain_text(text, HEADER_MAX)}


def _section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": _fit(text, SECTION_TEXT_MAX)},
    }
    if block_id:
        block["block_id"] = block_id
    return block


def _context(texts: Iterable[str], block_id: str | None = None) -> dict[str, Any]:
    elements = [{"type": "mrkdwn", "text": _fit(text, CONTEXT_TEXT_MAX)} for text in texts if text][
        :CONTEXT_ELEMENTS_MAX
    ]
    block: dict[str, Any] = {"type": "context", "elements": elements or [{"type": "mrkdwn", "text": " "}]}
    if block_id:
        block["block_id"] = block_id
    return block


def _button(
    text: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": _plain_text(text, BUTTON_TEXT_MAX),
        "value": value,
    }
    if style:
        button["style"] = style
    if confirm:
        button["confirm"] = confirm
    return button


def _fit(text: str, limit: int) -> str:
    """The last line of defence for a text object; the builders below keep within it line by line."""
    return truncate_mrkdwn(text, limit) or " "


def _lines_within(lines: Sequence[str], budget: int, *, shown: int = ITEMS_SHOWN, noun: str = "more") -> str:
    """Join whole lines while they fit in `budget` and at most `shown` of them; say how many were left out.

    Cutting between lines, never inside one, keeps our own markup (mentions, date tokens) intact.
    """
    kept: list[str] = []
    used = 0
    for line in lines[:shown]:
        reserve = 40  # room for the "…and N more" line
        if used + text_length(line) + 1 > budget - reserve:
            break
        kept.append(line)
        used += text_length(line) + 1
    left_out = len(lines) - len(kept)
    if left_out:
        kept.append(f"…and {left_out} {noun}")
    return "\n".join(kept)


def slack_date(moment: datetime) -> str:
    """Slack's date token: shown in the reader's time zone, with a UTC fallback for old clients."""
    moment = _as_utc(moment)
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _date_from_text(value: str | None) -> str:
    """A date given as text (Graph, headers): Slack's token when it parses, else the text made safe."""
    if not value:
        return ""
    try:
        return slack_date(datetime.fromisoformat(value.strip()))
    except (ValueError, OverflowError, OSError):
        return mrkdwn(value, 60)


_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")


def _person(user_id: str) -> str:
    """A reporter or actor: a live mention only for a well-formed Slack user id."""
    if _SLACK_USER_ID.fullmatch(user_id or ""):
        return f"<@{user_id}>"
    return mrkdwn(user_id, 60) or "someone"


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _duration(minutes: int) -> str:
    if minutes < 90:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{round(minutes / 60)} h"
    return f"{round(minutes / 1440)} days"


# --- pieces of the case card ----------------------------------------------------------------------------


def _progress(view: CaseView, now: datetime) -> str:
    if view.status == CaseStatus.SUBMITTING:
        return "sending to Microsoft"
    if view.next_check_at is None:
        return f"check {view.checks_done}" if view.checks_done else "waiting for the first check"
    seconds = (_as_utc(view.next_check_at) - _as_utc(now)).total_seconds()
    minutes = math.ceil(seconds / 60)
    if seconds <= 0:
        when = "due now"
    elif seconds < 60:
        when = "in under a minute"
    else:
        when = f"in ~{_duration(minutes)}"
    if view.checks_done:
        return f"check {view.checks_done}, next {when}"
    return f"first check {when}"


def _address(address: Any) -> str:
    name = (getattr(address, "name", "") or "").strip()
    email = (getattr(address, "address", "") or "").strip()
    if name and email and name != email:
        return mrkdwn(f"{name} <{email}>", ADDRESS_MAX)
    return mrkdwn(email or name, ADDRESS_MAX)


def _addresses(addresses: Sequence[Any], shown: int = 3) -> str:
    listed = ", ".join(_address(a) for a in addresses[:shown])
    more = len(addresses) - shown
    return listed + (f" and {more} more" if more > 0 else "")


def _message_lines(message: ReportedMessage) -> list[str]:
    original = message.original
    lines = [f"*Subject:* {mrkdwn(original.subject, SUBJECT_MAX) or '_(no subject)_'}"]
    if original.from_:
        lines.append(f"*From:* {_addresses(original.from_)}")
    if original.sender and original.sender.address not in {a.address for a in original.from_}:
        lines.append(f"*Sender:* {_address(original.sender)}")
    from_addresses = {a.address.lower() for a in original.from_}
    if original.reply_to and {a.address.lower() for a in original.reply_to} - from_addresses:
        lines.append(f"*Reply-To:* {_addresses(original.reply_to)}")
    if original.return_path:
        lines.append(f"*Return-Path:* {mrkdwn(original.return_path, ADDRESS_MAX)}")
    if original.to:
        lines.append(f"*To:* {_addresses(original.to)}")
    if original.date:
        lines.append(f"*Date:* {_date_from_text(original.date)}")
    return lines


def _reporter_lines(view: CaseView) -> list[str]:
    reporters = list(view.reporters)
    shown = ", ".join(_person(r) for r in reporters[:ITEMS_SHOWN]) or "_(unknown)_"
    if len(reporters) > ITEMS_SHOWN:
        shown += f" +{len(reporters) - ITEMS_SHOWN} more"
    lines = [
        f"*Reported by:* {shown}",
        f"*Reported as:* {words.submission_category_words(str(view.category))}",
    ]
    note = mrkdwn(view.note, NOTE_MAX, multiline=True).strip()
    if note:
        note_lines = [line for line in note.split("\n") if line.strip()]
        quoted = [f">{line}" for line in note_lines[:NOTE_LINES_MAX]]
        if len(note_lines) > NOTE_LINES_MAX:
            quoted.append(">…")
        author = _person(reporters[0]) if reporters else "the reporter"
        lines.append(f"*Note from {author}:*\n" + "\n".join(quoted))
    return lines


_AUTH_PASS = frozenset({"pass", "bestguesspass"})
_AUTH_FAIL = frozenset({"fail", "softfail", "hardfail", "permerror"})


def _auth_line(result: AuthResult) -> str:
    outcome = (result.result or "").strip().lower()
    icon = (
        ":white_check_mark:"
        if outcome in _AUTH_PASS
        else ":x:"
        if outcome in _AUTH_FAIL
        else ":grey_question:"
    )
    method = result.method.strip().lower()
    label = method.upper() if method in {"spf", "dkim", "dmarc", "arc"} else mrkdwn(result.method, 20)
    line = f"{icon} {label} {mrkdwn(result.result, 30)}"
    if result.reason:
        line += f" ({mrkdwn(result.reason, 200)})"
    return line


def _authentication_lines(message: ReportedMessage | None, verdict: Verdict | None) -> list[str]:
    lines: list[str] = []
    results = message.original.authentication if message else ()
    if results:
        # The parser marks what the receiving organisation stamped on delivery (trustworthy); results
        # from other servers came with the message and may be the sender's own.
        trusted = [r for r in results if r.trusted]
        others = [r for r in results if not r.trusted]
        if trusted:
            receiver = trusted[0].authserv_id
            where = f" by {mrkdwn(receiver, 100)}" if receiver else ""
            lines.append(f"_From the headers, stamped{where} on delivery:_")
            lines.append(_lines_within([_auth_line(r) for r in trusted], 1200, shown=8, noun="more results"))
        if others:
            lines.append("_Other Authentication-Results headers (added before delivery, could be forged):_")
            lines.append(_lines_within([_auth_line(r) for r in others], 600, shown=4, noun="more results"))
    if verdict:
        microsoft: list[str] = []
        if verdict.detail in words.AUTHENTICATION_DETAILS:
            microsoft.append(words.detail_words(verdict.detail))
        if verdict.sender:
            microsoft.append(f"sender {mrkdwn(verdict.sender, ADDRESS_MAX)}")
        if verdict.sender_ip:
            microsoft.append(f"sender IP {mrkdwn(verdict.sender_ip, 60)}")
        if microsoft:
            lines.append("*Microsoft:* " + " · ".join(microsoft))
    return lines


def _policy_lines(verdict: Verdict | None) -> list[str]:
    if verdict is None:
        return []
    lines = []
    if verdict.detail in words.POLICY_DETAILS:
        lines.append(f"• {mrkdwn(words.detail_words(verdict.detail), 300)}")
    flags = [f"• {mrkdwn(words.mailbox_setting_words(flag), 200)}" for flag in verdict.user_mailbox_settings]
    if flags:
        lines.append("_The recipient's mailbox:_")
        lines.append(_lines_within(flags, 1500, shown=20, noun="more settings"))
    return lines


def _detonation_lines(verdict: Verdict | None) -> list[str]:
    if verdict is None:
        return []
    lines = []
    if verdict.detected_urls:
        urls = [f"• {mrkdwn(url, URL_MAX)}" for url in verdict.detected_urls]
        lines.append(f"_URLs Microsoft detected ({len(urls)}):_")
        lines.append(_lines_within(urls, 1300))
    if verdict.detected_files:
        files = [
            f"• {mrkdwn(f.file_name, 150) or '_(no name)_'} {code(_short_hash(f.file_hash), 20)}"
            for f in verdict.detected_files
        ]
        lines.append(f"_Files Microsoft detected ({len(files)}):_")
        lines.append(_lines_within(files, 1300))
    return lines


def _short_hash(value: str) -> str:
    value = (value or "").strip()
    return value[:12] + "…" if len(value) > 12 else value


def _grader_line(verdict: Verdict | None) -> str:
    review = verdict.admin_review if verdict else None
    if review is None or not (review.review_result or review.review_by or review.review_date_time):
        return ""
    line = f"*Grader review:* {mrkdwn(words.category_words(review.review_result) or 'no result', 200)}"
    if review.review_by:
        line += f" by {mrkdwn(review.review_by, ADDRESS_MAX)}"
    if review.review_date_time:
        line += f", {_date_from_text(review.review_date_time)}"
    return line


def _attachment_line(attachment: Any) -> str:
    kind = mrkdwn(attachment.sniffed_type or attachment.declared_type, 80) or "unknown type"
    declared = (attachment.declared_type or "").strip()
    if declared and attachment.sniffed_type and declared.lower() != attachment.sniffed_type.lower():
        kind += f" (claims {mrkdwn(declared, 80)})"
    digest = code(attachment.sha256[:12], 20)
    return f"• {mrkdwn(attachment.filename, 150) or '_(no name)_'}: {kind}, {_size(attachment.size)} {digest}"


_ANTISPAM_ORDER = ("SCL", "BCL", "CAT", "SFV")


def _antispam_text(antispam: dict[str, str]) -> str:
    parts = []
    for key in _ANTISPAM_ORDER:
        value = next((v for k, v in antispam.items() if k.upper() == key), None)
        if value is None:
            continue
        meaning = words.antispam_words(key, str(value))
        part = f"{key} {mrkdwn(str(value), 20)}"
        parts.append(f"{part} ({meaning})" if meaning else part)
    return "Microsoft anti-spam headers: " + " · ".join(parts) if parts else ""


_ACTION_WORDS = {
    "dismissed": "Dismissed by",
    "resubmitted": "Resubmitted to Microsoft by",
    "resubmit_scheduled": "Resubmission scheduled by",
}


def _action_line(action: CaseAction) -> str:
    verb = _ACTION_WORDS.get(action.action) or f"{words.humanize(action.action)} by"
    line = f"{mrkdwn(verb, 60)} {_person(action.actor)}, {slack_date(action.at)}"
    if action.detail:
        line += f": {mrkdwn(action.detail, 200)}"
    return line


def _history_lines(view: CaseView) -> list[str]:
    # Newest last, as they happened; only the latest few fit a context element.
    actions = list(view.actions)
    shown = actions[-ITEMS_SHOWN:]
    lines = []
    if len(actions) > len(shown):
        lines.append(f"…{len(actions) - len(shown)} earlier actions")
    lines.extend(_action_line(a) for a in shown)
    if view.resubmit_due_at is not None:
        lines.append(
            f":alarm_clock: Resubmission to Microsoft scheduled for {slack_date(view.resubmit_due_at)}"
        )
    return lines


def _portal_link(kind: CaseKind) -> str:
    tab = DEFENDER_SUBMISSIONS_TAB.get(kind)
    url = f"{DEFENDER_SUBMISSIONS_URL}?viewid={tab}" if tab else DEFENDER_SUBMISSIONS_URL
    return f"<{url}|Submissions in Microsoft Defender>"


def _case_buttons(view: CaseView) -> list[dict[str, Any]]:
    value = str(view.case_id)
    dismiss = _button(
        "Dismiss",
        DISMISS,
        value,
        confirm={
            "title": _plain_text("Dismiss this report?", 100),
            "text": _plain_text("The reporter will be told Security found it isn't a threat.", 300),
            "confirm": _plain_text("Dismiss", 30),
            "deny": _plain_text("Cancel", 30),
        },
    )
    if view.status == CaseStatus.SUBMITTING:
        return [dismiss]
    if view.status == CaseStatus.DISMISSED:
        return []
    buttons: list[dict[str, Any]] = []
    simulation = view.verdict is not None and view.verdict.is_simulation
    if view.kind == CaseKind.EMAIL and view.message is not None:
        # A phishing simulation gets neither Purge nor Block: the card says why (the simulation section).
        if not simulation:
            buttons.append(_button("Purge", PURGE, value, style="danger"))
        if restorable_purge(view) is not None and view.active_remediation is None:
            buttons.append(_button("Restore", RESTORE, value))
        if not simulation:
            buttons.append(_button("Block", BLOCK, value))
    buttons.append(_button("Who clicked", WHO_CLICKED, value))
    # A failed submission is offered again too: Microsoft may have refused it for a reason that has passed.
    if view.status in {CaseStatus.VERDICT, CaseStatus.GAVE_UP, CaseStatus.FAILED}:
        buttons.append(_button("Resubmit", RESUBMIT, value))
    buttons.append(dismiss)
    return buttons


def restorable_purge(view: CaseView) -> RemediationView | None:
    """The case's latest purge, if it finished with copies removed and nothing has restored it since."""
    for remediation in reversed(view.remediations):
        if remediation.kind == "restore" and remediation.state != RemediationState.FAILED:
            return None
        if remediation.kind == "purge":
            done = remediation.state in (RemediationState.DONE, RemediationState.PARTIAL)
            if done and remediation.done and remediation.action != "hardDelete":
                return remediation
            return None
    return None


def _item_name(view: CaseView, limit: int) -> str:
    """What was reported, in a few safe words: the email's subject or the defanged link."""
    if view.kind == CaseKind.URL:
        return f"the link {mrkdwn(view.url, limit)}" if view.url else "a link"
    subject = view.message.original.subject if view.message else ""
    if subject and subject.strip():
        return f"the email “{mrkdwn(subject, limit)}”"
    return "an email with no subject"


# --- the cards ------------------------------------------------------------------------------------------


def case_card(view: CaseView, *, now: datetime | None = None) -> tuple[str, Blocks]:
    """The case card for the SOC channel: (fallback text, blocks). `now` only feeds "next check in ~N min"."""
    now = now or datetime.now(UTC)
    emoji, headline = words.verdict_headline(view.verdict, view.status)
    verdict = view.verdict
    blocks: Blocks = []

    title = "Analysing…" if view.status == CaseStatus.CHECKING else headline
    blocks.append(_header(f"{emoji} {title}"))
    status_line = [f"Case #{view.case_id}", f"reported {slack_date(view.created_at)}"]
    if view.status in {CaseStatus.SUBMITTING, CaseStatus.CHECKING}:
        status_line.append(f"Microsoft Defender: {_progress(view, now)}")
    blocks.append(_context([" · ".join(status_line)], block_id="status"))

    if verdict and verdict.is_simulation:
        blocks.append(
            _section(
                ":mortar_board: *Phishing simulation, not a real attack.* Microsoft says this message is "
                "part of a phishing simulation or training campaign run by your organisation (Attack "
                "simulation training or advanced delivery). No clean-up needed: the reporter spotted it. "
                "Purge and Block are off for this case.",
                block_id="simulation",
            )
        )

    if view.kind == CaseKind.URL:
        blocks.append(_section(f"*URL:* {mrkdwn(view.url, 1000) or '_(none)_'}", block_id="item"))
    elif view.message is not None:
        blocks.append(_section(_lines_within(_message_lines(view.message), 2800, shown=20), block_id="item"))
        if view.message.provenance:
            blocks.append(
                _context([f":mailbox_with_mail: {mrkdwn(view.message.provenance, 600)}"], "provenance")
            )
        elif view.message.inner is not None:
            blocks.append(_context(["The report wraps the original message; this card shows the original."]))
    blocks.append(_section("\n".join(_reporter_lines(view)), block_id="reporters"))

    if verdict and (verdict.category or verdict.detail):
        result = f"*Microsoft's result:* {mrkdwn(words.category_words(verdict.category) or 'none yet', 300)}"
        detail = verdict.detail
        if detail and detail != "none" and detail not in words.POLICY_DETAILS | words.AUTHENTICATION_DETAILS:
            result += f"\n{mrkdwn(words.detail_words(detail), 300)}"
        blocks.append(_section(result, block_id="verdict"))

    auth = _authentication_lines(view.message, verdict)
    if auth:
        blocks.append(_section("*Sender authentication*\n" + "\n".join(auth), block_id="authentication"))
    policy = _policy_lines(verdict)
    if policy:
        blocks.append(_section("*Policy hits and overrides*\n" + "\n".join(policy), block_id="policy"))
    detonation = _detonation_lines(verdict)
    if detonation:
        blocks.append(_section("*Detonation*\n" + "\n".join(detonation), block_id="detonation"))
    grader = _grader_line(verdict)
    if grader:
        blocks.append(_section(grader, block_id="grader"))

    if view.message is not None:
        original = view.message.original
        if original.urls:
            urls = [f"• {mrkdwn(url, URL_MAX)}" for url in original.urls]
            text = f"*Links in the message ({len(urls)})*\n" + _lines_within(urls, 2800)
            blocks.append(_section(text, block_id="urls"))
        if original.attachments:
            lines = [_attachment_line(a) for a in original.attachments]
            text = f"*Attachments ({len(lines)})*\n" + _lines_within(lines, 2800)
            blocks.append(_section(text, block_id="attachments"))
        antispam = _antispam_text(original.antispam)
        parser_notes = [mrkdwn(flag, 200) for flag in view.message.flags[:3]]
        if len(view.message.flags) > 3:
            parser_notes.append(f"and {len(view.message.flags) - 3} more")
        notes = ["Couldn't read all of it: " + "; ".join(parser_notes)] if parser_notes else []
        if antispam or notes:
            blocks.append(_context([antispam, *notes], block_id="headers"))

    if view.submission_id or view.submitted_at:
        parts = []
        if view.submission_id:
            parts.append(f"Submission {code(view.submission_id, 80)}")
        if view.submitted_at:
            parts.append(f"sent {slack_date(view.submitted_at)}")
        parts.append(_portal_link(view.kind))
        blocks.append(_context([" · ".join(parts)], block_id="submission"))

    clean_up = _remediation_lines(view)
    if clean_up:
        blocks.append(_section("*Clean-up*\n" + "\n".join(clean_up), block_id="remediation"))
    block_lines = _block_lines(view)
    if block_lines:
        blocks.append(_section("*Tenant Allow/Block List*\n" + "\n".join(block_lines), block_id="block"))
    links = _defender_links(view)
    if links:
        blocks.append(_context([links], block_id="defender_links"))

    history = _history_lines(view)
    if history:
        blocks.append(
            _context([_lines_within(history, CONTEXT_TEXT_MAX, shown=ITEMS_SHOWN + 2)], block_id="history")
        )
    if view.error:
        blocks.append(
            _section(f":warning: *Problem:* {mrkdwn(view.error, 1500, multiline=True)}", block_id="error")
        )

    buttons = _case_buttons(view)
    if buttons:
        blocks.append({"type": "actions", "block_id": "case_actions", "elements": buttons})

    if len(blocks) > MAX_BLOCKS:  # cannot happen with the sections above; kept so a new one can't break Slack
        blocks = blocks[: MAX_BLOCKS - 1] + blocks[-1:]
    fallback = f"{emoji} {headline}: {_item_name(view, 200)} (case #{view.case_id})"
    return truncate_mrkdwn(fallback, FALLBACK_TEXT_MAX), blocks


RECENT_SHOWN = 15
RECENT_LOADING = "loading"
_METADATA_MAX = 3000  # Slack's limit on a view's private_metadata


class RecentEmail(Protocol):
    """One of the reporter's recent emails as the modal lists it (bot.microsoft.graph.MailboxMessage)."""

    @property
    def id(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def sender_name(self) -> str: ...
    @property
    def sender_address(self) -> str: ...
    @property
    def received_at(self) -> datetime | None: ...


def _recent_label(email: RecentEmail, tz_offset: int) -> str:
    sender = email.sender_name or email.sender_address or "unknown sender"
    when = ""
    if email.received_at is not None:
        local = _as_utc(email.received_at) + timedelta(seconds=tz_offset)
        when = f" · {local.strftime('%d %b %H:%M')}"
    subject = plain(email.subject, 60) or "(no subject)"
    # The time and the sender matter as much as the subject: the subject gives way first.
    tail = f" — {plain(sender, 30)}{when}"
    return truncate(subject, max(75 - text_length(tail), 20)) + tail


def report_modal(
    *,
    max_upload_mb: int,
    error: str | None = None,
    recent: Sequence[RecentEmail] | str | None = None,
    tz_offset: int = 0,
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The /report-phish modal: one of my recent emails, an .eml/.msg upload, or a link; a category, a note.

    `recent`: the reporter's recent emails to pick from (shown in their time zone, `tz_offset` seconds east
    of UTC), `RECENT_LOADING` while they are being fetched, or None when mailboxes cannot be read (the choice
    is then absent). The message ids travel in `private_metadata` (with `metadata`), never in option values.
    """
    blocks: Blocks = []
    if error:
        blocks.append(_section(f":warning: {mrkdwn(error, 1000, multiline=True)}", block_id="error"))
    private: dict[str, Any] = dict(metadata or {})
    if recent == RECENT_LOADING:
        blocks.append(
            _context([":hourglass_flowing_sand: Looking for your recent emails…"], block_id="recent")
        )
    elif isinstance(recent, Sequence) and not isinstance(recent, str):
        ids: list[str] = []
        for email in list(recent)[:RECENT_SHOWN]:
            candidate = json.dumps({**private, "recent": [*ids, email.id]}, separators=(",", ":"))
            if len(candidate) > _METADATA_MAX:
                break  # Graph ids are long; the oldest choices give way so the metadata fits
            ids.append(email.id)
        private["recent"] = ids
        if ids:
            options = [
                {"text": _plain_text(_recent_label(email, tz_offset), 75), "value": str(index)}
                for index, email in enumerate(list(recent)[: len(ids)])
            ]
            blocks.append(
                {
                    "type": "input",
                    "block_id": "recent",
                    "optional": True,
                    "label": _plain_text("Pick it from your recent emails", 2000),
                    "hint": _plain_text("Only you see this list. Newest first.", 2000),
                    "element": {
                        "type": "static_select",
                        "action_id": "recent",
                        "placeholder": _plain_text("Choose an email", 150),
                        "options": options,
                    },
                }
            )
        else:
            blocks.append(_context(["phishbot found no recent emails in your mailbox."], block_id="recent"))
    hint = (
        "Save the email as .eml or .msg (Outlook: drag it to the desktop, or File → Save as; Gmail: ⋮ → "
        f"Download message) — up to {int(max_upload_mb)} MB"
    )
    blocks.extend(
        [
            {
                "type": "input",
                "block_id": "file",
                "optional": True,
                "label": _plain_text(
                    "Or upload the suspicious email" if recent else "The suspicious email", 2000
                ),
                "hint": _plain_text(hint, 2000),
                # file_input is known to slack_sdk (FileInputElement) and validates there.
                "element": {
                    "type": "file_input",
                    "action_id": "file",
                    "filetypes": ["eml", "msg"],
                    "max_files": 1,
                },
            },
            {
                "type": "input",
                "block_id": "url",
                "optional": True,
                "label": _plain_text("Or a suspicious link", 2000),
                "element": {"type": "url_text_input", "action_id": "url"},
            },
            {
                "type": "input",
                "block_id": "category",
                "label": _plain_text("What do you think it is?", 2000),
                "element": {
                    "type": "static_select",
                    "action_id": "category",
                    "options": [_CATEGORY_OPTIONS[c] for c in _MODAL_CATEGORIES],
                    "initial_option": _CATEGORY_OPTIONS[Category.PHISHING],
                },
            },
            {
                "type": "input",
                "block_id": "note",
                "optional": True,
                "label": _plain_text("Anything Security should know?", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": "note",
                    "multiline": True,
                    "max_length": 2000,
                },
            },
        ]
    )
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": REPORT_MODAL,
        "title": _plain_text("Report phishing", 24),
        "submit": _plain_text("Report", 24),
        "close": _plain_text("Cancel", 24),
        "blocks": blocks,
    }
    if private:
        view["private_metadata"] = json.dumps(private, separators=(",", ":"))
    return view


@dataclass(frozen=True)
class ReportForm:
    """What the person filled in on the report modal, read from the view_submission state."""

    files: tuple[dict[str, Any], ...] = ()  # Slack file objects from the file_input
    url: str = ""
    category: str = Category.PHISHING.value
    note: str = ""
    recent_id: str = ""  # the Graph id of the recent email picked, from the view's private_metadata


def read_report_modal(state: Mapping[str, Any], private_metadata: str | None = None) -> ReportForm:
    """Read the modal's `view.state` (or its `values`) and `private_metadata`; anything missing or malformed
    reads as empty."""
    values = state.get("values", state) if isinstance(state, Mapping) else {}

    def element(block_id: str) -> Mapping[str, Any]:
        block = values.get(block_id) if isinstance(values, Mapping) else None
        found = block.get(block_id) if isinstance(block, Mapping) else None
        return found if isinstance(found, Mapping) else {}

    def text(block_id: str) -> str:
        value = element(block_id).get("value")
        return value.strip() if isinstance(value, str) else ""

    files = element("file").get("files")
    selected = element("category").get("selected_option")
    category = selected.get("value") if isinstance(selected, Mapping) else None
    picked = element("recent").get("selected_option")
    recent_id = ""
    if isinstance(picked, Mapping) and _small_number(picked.get("value")):
        ids = report_metadata(private_metadata).get("recent")
        index = int(picked["value"])
        if isinstance(ids, list) and index < len(ids) and isinstance(ids[index], str):
            recent_id = ids[index]
    return ReportForm(
        files=tuple(f for f in files if isinstance(f, dict))[:10] if isinstance(files, list) else (),
        url=text("url"),
        category=category if isinstance(category, str) and category else Category.PHISHING.value,
        note=text("note")[:2000],  # the element's max_length; Slack enforces it, we don't rely on that
        recent_id=recent_id,
    )


def _small_number(value: object) -> bool:
    """An option value that int() reads as an index or a day count ("²" is a digit to str.isdigit(), not to
    int(); a 5,000-digit one is past int()'s limit)."""
    return isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 6


def report_metadata(private_metadata: str | None) -> dict[str, Any]:
    """The report modal's private_metadata as a dict ({} when absent or malformed)."""
    try:
        value = json.loads(private_metadata or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


_MODAL_CATEGORIES = (Category.PHISHING, Category.MALWARE, Category.SPAM)
_CATEGORY_OPTIONS = {
    Category.PHISHING: {"text": _plain_text("Phishing", 75), "value": Category.PHISHING.value},
    Category.MALWARE: {"text": _plain_text("Malware", 75), "value": Category.MALWARE.value},
    Category.SPAM: {"text": _plain_text("Spam", 75), "value": Category.SPAM.value},
}


def _reporter_item(view: CaseView, language: str, limit: int = 200) -> str:
    """What was reported, in a few safe words of the reporter's language."""
    if view.kind == CaseKind.URL:
        if view.url:
            return messages.text(language, "item.link", url=mrkdwn(view.url, limit))
        return messages.text(language, "item.link_unnamed")
    subject = view.message.original.subject if view.message else ""
    if subject and subject.strip():
        return messages.text(language, "item.email", subject=mrkdwn(subject, limit))
    return messages.text(language, "item.email_unnamed")


def reporter_ack(
    view: CaseView, *, joined: bool, language: str = messages.ENGLISH, notes: Sequence[str] = ()
) -> tuple[str, Blocks]:
    """What the reporter sees at once. One who joins an existing case is also told where it stands: the
    outcome when Microsoft has answered, else that it is still being analysed. `notes` are further
    sentences (already in the reporter's language), e.g. that the original of a forward was not found."""
    if joined:
        what = "ack.joined.link" if view.kind == CaseKind.URL else "ack.joined.message"
        if view.status in {CaseStatus.SUBMITTING, CaseStatus.CHECKING}:
            state = messages.text(language, "ack.joined.pending")
        else:
            state = _outcome_text(view, language)
        text = messages.text(language, what) + " " + state
    else:
        text = messages.text(language, "ack.new", item=_reporter_item(view, language))
    if notes:
        text += "\n" + "\n".join(notes)
    return _single_section(text, block_id="ack")


def reporter_outcome(view: CaseView, language: str = messages.ENGLISH) -> tuple[str, Blocks]:
    """The outcome, in plain words of the reporter's language."""
    return _single_section(_outcome_text(view, language), block_id="outcome")


def _outcome_text(view: CaseView, language: str) -> str:
    item = _reporter_item(view, language)
    kind = words.verdict_kind(view.verdict)
    is_link = view.kind == CaseKind.URL
    careful = messages.text(language, "careful.link" if is_link else "careful.email")
    wait = messages.text(language, "wait.link" if is_link else "wait.email")
    if view.status == CaseStatus.DISMISSED:
        key = "outcome.dismissed"
    elif view.status in {CaseStatus.GAVE_UP, CaseStatus.FAILED}:
        key = "outcome.gave_up"
    elif view.status in {CaseStatus.SUBMITTING, CaseStatus.CHECKING} or kind == words.VerdictKind.PENDING:
        key = "outcome.pending"
    elif kind == words.VerdictKind.SIMULATION:
        key = "outcome.simulation"
    elif kind == words.VerdictKind.MALICIOUS:
        key = "outcome.malicious"
    elif kind == words.VerdictKind.SPAM:
        key = "outcome.spam"
    elif kind == words.VerdictKind.CLEAN:
        key = "outcome.clean"
    else:
        key = "outcome.unclear"
    return messages.text(language, key, item=item, careful=careful, wait=wait)


class CaseLine(Protocol):
    """One of a reporter's cases as `status_list` shows it (the store's CaseSummary)."""

    case_id: int
    status: CaseStatus
    subject: str
    created_at: datetime
    verdict: Verdict | None


def status_list(cases: Sequence[CaseLine], language: str = messages.ENGLISH) -> tuple[str, Blocks]:
    """`/report-phish status`: the caller's recent reports and what became of them."""
    if not cases:
        return _single_section(messages.text(language, "status.none"), block_id="status_list")
    lines = []
    for line in cases:
        emoji, headline = words.verdict_headline(line.verdict, line.status)
        what = f"“{mrkdwn(line.subject, 120)}”" if (line.subject or "").strip() else "_(no subject)_"
        lines.append(f"• Case #{line.case_id}: {what}, {slack_date(line.created_at)} · {emoji} {headline}")
    title = messages.text(language, "status.title")
    text = f"*{title}*\n" + _lines_within(lines, 2900, noun="more reports")
    fallback = f"{title}: {len(cases)}"
    return fallback, [_section(text, block_id="status_list")]


def resubmit_choice(case_id: int, due_at: datetime) -> tuple[str, Blocks]:
    """For a responder who clicked Resubmit within 24 h of the last submission: now, or at `due_at`."""
    value = str(case_id)
    due_utc = _as_utc(due_at)
    text = (
        f"Case #{case_id} was sent to Microsoft less than a day ago. Microsoft's analysis can take up to "
        "a day and it accepts the same item at most three times in 24 hours, so it is best to wait a day "
        f"before resubmitting. Schedule the resubmission for {slack_date(due_utc)}, or send it now?"
    )
    buttons = [
        _button(
            f"Schedule for {due_utc.strftime('%d %b %H:%M')} UTC", RESUBMIT_LATER, value, style="primary"
        ),
        _button("Send now", RESUBMIT_NOW, value),
    ]
    blocks: Blocks = [
        _section(text, block_id="resubmit_choice"),
        {"type": "actions", "block_id": "resubmit_choice_actions", "elements": buttons},
    ]
    return truncate_mrkdwn(text, FALLBACK_TEXT_MAX), blocks


def notice(text: str) -> tuple[str, Blocks]:
    """A one-section ephemeral (a refusal, an error), its text made safe."""
    return _single_section(
        mrkdwn(text, SECTION_TEXT_MAX, multiline=True).strip() or "(no details)", block_id="notice"
    )


def _single_section(text: str, *, block_id: str) -> tuple[str, Blocks]:
    return truncate_mrkdwn(text, FALLBACK_TEXT_MAX), [_section(text, block_id=block_id)]


# --- clean-up, blocks and links on the card --------------------------------------------------------------

ACTION_WORDS = {
    "softDelete": "soft delete",
    "hardDelete": "hard delete",
    "moveToJunk": "move to Junk Email",
    "moveToDeletedItems": "move to Deleted Items",
    "moveToInbox": "move back to the Inbox",
}
SCOPE_WORDS = {"message": "this message", "campaign": "the campaign"}
_STATE_EMOJI = {
    RemediationState.FINDING: ":hourglass_flowing_sand:",
    RemediationState.RUNNING: ":hourglass_flowing_sand:",
    RemediationState.VERIFYING: ":hourglass_flowing_sand:",
    RemediationState.DONE: ":white_check_mark:",
    RemediationState.PARTIAL: ":warning:",
    RemediationState.FAILED: ":x:",
}


def remediation_line(remediation: RemediationView, *, plain: bool = False) -> str:
    """One purge or restore in words: who, what, how far. `plain` leaves out Slack markup (for notices)."""
    restore = remediation.kind == "restore"
    what = "Restore" if restore else "Purge"
    how = f"{ACTION_WORDS.get(remediation.action, remediation.action)}, {SCOPE_WORDS.get(remediation.scope, '')}"
    via = "the mailbox API" if remediation.method == "mailbox" else "Microsoft Defender"
    done_words = "back in the Inbox" if restore else "removed"
    progress = f"{remediation.done:,} of {remediation.total:,} {done_words}"
    state = remediation.state
    if state == RemediationState.FINDING:
        status = "looking for the copies"
    elif state == RemediationState.RUNNING and remediation.method == "mailbox":
        handled = remediation.done + remediation.failed + remediation.missing
        status = f"working through the mailboxes: {handled:,} of {remediation.total:,} handled, {progress}"
    elif state == RemediationState.RUNNING:
        status = f"asking Microsoft Defender ({remediation.total:,} copies)"
    elif state == RemediationState.VERIFYING:
        status = f"Microsoft accepted it; checking the mailboxes: {progress}"
    elif state == RemediationState.DONE:
        status = progress if remediation.total else "no mailbox held a copy"
    elif state == RemediationState.PARTIAL:
        status = progress
    else:
        status = "failed"
    extras = []
    if remediation.missing:
        extras.append(f"{remediation.missing:,} not found in the mailbox")
    if remediation.failed:
        extras.append(f"{remediation.failed:,} failed")
    if plain:
        who = remediation.requested_by
        when = _as_utc(remediation.created_at).strftime("%Y-%m-%d %H:%M UTC")
        return f"{what} ({how}) by {who} at {when}, via {via}: {status}" + (
            f" ({'; '.join(extras)})" if extras else ""
        )
    line = (
        f"{_STATE_EMOJI.get(state, '')} *{what}* ({mrkdwn(how, 80)}) by {_person(remediation.requested_by)}, "
        f"{slack_date(remediation.created_at)}, via {via}: *{mrkdwn(status, 200)}*"
    )
    if extras:
        line += f" ({mrkdwn('; '.join(extras), 200)})"
    if remediation.remaining and state in (RemediationState.PARTIAL, RemediationState.FAILED):
        left = ", ".join(mrkdwn(r, ADDRESS_MAX) for r in remediation.remaining)
        more = remediation.total - remediation.done - len(remediation.remaining)
        line += f"\n    Not done: {left}" + (f" and {more:,} more" if more > 0 else "")
    if remediation.error and (state != RemediationState.DONE or remediation.method == "mailbox"):
        # A finished purge keeps its reason to mention only when it explains something (the fallback).
        line += f"\n    {mrkdwn(remediation.error, 600)}"
    links = [_action_center_link(url, n) for n, url in enumerate(remediation.action_center_urls[:3], start=1)]
    links = [link for link in links if link]
    if links:
        line += "\n    " + " · ".join(links)
    return line


def _action_center_link(url: str, number: int) -> str:
    if not url.startswith(ACTION_CENTER_PREFIX):
        return ""
    # The Location carries {"bulkId":[...]}: percent-encoded, so Slack's link syntax cannot be broken by it.
    base, _, query = url.partition("?")
    safe = quote(base, safe=":/") + ("?" + quote(query, safe="=&%-._~") if query else "")
    label = "Action center" if number == 1 else f"Action center ({number})"
    return f"<{safe}|{label}>"


def _remediation_lines(view: CaseView) -> list[str]:
    return [remediation_line(r) for r in view.remediations[-3:]]


_ENTRY_WORDS = {"sender": "sender", "url": "URL", "fileHash": "file", "recipient": "recipient"}


def _entry_line(entry: Any) -> str:
    kind = _ENTRY_WORDS.get(entry.entry_type, mrkdwn(entry.entry_type, 30) or "entry")
    value = mrkdwn(entry.value, URL_MAX) if entry.entry_type != "fileHash" else code(entry.value, 80)
    until = f" (until {_date_from_text(entry.expires)})" if entry.expires else ""
    return f"• {kind} {value}{until}"


def _block_line(block: BlockView) -> str:
    who = "Automatic block" if block.automatic else f"Block by {_person(block.requested_by)}"
    when = slack_date(block.created_at)
    if block.state == "skipped":
        return f":heavy_minus_sign: Automatic block not made: {mrkdwn(block.error or '', 300)}"
    if block.state == "scheduled":
        return (
            f":alarm_clock: {who}, {when}: waiting for Microsoft's limit on submitting the same message "
            f"(once per 15 minutes, three times per 24 hours); goes {slack_date(block.not_before)}"
        )
    if block.state == "sending":
        return f":hourglass_flowing_sand: {who}, {when}: sending to Microsoft"
    if block.state == "failed":
        return f":x: {who}, {when}: {mrkdwn(block.error or 'failed', 600)}"
    sent = f", sent {slack_date(block.sent_at)}" if block.sent_at else ""
    head = f"{who}{sent}, for {block.expires_days} days"
    created = [e for e in block.entries if e.status == "succeeded"]
    skipped = [e for e in block.entries if e.status == "skipped"]
    other = [e for e in block.entries if e.status not in ("succeeded", "skipped")]
    if block.state == "checking" and not block.entries:
        return f":hourglass_flowing_sand: {head}: waiting for Microsoft to report the entries"
    lines = [f":no_entry: {head}:" if created else f":heavy_minus_sign: {head}:"]
    if created:
        lines.append("_Now on the list:_")
        lines.append(_lines_within([_entry_line(e) for e in created], 1200, shown=8, noun="more entries"))
    if skipped:
        # Microsoft's result says "skipped" and no more (tenantAllowBlockListEntryResult has no reason).
        lines.append("_Skipped by Microsoft (no reason given; often the entry exists already):_")
        lines.append(_lines_within([_entry_line(e) for e in skipped], 600, shown=5, noun="more entries"))
    if other:
        lines.append("_Not created:_")
        lines.append(
            _lines_within(
                [f"{_entry_line(e)}: {mrkdwn(e.status, 30)}" for e in other], 400, shown=3, noun="more"
            )
        )
    if not block.entries:
        lines.append("Microsoft reported no entries for this submission.")
    if block.state == "gave_up":
        lines.append("Microsoft did not report the entries in time; check the Tenant Allow/Block List.")
    return "\n".join(lines)


def _block_lines(view: CaseView) -> list[str]:
    return [_block_line(b) for b in view.blocks[-2:]]


def _defender_links(view: CaseView) -> str:
    if not view.network_message_id:
        return ""
    return (
        f"<{THREAT_EXPLORER_URL}|Threat Explorer>: search Network Message ID "
        f"{code(view.network_message_id, 80)} to open the email entity and start an automated investigation"
    )


# --- the purge modal -----------------------------------------------------------------------------------------


def _modal(callback_id: str, title: str, blocks: Blocks, case_id: int, submit: str | None) -> dict[str, Any]:
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id,
        "title": _plain_text(title, 24),
        "close": _plain_text("Cancel", 24),
        "blocks": blocks,
        "private_metadata": json.dumps({"case_id": case_id}),
    }
    if submit:
        view["submit"] = _plain_text(submit, 24)
    return view


def purge_modal_loading(case_id: int) -> dict[str, Any]:
    text = f":mag: Looking for copies of case #{case_id}'s message in every mailbox…"
    return _modal(PURGE_MODAL, "Purge", [_section(text, block_id="purge_loading")], case_id, None)


def purge_modal_problem(case_id: int, problem: str) -> dict[str, Any]:
    text = f":warning: phishbot could not look for the copies. {mrkdwn(problem, 1500, multiline=True)}"
    return _modal(PURGE_MODAL, "Purge", [_section(text, block_id="purge_problem")], case_id, None)


def _copies_words(counts: tuple[int, int]) -> str:
    copies, mailboxes = counts
    if copies == mailboxes:
        return f"{mailboxes:,} mailbox" + ("" if mailboxes == 1 else "es")
    return f"{copies:,} copies in {mailboxes:,} mailboxes"


def purge_modal(
    view: CaseView, *, message_copies: tuple[int, int], campaign_copies: tuple[int, int], method: str
) -> dict[str, Any]:
    """The purge confirmation: how many mailboxes hold the message (and the campaign), scope and action.
    Counts are (copies, mailboxes)."""
    case_id = view.case_id
    blocks: Blocks = [
        _section(
            f"*Case #{case_id}:* {_item_name(view, 200)}\n"
            f"*This message* is in {_copies_words(message_copies)}.\n"
            f"*The campaign* (the same sender and subject, or sharing a link with it, in the last 7 days) is in "
            f"{_copies_words(campaign_copies)}.",
            block_id="purge_counts",
        )
    ]
    if not message_copies[0] and not campaign_copies[0]:
        blocks.append(_section("No mailbox holds a copy any more: there is nothing to purge.", "purge_none"))
        return _modal(PURGE_MODAL, "Purge", blocks, case_id, None)
    scope_options = [
        _option(f"This message ({_copies_words(message_copies)})", "message"),
        _option(f"The campaign ({_copies_words(campaign_copies)})", "campaign"),
    ]
    action_options = [
        _option("Soft delete", "softDelete", "Recoverable Items; the user and admins can recover it"),
        _option("Hard delete", "hardDelete", "Purged; only admins can recover it, and Restore can't"),
        _option("Move to Junk Email", "moveToJunk"),
        _option("Move to Deleted Items", "moveToDeletedItems"),
    ]
    how = {
        "mailbox": "The mailbox API moves or deletes each copy (PHISHBOT_PURGE_METHOD=mailbox).",
        "defender": "Microsoft Defender carries it out; the card links to the Action center.",
    }.get(
        method,
        "Microsoft Defender carries it out (Action center); without Defender for Office 365 Plan 2, phishbot "
        "uses the mailbox API instead.",
    )
    blocks += [
        {
            "type": "input",
            "block_id": "scope",
            "label": _plain_text("What to purge", 2000),
            "element": {
                "type": "radio_buttons",
                "action_id": "scope",
                "options": scope_options,
                "initial_option": scope_options[0],
            },
        },
        {
            "type": "input",
            "block_id": "action",
            "label": _plain_text("How", 2000),
            "element": {
                "type": "radio_buttons",
                "action_id": "action",
                "options": action_options,
                "initial_option": action_options[0],
            },
        },
        _context([how + " Every step is in the audit log."], block_id="purge_how"),
    ]
    return _modal(PURGE_MODAL, "Purge", blocks, case_id, "Purge")


def _option(text: str, value: str, description: str | None = None) -> dict[str, Any]:
    option: dict[str, Any] = {"text": _plain_text(text, 75), "value": value}
    if description:
        option["description"] = _plain_text(description, 75)
    return option


@dataclass(frozen=True)
class PurgeForm:
    case_id: int | None
    scope: str
    action: str


def _selected(values: Mapping[str, Any], block_id: str) -> str:
    block = values.get(block_id) if isinstance(values, Mapping) else None
    element = block.get(block_id) if isinstance(block, Mapping) else None
    option = element.get("selected_option") if isinstance(element, Mapping) else None
    value = option.get("value") if isinstance(option, Mapping) else None
    return value if isinstance(value, str) else ""


def _text_value(values: Mapping[str, Any], block_id: str) -> str:
    block = values.get(block_id) if isinstance(values, Mapping) else None
    element = block.get(block_id) if isinstance(block, Mapping) else None
    value = element.get("value") if isinstance(element, Mapping) else None
    return value.strip() if isinstance(value, str) else ""


def modal_case_id(private_metadata: str | None) -> int | None:
    try:
        value = json.loads(private_metadata or "{}").get("case_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def read_purge_modal(view: Mapping[str, Any]) -> PurgeForm:
    state = view.get("state") if isinstance(view, Mapping) else None
    values = state.get("values", {}) if isinstance(state, Mapping) else {}
    return PurgeForm(
        case_id=modal_case_id(view.get("private_metadata") if isinstance(view, Mapping) else None),
        scope=_selected(values, "scope") or "message",
        action=_selected(values, "action") or "softDelete",
    )


# --- who clicked -------------------------------------------------------------------------------------------


_CLICK_WORDS = {
    "clickallowed": "allowed",
    "clickblocked": "blocked",
    "clickblockedbytenantpolicy": "blocked by your policy",
    "clickedthrough": "clicked through",
}


def who_clicked(case_id: int, clicks: Sequence[Any], people: Mapping[str, str]) -> tuple[str, Blocks]:
    """Safe Links clicks on a case's links, for its thread. `people`: lower-case UPN -> Slack user id.
    Whoever clicked through a warning comes first, highlighted, for follow-up."""
    if not clicks:
        text = (
            f"*Who clicked* (case #{case_id}): nobody — Safe Links recorded no click on this message's links "
            "in the last 30 days. Only links Safe Links wraps are counted."
        )
        return truncate_mrkdwn(text, FALLBACK_TEXT_MAX), [_section(text, block_id="who_clicked")]
    by_user: dict[str, list[Any]] = {}
    for click in clicks:
        by_user.setdefault((click.user or "").lower(), []).append(click)
    through = [u for u, cs in by_user.items() if any(c.clicked_through for c in cs)]
    others = [u for u in by_user if u not in through]

    def who(user: str) -> str:
        slack_id = people.get(user)
        name = mrkdwn(by_user[user][-1].user, ADDRESS_MAX) or "_(unknown account)_"
        return f"{_person(slack_id)} ({name})" if slack_id else name

    def line(user: str, highlight: bool) -> str:
        user_clicks = by_user[user]
        last = user_clicks[-1]
        verdict = _CLICK_WORDS.get(
            (last.action_type or "").lower(), words.humanize(last.action_type or "click")
        )
        when = slack_date(last.at) if last.at else "at an unknown time"
        count = f", {len(user_clicks)} clicks" if len(user_clicks) > 1 else ""
        url = mrkdwn(last.url, 200)
        if highlight:
            return f":rotating_light: *{who(user)} clicked through the warning*, {when}{count}: {url}"
        return f"• {who(user)}, {when}{count}: {url} — {mrkdwn(verdict, 40)}"

    summary = (
        f"*Who clicked* (case #{case_id}, Safe Links, last 30 days): {len(clicks):,} clicks by "
        f"{len(by_user):,} people; *{len(through):,} clicked through* a warning."
    )
    blocks: Blocks = [_section(summary, block_id="who_clicked")]
    if through:
        blocks.append(
            _section(
                _lines_within([line(u, True) for u in through], 2900, shown=15, noun="more people"),
                block_id="clicked_through",
            )
        )
    if others:
        blocks.append(
            _section(
                _lines_within([line(u, False) for u in others], 2900, shown=15, noun="more people"),
                block_id="clicked",
            )
        )
    if through:
        blocks.append(
            _context(
                [
                    "Follow up with whoever clicked through: reset their password, revoke their sessions, and "
                    "check their sign-ins."
                ],
                block_id="follow_up",
            )
        )
    return truncate_mrkdwn(summary, FALLBACK_TEXT_MAX), blocks


# --- the block modal -----------------------------------------------------------------------------------------

# Expiry of the block entries. Microsoft's Submissions page offers "1 day, 7 days, 30 days, 90 days, Never expire,
# Specific date: The maximum value is 90 days from today" with 30 days the default (MicrosoftDocs/defender-docs
# defender-office-365/submissions-admin.md, learn.microsoft.com/defender-office-365/submissions-admin). Graph's
# tenantAllowOrBlockListAction takes an expirationDateTime and documents no "never", so 90 days is the longest
# phishbot asks for.
BLOCK_EXPIRY_DAYS = (1, 7, 30, 90)
BLOCK_DEFAULT_DAYS = 30
BLOCK_NOTE_MAX = 500


def block_modal(
    view: CaseView, *, sends_in_24h: int, goes_at: datetime | None, now: datetime | None = None
) -> dict[str, Any]:
    """What a Block would put on the Tenant Allow/Block List, an expiry and a note. `goes_at`: when Microsoft's
    throttle lets the submission go, if later than now."""
    now = now or datetime.now(UTC)
    original = view.message.original if view.message else None
    lines = []
    sender = original.sender_address if original else ""
    if sender:
        domain = sender.rpartition("@")[2]
        lines.append(f"*Sender:* {mrkdwn(sender, ADDRESS_MAX)} (or its domain {mrkdwn(domain, ADDRESS_MAX)})")
    detected = view.verdict.detected_urls if view.verdict else ()
    if detected:
        urls = [f"• {mrkdwn(u, URL_MAX)}" for u in detected]
        lines.append(f"*URLs Microsoft detected ({len(urls)}):*\n" + _lines_within(urls, 900, shown=8))
    parsed = original.urls if original else ()
    if parsed:
        urls = [f"• {mrkdwn(u, URL_MAX)}" for u in parsed]
        lines.append(f"*URLs in the message ({len(urls)}):*\n" + _lines_within(urls, 900, shown=8))
    files = {a.sha256: a.filename for a in (original.attachments if original else ()) if a.sha256}
    for detected_file in view.verdict.detected_files if view.verdict else ():
        files.setdefault(detected_file.file_hash, detected_file.file_name)
    if files:
        hashes = [
            f"• {mrkdwn(name, 100) or '_(no name)_'} {code(digest, 80)}" for digest, name in files.items()
        ]
        lines.append(f"*Attachments ({len(hashes)}):*\n" + _lines_within(hashes, 900, shown=6))
    if not lines:
        lines.append("Nothing Microsoft could block was found in this message.")
    throttle = (
        "Microsoft accepts the same message once per 15 minutes and three times per 24 hours; phishbot has "
        f"sent this one {sends_in_24h} time{'s' if sends_in_24h != 1 else ''} in the last 24 hours."
    )
    if goes_at is not None and goes_at > now:
        throttle += f" :alarm_clock: This block will be sent {slack_date(goes_at)}, not now."
    expiry_options = [
        _option(
            f"{days} day{'s' if days != 1 else ''}"
            + (" (the longest a dated entry lasts)" if days == 90 else ""),
            str(days),
        )
        for days in BLOCK_EXPIRY_DAYS
    ]
    default = next(o for o in expiry_options if o["value"] == str(BLOCK_DEFAULT_DAYS))
    blocks: Blocks = [
        _section(
            f"*Case #{view.case_id}:* {_item_name(view, 200)}\nMicrosoft adds to the Tenant Allow/Block List what "
            "its filters find bad among:",
            block_id="block_intro",
        ),
        _section("\n".join(lines), block_id="block_items"),
        {
            "type": "input",
            "block_id": "expiry",
            "label": _plain_text("Remove the entries after", 2000),
            "element": {
                "type": "static_select",
                "action_id": "expiry",
                "options": expiry_options,
                "initial_option": default,
            },
        },
        {
            "type": "input",
            "block_id": "note",
            "optional": True,
            "label": _plain_text("Note on the entries", 2000),
            "element": {"type": "plain_text_input", "action_id": "note", "max_length": BLOCK_NOTE_MAX},
        },
        _context([throttle], block_id="block_throttle"),
    ]
    return _modal(BLOCK_MODAL, "Block", blocks, view.case_id, "Block")


@dataclass(frozen=True)
class BlockForm:
    case_id: int | None
    expires_days: int
    note: str


def read_block_modal(view: Mapping[str, Any]) -> BlockForm:
    state = view.get("state") if isinstance(view, Mapping) else None
    values = state.get("values", {}) if isinstance(state, Mapping) else {}
    chosen = _selected(values, "expiry")
    days = int(chosen) if _small_number(chosen) and int(chosen) in BLOCK_EXPIRY_DAYS else BLOCK_DEFAULT_DAYS
    return BlockForm(
        case_id=modal_case_id(view.get("private_metadata") if isinstance(view, Mapping) else None),
        expires_days=days,
        note=_text_value(values, "note")[:BLOCK_NOTE_MAX],
    )
