"""The Block confirmation modal (what goes on the Tenant Allow/Block List, for how long) and its reader."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain import (
    CaseView,
)
from bot.slack.cards.blockkit import (
    ADDRESS_MAX,
    URL_MAX,
    BlockKit,
    case_modal,
    context,
    lines_within,
    modal_case_id,
    option,
    plain_text,
    section,
    selected_value,
    slack_date,
    small_number,
    text_value,
)
from bot.slack.cards.case_evidence import (
    item_name,
)
from bot.slack.contract import ModalCallback
from bot.slack.safe_text import code, mrkdwn

# Expiry of the block entries. Microsoft's Submissions page offers "1 day, 7 days, 30 days, 90 days, Never expire,
# Specific date: The maximum value is 90 days from today" with 30 days the default (MicrosoftDocs/defender-docs
# defender-office-365/submissions-admin.md, learn.microsoft.com/defender-office-365/submissions-admin). Graph's
# tenantAllowOrBlockListAction takes an expirationDateTime and documents no "never", so 90 days is the longest
# phishbot asks for.
BLOCK_EXPIRY_DAYS = (1, 7, 30, 90)


BLOCK_DEFAULT_DAYS = 30


BLOCK_NOTE_MAX = 500


def block_modal(
    view: CaseView, *, sends_in_24h: int, goes_at: datetime | None, now: datetime
) -> dict[str, Any]:
    """What a Block would put on the Tenant Allow/Block List, an expiry and a note. `goes_at`: when Microsoft's
    throttle lets the submission go, if later than now."""
    original = view.message.original if view.message else None
    lines = []
    sender = original.sender_address if original else ""
    if sender:
        domain = sender.rpartition("@")[2]
        lines.append(f"*Sender:* {mrkdwn(sender, ADDRESS_MAX)} (or its domain {mrkdwn(domain, ADDRESS_MAX)})")
    detected = view.verdict.detected_urls if view.verdict else ()
    if detected:
        urls = [f"• {mrkdwn(u, URL_MAX)}" for u in detected]
        lines.append(f"*URLs Microsoft detected ({len(urls)}):*\n" + lines_within(urls, 900, shown=8))
    parsed = original.urls if original else ()
    if parsed:
        urls = [f"• {mrkdwn(u, URL_MAX)}" for u in parsed]
        lines.append(f"*URLs in the message ({len(urls)}):*\n" + lines_within(urls, 900, shown=8))
    files = {a.sha256: a.filename for a in (original.attachments if original else ()) if a.sha256}
    for detected_file in view.verdict.detected_files if view.verdict else ():
        files.setdefault(detected_file.file_hash, detected_file.file_name)
    if files:
        hashes = [
            f"• {mrkdwn(name, 100) or '_(no name)_'} {code(digest, 80)}" for digest, name in files.items()
        ]
        lines.append(f"*Attachments ({len(hashes)}):*\n" + lines_within(hashes, 900, shown=6))
    if not lines:
        lines.append("Nothing Microsoft could block was found in this message.")
    throttle = (
        "Microsoft accepts the same message once per 15 minutes and three times per 24 hours; phishbot has "
        f"sent this one {sends_in_24h} time{'s' if sends_in_24h != 1 else ''} in the last 24 hours."
    )
    if goes_at is not None and goes_at > now:
        throttle += f" :alarm_clock: This block will be sent {slack_date(goes_at)}, not now."
    expiry_options = [
        option(
            f"{days} day{'s' if days != 1 else ''}"
            + (" (the longest a dated entry lasts)" if days == 90 else ""),
            str(days),
        )
        for days in BLOCK_EXPIRY_DAYS
    ]
    default = next(o for o in expiry_options if o["value"] == str(BLOCK_DEFAULT_DAYS))
    blocks: BlockKit = [
        section(
            f"*Case #{view.case_id}:* {item_name(view, 200)}\nMicrosoft adds to the Tenant Allow/Block List what "
            "its filters find bad among:",
            block_id="block_intro",
        ),
        section("\n".join(lines), block_id="block_items"),
        {
            "type": "input",
            "block_id": "expiry",
            "label": plain_text("Remove the entries after", 2000),
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
            "label": plain_text("Note on the entries", 2000),
            "element": {"type": "plain_text_input", "action_id": "note", "max_length": BLOCK_NOTE_MAX},
        },
        context([throttle], block_id="block_throttle"),
    ]
    return case_modal(ModalCallback.BLOCK, "Block", blocks, view.case_id, "Block")


@dataclass(frozen=True)
class BlockForm:
    case_id: int | None
    expires_days: int
    note: str


def read_block_modal(view: Mapping[str, Any]) -> BlockForm:
    state = view.get("state") if isinstance(view, Mapping) else None
    values = state.get("values", {}) if isinstance(state, Mapping) else {}
    chosen = selected_value(values, "expiry")
    days = int(chosen) if small_number(chosen) and int(chosen) in BLOCK_EXPIRY_DAYS else BLOCK_DEFAULT_DAYS
    return BlockForm(
        case_id=modal_case_id(view.get("private_metadata") if isinstance(view, Mapping) else None),
        expires_days=days,
        note=text_value(values, "note")[:BLOCK_NOTE_MAX],
    )
