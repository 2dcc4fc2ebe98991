"""What the case card says about the response: its buttons, the history of responder actions, purges and
restores (remediations), Tenant Allow/Block List entries, and the links into Microsoft Defender."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from bot.domain import (
    BlockView,
    CaseAction,
    CaseKind,
    CaseStatus,
    CaseView,
    RemediationState,
    RemediationView,
)
from bot.microsoft import vocabulary as words
from bot.slack.cards.blockkit import (
    ADDRESS_MAX,
    ITEMS_SHOWN,
    URL_MAX,
    as_utc,
    button,
    date_from_text,
    lines_within,
    person,
    plain_text,
    slack_date,
)
from bot.slack.contract import ActionId
from bot.slack.safe_text import code, mrkdwn


def case_buttons(view: CaseView) -> list[dict[str, Any]]:
    value = str(view.case_id)
    dismiss = button(
        "Dismiss",
        ActionId.DISMISS,
        value,
        confirm={
            "title": plain_text("Dismiss this report?", 100),
            "text": plain_text("The reporter will be told Security found it isn't a threat.", 300),
            "confirm": plain_text("Dismiss", 30),
            "deny": plain_text("Cancel", 30),
        },
    )
    if view.status == CaseStatus.SUBMITTING:
        return [dismiss]
    if view.status == CaseStatus.DISMISSED:
        return []
    buttons: list[dict[str, Any]] = []
    simulation = view.verdict is not None and view.verdict.is_simulation
    if view.unreviewed:
        # The employees' own submissions (the Report button): Microsoft tells each reporter what it was marked.
        buttons.append(button("Mark as… and notify", ActionId.REVIEW, value, style="primary"))
    if view.kind == CaseKind.EMAIL and view.message is not None:
        # A phishing simulation gets neither Purge nor Block: the card says why (the simulation section).
        if not simulation:
            buttons.append(button("Purge", ActionId.PURGE, value, style="danger"))
        if restorable_purge(view) is not None and view.active_remediation is None:
            buttons.append(button("Restore", ActionId.RESTORE, value))
        # Block and Resubmit send the message: without a copy of it (a Report-button report whose original could
        # not be read), there is nothing to send; the card says so.
        if not simulation and view.has_copy:
            buttons.append(button("Block", ActionId.BLOCK, value))
    buttons.append(button("Who clicked", ActionId.WHO_CLICKED, value))
    # A failed submission is offered again too: Microsoft may have refused it for a reason that has passed.
    if view.status in {CaseStatus.VERDICT, CaseStatus.GAVE_UP, CaseStatus.FAILED} and view.has_copy:
        buttons.append(button("Resubmit", ActionId.RESUBMIT, value))
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


_HISTORY_VERBS = {
    "reviewed": "Marked as … and notified by",
    "dismissed": "Dismissed by",
    "resubmitted": "Resubmitted to Microsoft by",
    "resubmit_scheduled": "Resubmission scheduled by",
}


def _action_line(action: CaseAction) -> str:
    verb = _HISTORY_VERBS.get(action.action) or f"{words.humanize(action.action)} by"
    if action.action == "reviewed":
        # "phishing, 2 user submissions notified": the category in words.
        category, _, rest = action.detail.partition(",")
        line = f"Marked as {mrkdwn(REVIEW_WORDS.get(category, category), 40)} and notified by "
        line += f"{person(action.actor)}, {slack_date(action.at)}"
        return line + (f" ({mrkdwn(rest.strip(), 100)})" if rest.strip() else "")
    line = f"{mrkdwn(verb, 60)} {person(action.actor)}, {slack_date(action.at)}"
    if action.detail:
        line += f": {mrkdwn(action.detail, 200)}"
    return line


def history_lines(view: CaseView) -> list[str]:
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


REMEDIATION_ACTION_WORDS = {
    "softDelete": "soft delete",
    "hardDelete": "hard delete",
    "moveToJunk": "move to Junk Email",
    "moveToDeletedItems": "move to Deleted Items",
    "moveToInbox": "move back to the Inbox",
}


SCOPE_WORDS = {"message": "this message", "campaign": "the campaign"}


# What a responder can mark an employee's own submission as (Category values), in the words the card uses.
REVIEW_WORDS = {"phishing": "phishing", "malware": "malware", "spam": "spam", "notJunk": "not junk"}


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
    action = REMEDIATION_ACTION_WORDS.get(remediation.action, remediation.action)
    how = f"{action}, {SCOPE_WORDS.get(remediation.scope, '')}"
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
        when = as_utc(remediation.created_at).strftime("%Y-%m-%d %H:%M UTC")
        return f"{what} ({how}) by {who} at {when}, via {via}: {status}" + (
            f" ({'; '.join(extras)})" if extras else ""
        )
    line = (
        f"{_STATE_EMOJI.get(state, '')} *{what}* ({mrkdwn(how, 80)}) by {person(remediation.requested_by)}, "
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


def remediation_lines(view: CaseView) -> list[str]:
    return [remediation_line(r) for r in view.remediations[-3:]]


_ENTRY_WORDS = {"sender": "sender", "url": "URL", "fileHash": "file", "recipient": "recipient"}


def _entry_line(entry: Any) -> str:
    kind = _ENTRY_WORDS.get(entry.entry_type, mrkdwn(entry.entry_type, 30) or "entry")
    value = mrkdwn(entry.value, URL_MAX) if entry.entry_type != "fileHash" else code(entry.value, 80)
    until = f" (until {date_from_text(entry.expires)})" if entry.expires else ""
    return f"• {kind} {value}{until}"


def _block_line(block: BlockView) -> str:
    who = "Automatic block" if block.automatic else f"Block by {person(block.requested_by)}"
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
        lines.append(lines_within([_entry_line(e) for e in created], 1200, shown=8, noun="more entries"))
    if skipped:
        # Microsoft's result says "skipped" and no more (tenantAllowBlockListEntryResult has no reason).
        lines.append("_Skipped by Microsoft (no reason given; often the entry exists already):_")
        lines.append(lines_within([_entry_line(e) for e in skipped], 600, shown=5, noun="more entries"))
    if other:
        lines.append("_Not created:_")
        lines.append(
            lines_within(
                [f"{_entry_line(e)}: {mrkdwn(e.status, 30)}" for e in other], 400, shown=3, noun="more"
            )
        )
    if not block.entries:
        lines.append("Microsoft reported no entries for this submission.")
    if block.state == "gave_up":
        lines.append("Microsoft did not report the entries in time; check the Tenant Allow/Block List.")
    return "\n".join(lines)


def block_lines(view: CaseView) -> list[str]:
    return [_block_line(b) for b in view.blocks[-2:]]


def defender_links(view: CaseView) -> str:
    if not view.network_message_id:
        return ""
    return (
        f"<{THREAT_EXPLORER_URL}|Threat Explorer>: search Network Message ID "
        f"{code(view.network_message_id, 80)} to open the email entity and start an automated investigation"
    )


def user_report_lines(view: CaseView) -> list[str]:
    """The employees' own submissions (the Report button) this case follows, and what responders marked them."""
    followed = view.user_submissions
    if not followed:
        return []
    count = len(followed)
    lines = [
        f"*Report button:* {count} employee submission{'s' if count != 1 else ''} — Microsoft's result above is "
        "its analysis of the employee's own report; phishbot follows it and does not submit the message again."
    ]
    marked: dict[tuple[str, str, str], list[str]] = {}
    for submission in followed:
        review = submission.review
        if review is None:
            continue
        marked.setdefault((review.state, review.category, review.requested_by), []).append(
            submission.reporter or ""
        )
    for (state, category, actor), reporters in marked.items():
        who = ", ".join(mrkdwn(r, ADDRESS_MAX) for r in reporters[:3] if r) or "the reporter"
        if len(reporters) > 3:
            who += f" and {len(reporters) - 3} more"
        what = mrkdwn(REVIEW_WORDS.get(category, category), 40)
        if state == "done":
            lines.append(
                f":white_check_mark: Marked as *{what}* by {person(actor)}: Microsoft notifies {who}"
            )
        elif state == "sending":
            lines.append(f":hourglass_flowing_sand: Marking as *{what}* for {person(actor)}: {who}")
        else:
            lines.append(f":x: Marking as *{what}* failed for {who}: Microsoft did not take it; try again")
    waiting = len(view.unreviewed)
    if waiting and any(s.review is not None for s in followed):
        lines.append(f"{waiting} not marked yet: *Mark as… and notify* tells each reporter.")
    if not view.has_copy:
        lines.append(
            "phishbot has no copy of the message (the reporter's mailbox could not be read), so it cannot "
            "Resubmit or Block it; a Slack report of the same email brings one."
        )
    return lines
