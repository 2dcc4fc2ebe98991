"""The /report-phish modal: one of my recent emails, an .eml/.msg upload or a link, and its reader."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.domain import (
    Category,
)
from bot.slack.cards.blockkit import (
    BlockKit,
    as_utc,
    context,
    plain_text,
    section,
    small_number,
)
from bot.slack.contract import ModalCallback
from bot.slack.safe_text import mrkdwn, plain, text_length, truncate

RECENT_SHOWN = 15


RECENT_LOADING = "loading"


_METADATA_MAX = 3000  # Slack's limit on a view's private_metadata


class RecentEmail(Protocol):
    """One of the reporter's recent emails as the modal lists it (bot.microsoft.graph.MailboxMessage)."""

    # Read-only, so a frozen dataclass fits.
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
        local = as_utc(email.received_at) + timedelta(seconds=tz_offset)
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
    blocks: BlockKit = []
    if error:
        blocks.append(section(f":warning: {mrkdwn(error, 1000, multiline=True)}", block_id="error"))
    private: dict[str, Any] = dict(metadata or {})
    if recent == RECENT_LOADING:
        blocks.append(
            context([":hourglass_flowing_sand: Looking for your recent emails…"], block_id="recent")
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
                {"text": plain_text(_recent_label(email, tz_offset), 75), "value": str(index)}
                for index, email in enumerate(list(recent)[: len(ids)])
            ]
            blocks.append(
                {
                    "type": "input",
                    "block_id": "recent",
                    "optional": True,
                    "label": plain_text("Pick it from your recent emails", 2000),
                    "hint": plain_text("Only you see this list. Newest first.", 2000),
                    "element": {
                        "type": "static_select",
                        "action_id": "recent",
                        "placeholder": plain_text("Choose an email", 150),
                        "options": options,
                    },
                }
            )
        else:
            blocks.append(context(["phishbot found no recent emails in your mailbox."], block_id="recent"))
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
                "label": plain_text(
                    "Or upload the suspicious email" if recent else "The suspicious email", 2000
                ),
                "hint": plain_text(hint, 2000),
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
                "label": plain_text("Or a suspicious link", 2000),
                "element": {"type": "url_text_input", "action_id": "url"},
            },
            {
                "type": "input",
                "block_id": "category",
                "label": plain_text("What do you think it is?", 2000),
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
                "label": plain_text("Anything Security should know?", 2000),
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
        "callback_id": ModalCallback.REPORT,
        "title": plain_text("Report phishing", 24),
        "submit": plain_text("Report", 24),
        "close": plain_text("Cancel", 24),
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
    if isinstance(picked, Mapping) and small_number(picked.get("value")):
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


def report_metadata(private_metadata: str | None) -> dict[str, Any]:
    """The report modal's private_metadata as a dict ({} when absent or malformed)."""
    try:
        value = json.loads(private_metadata or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


_MODAL_CATEGORIES = (Category.PHISHING, Category.MALWARE, Category.SPAM)


_CATEGORY_OPTIONS = {
    Category.PHISHING: {"text": plain_text("Phishing", 75), "value": Category.PHISHING.value},
    Category.MALWARE: {"text": plain_text("Malware", 75), "value": Category.MALWARE.value},
    Category.SPAM: {"text": plain_text("Spam", 75), "value": Category.SPAM.value},
}
