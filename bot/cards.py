"""Block Kit as data: pure functions from a case to (fallback text, blocks), and the report modal.

No I/O here. Every attacker string goes through `bot.safe_text` on its way in; every list is bounded
here, once, so a card is never rejected by Slack whatever the report holds (slack.md §3.2 limits).
Only our own markup is live: `<@U…>` mentions of reporters (Slack ids we got from Slack), Slack
date tokens, and the link to the Defender portal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from bot import words
from bot.domain import (
    AuthResult,
    CaseAction,
    CaseKind,
    CaseStatus,
    CaseView,
    Category,
    ReportedMessage,
    Verdict,
)
from bot.safe_text import code, mrkdwn, text_length, truncate, truncate_mrkdwn

# --- stable identifiers (design §4) ---------------------------------------------------------------------

REPORT_MODAL = "report.submit"
RESUBMIT = "report.resubmit"
DISMISS = "report.dismiss"
RESUBMIT_NOW = "report.resubmit_now"
RESUBMIT_LATER = "report.resubmit_later"

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
        # Headers are prepended on the way in: the first server's results were stamped on delivery
        # (trustworthy); results from other servers came with the message and may be the sender's own.
        first_id = results[0].authserv_id
        first = [r for r in results if r.authserv_id == first_id]
        others = [r for r in results if r.authserv_id != first_id]
        where = f" by {mrkdwn(first_id, 100)}" if first_id else ""
        lines.append(f"_From the headers, stamped{where} on delivery:_")
        lines.append(_lines_within([_auth_line(r) for r in first], 1200, shown=8, noun="more results"))
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
    if view.status in {CaseStatus.SUBMITTING, CaseStatus.CHECKING}:
        return [dismiss]
    # A failed submission is offered again too: Microsoft may have refused it for a reason that has passed.
    if view.status in {CaseStatus.VERDICT, CaseStatus.GAVE_UP, CaseStatus.FAILED}:
        return [_button("Resubmit", RESUBMIT, value), dismiss]
    return []


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
                "simulation training or advanced delivery). No clean-up needed: the reporter spotted it.",
                block_id="simulation",
            )
        )

    if view.kind == CaseKind.URL:
        blocks.append(_section(f"*URL:* {mrkdwn(view.url, 1000) or '_(none)_'}", block_id="item"))
    elif view.message is not None:
        blocks.append(_section(_lines_within(_message_lines(view.message), 2800, shown=20), block_id="item"))
        if view.message.inner is not None:
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


def report_modal(*, max_upload_mb: int, error: str | None = None) -> dict[str, Any]:
    """The /report-phish modal: an .eml upload or a link, a category and a note."""
    blocks: Blocks = []
    if error:
        blocks.append(_section(f":warning: {mrkdwn(error, 1000, multiline=True)}", block_id="error"))
    hint = (
        "Save the email as .eml (Outlook: File → Save as; Gmail: ⋮ → Download message) "
        f"— up to {int(max_upload_mb)} MB"
    )
    blocks.extend(
        [
            {
                "type": "input",
                "block_id": "file",
                "optional": True,
                "label": _plain_text("The suspicious email", 2000),
                "hint": _plain_text(hint, 2000),
                # file_input is known to slack_sdk (FileInputElement) and validates there.
                "element": {"type": "file_input", "action_id": "file", "filetypes": ["eml"], "max_files": 1},
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
    return {
        "type": "modal",
        "callback_id": REPORT_MODAL,
        "title": _plain_text("Report phishing", 24),
        "submit": _plain_text("Report", 24),
        "close": _plain_text("Cancel", 24),
        "blocks": blocks,
    }


@dataclass(frozen=True)
class ReportForm:
    """What the person filled in on the report modal, read from the view_submission state."""

    files: tuple[dict[str, Any], ...] = ()  # Slack file objects from the file_input
    url: str = ""
    category: str = Category.PHISHING.value
    note: str = ""


def read_report_modal(state: Mapping[str, Any]) -> ReportForm:
    """Read the modal's `view.state` (or its `values`); anything missing or malformed reads as empty."""
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
    return ReportForm(
        files=tuple(f for f in files if isinstance(f, dict))[:10] if isinstance(files, list) else (),
        url=text("url"),
        category=category if isinstance(category, str) and category else Category.PHISHING.value,
        note=text("note")[:2000],  # the element's max_length; Slack enforces it, we don't rely on that
    )


_MODAL_CATEGORIES = (Category.PHISHING, Category.MALWARE, Category.SPAM)
_CATEGORY_OPTIONS = {
    Category.PHISHING: {"text": _plain_text("Phishing", 75), "value": Category.PHISHING.value},
    Category.MALWARE: {"text": _plain_text("Malware", 75), "value": Category.MALWARE.value},
    Category.SPAM: {"text": _plain_text("Spam", 75), "value": Category.SPAM.value},
}


def reporter_ack(view: CaseView, *, joined: bool) -> tuple[str, Blocks]:
    """What the reporter sees at once."""
    if joined:
        what = "link" if view.kind == CaseKind.URL else "message"
        text = f"Thanks — this {what} was already reported; your report was added to the case."
    else:
        text = (
            f"Thanks — Security has your report of {_item_name(view, 200)}. "
            "Microsoft Defender is analysing it; you'll hear the outcome here."
        )
    return _single_section(text, block_id="ack")


def reporter_outcome(view: CaseView) -> tuple[str, Blocks]:
    """The outcome, in plain words, for the reporter."""
    item = _item_name(view, 200)
    kind = words.verdict_kind(view.verdict)
    is_link = view.kind == CaseKind.URL
    careful = (
        "Don't open it; if you did and typed anything into the page, tell Security now."
        if is_link
        else "Don't click its links or open its attachments; if you did, tell Security now. You can delete it."
    )
    wait_careful = (
        "Until then, don't open it."
        if is_link
        else "Until then, don't click its links or open its attachments."
    )
    if view.status == CaseStatus.DISMISSED:
        text = (
            f"Security looked at your report of {item} and found it isn't a threat. Thanks for reporting it."
        )
    elif view.status in {CaseStatus.GAVE_UP, CaseStatus.FAILED}:
        text = f"Microsoft didn't give a verdict on {item} in time; Security will review it by hand. {wait_careful}"
    elif view.status in {CaseStatus.SUBMITTING, CaseStatus.CHECKING} or kind == words.VerdictKind.PENDING:
        text = f"Microsoft Defender is still analysing {item}; you'll hear the outcome here."
    elif kind == words.VerdictKind.SIMULATION:
        text = f"About {item}: this was a phishing simulation run by your organisation — well spotted."
    elif kind == words.VerdictKind.MALICIOUS:
        text = f"About {item}: it was malicious. {careful}"
    elif kind == words.VerdictKind.SPAM:
        text = (
            f"About {item}: Microsoft found it to be spam — unwanted, but not dangerous. You can delete it."
        )
    elif kind == words.VerdictKind.CLEAN:
        text = (
            f"About {item}: Microsoft found no threat in it. If it still looks wrong to you, tell Security. "
            "Thanks for reporting it."
        )
    else:
        text = (
            f"About {item}: Microsoft couldn't reach a clear verdict; Security will review it. {wait_careful}"
        )
    return _single_section(text, block_id="outcome")


class CaseLine(Protocol):
    """One of a reporter's cases as `status_list` shows it (the store's CaseSummary)."""

    case_id: int
    status: CaseStatus
    subject: str
    created_at: datetime
    verdict: Verdict | None


def status_list(cases: Sequence[CaseLine]) -> tuple[str, Blocks]:
    """`/report-phish status`: the caller's recent reports and what became of them."""
    if not cases:
        return _single_section(
            "You haven't reported anything yet. Use `/report-phish` to report a suspicious email or link.",
            block_id="status_list",
        )
    lines = []
    for line in cases:
        emoji, headline = words.verdict_headline(line.verdict, line.status)
        what = f"“{mrkdwn(line.subject, 120)}”" if (line.subject or "").strip() else "_(no subject)_"
        lines.append(f"• Case #{line.case_id}: {what}, {slack_date(line.created_at)} · {emoji} {headline}")
    text = "*Your recent reports*\n" + _lines_within(lines, 2900, noun="more reports")
    fallback = f"Your recent reports: {len(cases)}"
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
