"""The Purge confirmation modal (its loading and problem states) and its reader."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.domain import (
    CaseView,
)
from bot.slack.cards.blockkit import (
    BlockKit,
    case_modal,
    context,
    modal_case_id,
    option,
    plain_text,
    section,
    selected_value,
)
from bot.slack.cards.case_evidence import (
    item_name,
)
from bot.slack.contract import ModalCallback
from bot.slack.safe_text import mrkdwn


def purge_modal_loading(case_id: int) -> dict[str, Any]:
    text = f":mag: Looking for copies of case #{case_id}'s message in every mailbox…"
    return case_modal(ModalCallback.PURGE, "Purge", [section(text, block_id="purge_loading")], case_id, None)


def purge_modal_problem(case_id: int, problem: str) -> dict[str, Any]:
    text = f":warning: phishbot could not look for the copies. {mrkdwn(problem, 1500, multiline=True)}"
    return case_modal(ModalCallback.PURGE, "Purge", [section(text, block_id="purge_problem")], case_id, None)


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
    blocks: BlockKit = [
        section(
            f"*Case #{case_id}:* {item_name(view, 200)}\n"
            f"*This message* is in {_copies_words(message_copies)}.\n"
            f"*The campaign* (the same sender and subject, or sharing a link with it, in the last 7 days) is in "
            f"{_copies_words(campaign_copies)}.",
            block_id="purge_counts",
        )
    ]
    if not message_copies[0] and not campaign_copies[0]:
        blocks.append(section("No mailbox holds a copy any more: there is nothing to purge.", "purge_none"))
        return case_modal(ModalCallback.PURGE, "Purge", blocks, case_id, None)
    scope_options = [
        option(f"This message ({_copies_words(message_copies)})", "message"),
        option(f"The campaign ({_copies_words(campaign_copies)})", "campaign"),
    ]
    action_options = [
        option("Soft delete", "softDelete", "Recoverable Items; the user and admins can recover it"),
        option("Hard delete", "hardDelete", "Purged; only admins can recover it, and Restore can't"),
        option("Move to Junk Email", "moveToJunk"),
        option("Move to Deleted Items", "moveToDeletedItems"),
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
            "label": plain_text("What to purge", 2000),
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
            "label": plain_text("How", 2000),
            "element": {
                "type": "radio_buttons",
                "action_id": "action",
                "options": action_options,
                "initial_option": action_options[0],
            },
        },
        context([how + " Every step is in the audit log."], block_id="purge_how"),
    ]
    return case_modal(ModalCallback.PURGE, "Purge", blocks, case_id, "Purge")


@dataclass(frozen=True)
class PurgeForm:
    case_id: int | None
    scope: str
    action: str


def read_purge_modal(view: Mapping[str, Any]) -> PurgeForm:
    state = view.get("state") if isinstance(view, Mapping) else None
    values = state.get("values", {}) if isinstance(state, Mapping) else {}
    return PurgeForm(
        case_id=modal_case_id(view.get("private_metadata") if isinstance(view, Mapping) else None),
        scope=selected_value(values, "scope") or "message",
        action=selected_value(values, "action") or "softDelete",
    )
