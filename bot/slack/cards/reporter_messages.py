"""What a reporter is told, in their language: the acknowledgement, the outcome, `/report-phish status`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from bot.domain import (
    CaseKind,
    CaseStatus,
    CaseView,
    Verdict,
)
from bot.microsoft import vocabulary as words
from bot.slack import i18n as messages
from bot.slack.cards.blockkit import (
    BlockKit,
    lines_within,
    section,
    single_section,
    slack_date,
)
from bot.slack.safe_text import mrkdwn


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
) -> tuple[str, BlockKit]:
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
    return single_section(text, block_id="ack")


def reporter_outcome(view: CaseView, language: str = messages.ENGLISH) -> tuple[str, BlockKit]:
    """The outcome, in plain words of the reporter's language."""
    return single_section(_outcome_text(view, language), block_id="outcome")


def reporter_review(view: CaseView, category: str, language: str = messages.ENGLISH) -> tuple[str, BlockKit]:
    """A responder marked the reported message as `category` (Mark as … and notify): the reporter hears it."""
    is_link = view.kind == CaseKind.URL
    return single_section(
        messages.text(
            language,
            f"review.{category}",
            item=_reporter_item(view, language),
            careful=messages.text(language, "careful.link" if is_link else "careful.email"),
        ),
        block_id="review",
    )


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

    # Read-only, so a frozen dataclass fits.
    @property
    def case_id(self) -> int: ...
    @property
    def status(self) -> CaseStatus: ...
    @property
    def subject(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def verdict(self) -> Verdict | None: ...


def status_list(cases: Sequence[CaseLine], language: str = messages.ENGLISH) -> tuple[str, BlockKit]:
    """`/report-phish status`: the caller's recent reports and what became of them."""
    if not cases:
        return single_section(messages.text(language, "status.none"), block_id="status_list")
    lines = []
    for line in cases:
        emoji, headline = words.verdict_headline(line.verdict, line.status)
        what = f"“{mrkdwn(line.subject, 120)}”" if (line.subject or "").strip() else "_(no subject)_"
        lines.append(f"• Case #{line.case_id}: {what}, {slack_date(line.created_at)} · {emoji} {headline}")
    title = messages.text(language, "status.title")
    text = f"*{title}*\n" + lines_within(lines, 2900, noun="more reports")
    fallback = f"{title}: {len(cases)}"
    return fallback, [section(text, block_id="status_list")]
