"""Block Kit building blocks shared by every view: Slack's limits, text objects, sections, buttons, dates,
mentions, and the readers of a submitted modal's state. Pure functions; every text is cut to Slack's limits here."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.slack.safe_text import mrkdwn, text_length, truncate, truncate_mrkdwn

# A message's or a view's blocks, as Slack's JSON. Only the views say "blocks" for this; the block list of
# Microsoft's tenant is bot.cases.block_list.
BlockKit = list[dict[str, Any]]

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

# --- small builders -------------------------------------------------------------------------------------


def plain_text(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": truncate(text, limit) or " ", "emoji": True}


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": plain_text(text, HEADER_MAX)}


def section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "section",
        "text": {"type": "mrkdwn", "text": fit(text, SECTION_TEXT_MAX)},
    }
    if block_id:
        block["block_id"] = block_id
    return block


def context(texts: Iterable[str], block_id: str | None = None) -> dict[str, Any]:
    elements = [{"type": "mrkdwn", "text": fit(text, CONTEXT_TEXT_MAX)} for text in texts if text][
        :CONTEXT_ELEMENTS_MAX
    ]
    block: dict[str, Any] = {"type": "context", "elements": elements or [{"type": "mrkdwn", "text": " "}]}
    if block_id:
        block["block_id"] = block_id
    return block


def button(
    text: str,
    action_id: str,
    value: str,
    *,
    style: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": plain_text(text, BUTTON_TEXT_MAX),
        "value": value,
    }
    if style:
        element["style"] = style
    if confirm:
        element["confirm"] = confirm
    return element


def option(text: str, value: str, description: str | None = None) -> dict[str, Any]:
    choice: dict[str, Any] = {"text": plain_text(text, 75), "value": value}
    if description:
        choice["description"] = plain_text(description, 75)
    return choice


def fit(text: str, limit: int) -> str:
    """The last line of defence for a text object; the builders below keep within it line by line."""
    return truncate_mrkdwn(text, limit) or " "


def lines_within(lines: Sequence[str], budget: int, *, shown: int = ITEMS_SHOWN, noun: str = "more") -> str:
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
    moment = as_utc(moment)
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def date_from_text(value: str | None) -> str:
    """A date given as text (Graph, headers): Slack's token when it parses, else the text made safe."""
    if not value:
        return ""
    try:
        return slack_date(datetime.fromisoformat(value.strip()))
    except (ValueError, OverflowError, OSError):
        return mrkdwn(value, 60)


_SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")


def person(user_id: str) -> str:
    """A reporter or actor: a live mention only for a well-formed Slack user id."""
    if _SLACK_USER_ID.fullmatch(user_id or ""):
        return f"<@{user_id}>"
    return mrkdwn(user_id, 60) or "someone"


def case_modal(
    callback_id: str, title: str, blocks: BlockKit, case_id: int, submit: str | None
) -> dict[str, Any]:
    """A responder's modal about one case; the case id in its private_metadata is only a claim, judged again
    on submission."""
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain_text(title, 24),
        "close": plain_text("Cancel", 24),
        "blocks": blocks,
        "private_metadata": json.dumps({"case_id": case_id}),
    }
    if submit:
        view["submit"] = plain_text(submit, 24)
    return view


# --- reading a submitted modal's state: anything missing or malformed reads as empty --------------------


def selected_value(values: Mapping[str, Any], block_id: str) -> str:
    block = values.get(block_id) if isinstance(values, Mapping) else None
    element = block.get(block_id) if isinstance(block, Mapping) else None
    chosen = element.get("selected_option") if isinstance(element, Mapping) else None
    value = chosen.get("value") if isinstance(chosen, Mapping) else None
    return value if isinstance(value, str) else ""


def text_value(values: Mapping[str, Any], block_id: str) -> str:
    block = values.get(block_id) if isinstance(values, Mapping) else None
    element = block.get(block_id) if isinstance(block, Mapping) else None
    value = element.get("value") if isinstance(element, Mapping) else None
    return value.strip() if isinstance(value, str) else ""


def small_number(value: object) -> bool:
    """An option value that int() reads as an index or a day count ("²" is a digit to str.isdigit(), not to
    int(); a 5,000-digit one is past int()'s limit)."""
    return isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 6


def modal_case_id(private_metadata: str | None) -> int | None:
    try:
        value = json.loads(private_metadata or "{}").get("case_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def notice(text: str) -> tuple[str, BlockKit]:
    """A one-section ephemeral (a refusal, an error), its text made safe."""
    return single_section(
        mrkdwn(text, SECTION_TEXT_MAX, multiline=True).strip() or "(no details)", block_id="notice"
    )


def single_section(text: str, *, block_id: str) -> tuple[str, BlockKit]:
    return truncate_mrkdwn(text, FALLBACK_TEXT_MAX), [section(text, block_id=block_id)]
