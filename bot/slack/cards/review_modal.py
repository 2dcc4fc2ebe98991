"""The Mark as … and notify modal (a category, Microsoft's verdict preselected, and who will be told) and its
reader."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.domain import CaseView, Category
from bot.microsoft import vocabulary as words
from bot.slack.cards.blockkit import (
    ADDRESS_MAX,
    BlockKit,
    case_modal,
    context,
    lines_within,
    modal_case_id,
    option,
    plain_text,
    section,
    selected_value,
)
from bot.slack.cards.case_evidence import item_name
from bot.slack.contract import ModalCallback
from bot.slack.safe_text import mrkdwn

# The choices, in the portal's order, with what Microsoft tells the reporter.
REVIEW_CHOICES = (
    (Category.PHISHING, "Phishing", "a phishing attempt"),
    (Category.MALWARE, "Malware", "carrying malware"),
    (Category.SPAM, "Spam", "unwanted, not dangerous"),
    (Category.NOT_JUNK, "Not junk", "safe: a legitimate message"),
)


def preselected(view: CaseView) -> Category:
    """The category Microsoft's verdict points to; the reporters' own word for it while there is none."""
    kind = words.verdict_kind(view.verdict)
    if kind == words.VerdictKind.MALICIOUS:
        verdict = view.verdict
        malware = verdict is not None and (verdict.category == "malware" or bool(verdict.detected_files))
        return Category.MALWARE if malware else Category.PHISHING
    if kind == words.VerdictKind.SPAM:
        return Category.SPAM
    if kind in (words.VerdictKind.CLEAN, words.VerdictKind.SIMULATION):
        return Category.NOT_JUNK
    return view.category


def review_modal(view: CaseView) -> dict[str, Any]:
    """Mark the case's user-reported submissions as one category; Microsoft notifies each reporter."""
    waiting = view.unreviewed
    reporters = [mrkdwn(s.reporter or "", ADDRESS_MAX) or "_(unknown)_" for s in waiting]
    options = [option(label, category.value, told) for category, label, told in REVIEW_CHOICES]
    chosen = preselected(view).value
    initial = next(o for o in options if o["value"] == chosen)
    count = len(waiting)
    blocks: BlockKit = [
        section(
            f"*Case #{view.case_id}:* {item_name(view, 200)}\n"
            f"Microsoft will tell the {count} employee{'s' if count != 1 else ''} who reported it with the "
            "Report button what Security marked it as (as the Defender portal's *Mark as and notify* does):\n"
            + lines_within([f"• {r}" for r in reporters], 1500, shown=10, noun="more reporters"),
            block_id="review_intro",
        ),
        {
            "type": "input",
            "block_id": "category",
            "label": plain_text("Mark it as", 2000),
            "element": {
                "type": "radio_buttons",
                "action_id": "category",
                "options": options,
                "initial_option": initial,
            },
        },
        context(
            [
                "Preselected from Microsoft's result. Reporters phishbot finds in Slack hear it there too, in "
                "their language. Each submission is marked once."
            ],
            block_id="review_note",
        ),
    ]
    return case_modal(ModalCallback.REVIEW, "Mark as and notify", blocks, view.case_id, "Mark and notify")


@dataclass(frozen=True)
class ReviewForm:
    case_id: int | None
    category: str | None  # a Category value, or None when the form named none of them


def read_review_modal(view: Mapping[str, Any]) -> ReviewForm:
    state = view.get("state") if isinstance(view, Mapping) else None
    values = state.get("values", {}) if isinstance(state, Mapping) else {}
    chosen = selected_value(values, "category")
    allowed = {category.value for category, _, _ in REVIEW_CHOICES}
    return ReviewForm(
        case_id=modal_case_id(view.get("private_metadata") if isinstance(view, Mapping) else None),
        category=chosen if chosen in allowed else None,
    )
