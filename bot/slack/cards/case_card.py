"""The case card for the SOC channel: one named builder per section, in the order the card shows them."""

from __future__ import annotations

import math
from datetime import datetime

from bot.domain import CaseKind, CaseStatus, CaseView, ReportedMessage, Verdict
from bot.microsoft import vocabulary as words
from bot.slack.cards.blockkit import (
    CONTEXT_TEXT_MAX,
    FALLBACK_TEXT_MAX,
    ITEMS_SHOWN,
    MAX_BLOCKS,
    URL_MAX,
    BlockKit,
    as_utc,
    context,
    header,
    lines_within,
    section,
    slack_date,
)
from bot.slack.cards.case_evidence import (
    antispam_text,
    attachment_line,
    authentication_lines,
    detonation_lines,
    grader_line,
    item_name,
    message_lines,
    policy_lines,
    portal_link,
    reporter_lines,
)
from bot.slack.cards.case_response import (
    block_lines,
    case_buttons,
    defender_links,
    history_lines,
    remediation_lines,
    user_report_lines,
)
from bot.slack.safe_text import code, mrkdwn, truncate_mrkdwn


def _duration(minutes: int) -> str:
    if minutes < 90:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{round(minutes / 60)} h"
    return f"{round(minutes / 1440)} days"


def _progress(view: CaseView, now: datetime) -> str:
    if view.status == CaseStatus.SUBMITTING:
        return "sending to Microsoft"
    if view.next_check_at is None:
        return f"check {view.checks_done}" if view.checks_done else "waiting for the first check"
    seconds = (as_utc(view.next_check_at) - as_utc(now)).total_seconds()
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


def case_card(view: CaseView, *, now: datetime) -> tuple[str, BlockKit]:
    """The case card for the SOC channel: (fallback text, blocks). `now` only feeds "next check in ~N min"."""
    emoji, headline = words.verdict_headline(view.verdict, view.status)
    blocks: BlockKit = [
        *_title(view, now, emoji, headline),
        *_simulation(view.verdict),
        *_reported_item(view),
        section("\n".join(reporter_lines(view)), block_id="reporters"),
        *_microsoft_result(view.verdict),
        *_user_reports(view),
        *_analysis(view.message, view.verdict),
        *_message_contents(view.message),
        *_submission(view),
        *_response(view),
    ]
    if len(blocks) > MAX_BLOCKS:  # cannot happen with the sections above; kept so a new one can't break Slack
        blocks = blocks[: MAX_BLOCKS - 1] + blocks[-1:]
    fallback = f"{emoji} {headline}: {item_name(view, 200)} (case #{view.case_id})"
    return truncate_mrkdwn(fallback, FALLBACK_TEXT_MAX), blocks


def _title(view: CaseView, now: datetime, emoji: str, headline: str) -> BlockKit:
    title = "Analysing…" if view.status == CaseStatus.CHECKING else headline
    status_line = [f"Case #{view.case_id}", f"reported {slack_date(view.created_at)}"]
    if view.status in {CaseStatus.SUBMITTING, CaseStatus.CHECKING}:
        status_line.append(f"Microsoft Defender: {_progress(view, now)}")
    return [header(f"{emoji} {title}"), context([" · ".join(status_line)], block_id="status")]


def _simulation(verdict: Verdict | None) -> BlockKit:
    if not (verdict and verdict.is_simulation):
        return []
    return [
        section(
            ":mortar_board: *Phishing simulation, not a real attack.* Microsoft says this message is "
            "part of a phishing simulation or training campaign run by your organisation (Attack "
            "simulation training or advanced delivery). No clean-up needed: the reporter spotted it. "
            "Purge and Block are off for this case.",
            block_id="simulation",
        )
    ]


def _reported_item(view: CaseView) -> BlockKit:
    if view.kind == CaseKind.URL:
        return [section(f"*URL:* {mrkdwn(view.url, 1000) or '_(none)_'}", block_id="item")]
    if view.message is None:
        return []
    blocks = [section(lines_within(message_lines(view.message), 2800, shown=20), block_id="item")]
    if view.message.provenance:
        blocks.append(context([f":mailbox_with_mail: {mrkdwn(view.message.provenance, 600)}"], "provenance"))
    elif view.message.inner is not None:
        blocks.append(context(["The report wraps the original message; this card shows the original."]))
    return blocks


def _microsoft_result(verdict: Verdict | None) -> BlockKit:
    if not (verdict and (verdict.category or verdict.detail)):
        return []
    result = f"*Microsoft's result:* {mrkdwn(words.category_words(verdict.category) or 'none yet', 300)}"
    detail = verdict.detail
    if detail and detail != "none" and detail not in words.POLICY_DETAILS | words.AUTHENTICATION_DETAILS:
        result += f"\n{mrkdwn(words.detail_words(detail), 300)}"
    return [section(result, block_id="verdict")]


def _user_reports(view: CaseView) -> BlockKit:
    lines = user_report_lines(view)
    return [section(lines_within(lines, 2800, shown=8), block_id="user_reports")] if lines else []


def _analysis(message: ReportedMessage | None, verdict: Verdict | None) -> BlockKit:
    """Sender authentication, policy hits, detonation and the grader: each a section when it has something."""
    titled = (
        ("authentication", "*Sender authentication*\n", authentication_lines(message, verdict)),
        ("policy", "*Policy hits and overrides*\n", policy_lines(verdict)),
        ("detonation", "*Detonation*\n", detonation_lines(verdict)),
    )
    blocks = [
        section(title + "\n".join(lines), block_id=block_id) for block_id, title, lines in titled if lines
    ]
    grader = grader_line(verdict)
    if grader:
        blocks.append(section(grader, block_id="grader"))
    return blocks


def _message_contents(message: ReportedMessage | None) -> BlockKit:
    if message is None:
        return []
    original = message.original
    blocks: BlockKit = []
    if original.urls:
        urls = [f"• {mrkdwn(url, URL_MAX)}" for url in original.urls]
        text = f"*Links in the message ({len(urls)})*\n" + lines_within(urls, 2800)
        blocks.append(section(text, block_id="urls"))
    if original.attachments:
        lines = [attachment_line(a) for a in original.attachments]
        text = f"*Attachments ({len(lines)})*\n" + lines_within(lines, 2800)
        blocks.append(section(text, block_id="attachments"))
    antispam = antispam_text(original.antispam)
    parser_notes = [mrkdwn(flag, 200) for flag in message.flags[:3]]
    if len(message.flags) > 3:
        parser_notes.append(f"and {len(message.flags) - 3} more")
    notes = ["Couldn't read all of it: " + "; ".join(parser_notes)] if parser_notes else []
    if antispam or notes:
        blocks.append(context([antispam, *notes], block_id="headers"))
    return blocks


def _submission(view: CaseView) -> BlockKit:
    if not (view.submission_id or view.submitted_at):
        return []
    parts = []
    if view.submission_id:
        parts.append(f"Submission {code(view.submission_id, 80)}")
    if view.submitted_at:
        parts.append(f"sent {slack_date(view.submitted_at)}")
    user_reported = any(s.microsoft_id == view.submission_id for s in view.user_submissions)
    if user_reported:
        parts.append("the employee's own (Report button)")
    parts.append(portal_link(view.kind, user_reported=user_reported))
    return [context([" · ".join(parts)], block_id="submission")]


def _response(view: CaseView) -> BlockKit:
    """What responders did and can do: clean-up, block-list entries, Defender links, history, the buttons."""
    blocks: BlockKit = []
    clean_up = remediation_lines(view)
    if clean_up:
        blocks.append(section("*Clean-up*\n" + "\n".join(clean_up), block_id="remediation"))
    entries = block_lines(view)
    if entries:
        blocks.append(section("*Tenant Allow/Block List*\n" + "\n".join(entries), block_id="block"))
    links = defender_links(view)
    if links:
        blocks.append(context([links], block_id="defender_links"))
    history = history_lines(view)
    if history:
        blocks.append(
            context([lines_within(history, CONTEXT_TEXT_MAX, shown=ITEMS_SHOWN + 2)], block_id="history")
        )
    if view.error:
        blocks.append(
            section(f":warning: *Problem:* {mrkdwn(view.error, 1500, multiline=True)}", block_id="error")
        )
    buttons = case_buttons(view)
    if buttons:
        blocks.append({"type": "actions", "block_id": "case_actions", "elements": buttons})
    return blocks
