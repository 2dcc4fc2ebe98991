"""What the case card says about the reported item: the message's headers, the reporters, sender authentication,
policy hits, detonation, the grader, attachments and anti-spam headers, each as lines of safe mrkdwn."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.domain import (
    AuthResult,
    CaseKind,
    CaseReport,
    CaseView,
    ReportedMessage,
    Verdict,
)
from bot.microsoft import vocabulary as words
from bot.slack.cards.blockkit import (
    ADDRESS_MAX,
    ITEMS_SHOWN,
    NOTE_LINES_MAX,
    NOTE_MAX,
    SUBJECT_MAX,
    URL_MAX,
    date_from_text,
    lines_within,
    person,
)
from bot.slack.directory import is_slack_user
from bot.slack.safe_text import code, mrkdwn


def item_name(view: CaseView, limit: int) -> str:
    """What was reported, in a few safe words: the email's subject or the defanged link."""
    if view.kind == CaseKind.URL:
        return f"the link {mrkdwn(view.url, limit)}" if view.url else "a link"
    subject = view.message.original.subject if view.message else ""
    if subject and subject.strip():
        return f"the email “{mrkdwn(subject, limit)}”"
    return "an email with no subject"


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


def message_lines(message: ReportedMessage) -> list[str]:
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
        lines.append(f"*Date:* {date_from_text(original.date)}")
    return lines


# How a report came in, as the card says it (Door values).
DOOR_WORDS = {
    "report_button": "Report button",
    "slash_url": "Slack",
    "modal": "Slack",
    "upload": "Slack",
    "shortcut": "Slack",
    "email_app": "Slack",
    "mailbox": "Slack",
}


def _reporter(report: CaseReport) -> str:
    """A reporter: mentioned when Slack knows them, else their address; and the door they used."""
    known = person(report.user_id) if is_slack_user(report.user_id) else ""
    who = known or mrkdwn(report.email or "", ADDRESS_MAX) or "someone"
    return f"{who} ({DOOR_WORDS.get(report.door, 'Slack')})"


def reporter_lines(view: CaseView) -> list[str]:
    reporters = list(view.reporters)
    if view.reports:
        named = [_reporter(r) for r in view.reports[:ITEMS_SHOWN]]
    else:
        named = [person(r) for r in reporters[:ITEMS_SHOWN]]
    shown = ", ".join(named) or "_(unknown)_"
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
        author = person(reporters[0]) if reporters else "the reporter"
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


def authentication_lines(message: ReportedMessage | None, verdict: Verdict | None) -> list[str]:
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
            lines.append(lines_within([_auth_line(r) for r in trusted], 1200, shown=8, noun="more results"))
        if others:
            lines.append("_Other Authentication-Results headers (added before delivery, could be forged):_")
            lines.append(lines_within([_auth_line(r) for r in others], 600, shown=4, noun="more results"))
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


def policy_lines(verdict: Verdict | None) -> list[str]:
    if verdict is None:
        return []
    lines = []
    if verdict.detail in words.POLICY_DETAILS:
        lines.append(f"• {mrkdwn(words.detail_words(verdict.detail), 300)}")
    flags = [f"• {mrkdwn(words.mailbox_setting_words(flag), 200)}" for flag in verdict.user_mailbox_settings]
    if flags:
        lines.append("_The recipient's mailbox:_")
        lines.append(lines_within(flags, 1500, shown=20, noun="more settings"))
    return lines


def detonation_lines(verdict: Verdict | None) -> list[str]:
    if verdict is None:
        return []
    lines = []
    if verdict.detected_urls:
        urls = [f"• {mrkdwn(url, URL_MAX)}" for url in verdict.detected_urls]
        lines.append(f"_URLs Microsoft detected ({len(urls)}):_")
        lines.append(lines_within(urls, 1300))
    if verdict.detected_files:
        files = [
            f"• {mrkdwn(f.file_name, 150) or '_(no name)_'} {code(_short_hash(f.file_hash), 20)}"
            for f in verdict.detected_files
        ]
        lines.append(f"_Files Microsoft detected ({len(files)}):_")
        lines.append(lines_within(files, 1300))
    return lines


def _short_hash(value: str) -> str:
    value = (value or "").strip()
    return value[:12] + "…" if len(value) > 12 else value


def grader_line(verdict: Verdict | None) -> str:
    review = verdict.admin_review if verdict else None
    if review is None or not (review.review_result or review.review_by or review.review_date_time):
        return ""
    line = f"*Grader review:* {mrkdwn(words.category_words(review.review_result) or 'no result', 200)}"
    if review.review_by:
        line += f" by {mrkdwn(review.review_by, ADDRESS_MAX)}"
    if review.review_date_time:
        line += f", {date_from_text(review.review_date_time)}"
    return line


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def attachment_line(attachment: Any) -> str:
    kind = mrkdwn(attachment.sniffed_type or attachment.declared_type, 80) or "unknown type"
    declared = (attachment.declared_type or "").strip()
    if declared and attachment.sniffed_type and declared.lower() != attachment.sniffed_type.lower():
        kind += f" (claims {mrkdwn(declared, 80)})"
    digest = code(attachment.sha256[:12], 20)
    return f"• {mrkdwn(attachment.filename, 150) or '_(no name)_'}: {kind}, {_size(attachment.size)} {digest}"


_ANTISPAM_ORDER = ("SCL", "BCL", "CAT", "SFV")


def antispam_text(antispam: dict[str, str]) -> str:
    parts = []
    for key in _ANTISPAM_ORDER:
        value = next((v for k, v in antispam.items() if k.upper() == key), None)
        if value is None:
            continue
        meaning = words.antispam_words(key, str(value))
        part = f"{key} {mrkdwn(str(value), 20)}"
        parts.append(f"{part} ({meaning})" if meaning else part)
    return "Microsoft anti-spam headers: " + " · ".join(parts) if parts else ""


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
# "Use the User reported tab on the Submissions page at https://security.microsoft.com/reportsubmission?viewid=user
# to see and manage user reported messages" (MicrosoftDocs/defender-docs defender-office-365).
DEFENDER_USER_REPORTED_URL = f"{DEFENDER_SUBMISSIONS_URL}?viewid=user"


def portal_link(kind: CaseKind, *, user_reported: bool = False) -> str:
    if user_reported:
        return f"<{DEFENDER_USER_REPORTED_URL}|User reported in Microsoft Defender>"
    tab = DEFENDER_SUBMISSIONS_TAB.get(kind)
    url = f"{DEFENDER_SUBMISSIONS_URL}?viewid={tab}" if tab else DEFENDER_SUBMISSIONS_URL
    return f"<{url}|Submissions in Microsoft Defender>"
