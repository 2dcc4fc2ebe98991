"""Ephemeral answers to a responder's click: the resubmit choice and who clicked the case's links."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.microsoft import vocabulary as words
from bot.slack.cards.blockkit import (
    ADDRESS_MAX,
    FALLBACK_TEXT_MAX,
    BlockKit,
    as_utc,
    button,
    context,
    lines_within,
    person,
    section,
    slack_date,
)
from bot.slack.contract import ActionId
from bot.slack.safe_text import mrkdwn, truncate_mrkdwn


def resubmit_choice(case_id: int, due_at: datetime) -> tuple[str, BlockKit]:
    """For a responder who clicked Resubmit within 24 h of the last submission: now, or at `due_at`."""
    value = str(case_id)
    due_utc = as_utc(due_at)
    text = (
        f"Case #{case_id} was sent to Microsoft less than a day ago. Microsoft's analysis can take up to "
        "a day and it accepts the same item at most three times in 24 hours, so it is best to wait a day "
        f"before resubmitting. Schedule the resubmission for {slack_date(due_utc)}, or send it now?"
    )
    buttons = [
        button(
            f"Schedule for {due_utc.strftime('%d %b %H:%M')} UTC",
            ActionId.RESUBMIT_LATER,
            value,
            style="primary",
        ),
        button("Send now", ActionId.RESUBMIT_NOW, value),
    ]
    blocks: BlockKit = [
        section(text, block_id="resubmit_choice"),
        {"type": "actions", "block_id": "resubmit_choice_actions", "elements": buttons},
    ]
    return truncate_mrkdwn(text, FALLBACK_TEXT_MAX), blocks


_CLICK_WORDS = {
    "clickallowed": "allowed",
    "clickblocked": "blocked",
    "clickblockedbytenantpolicy": "blocked by your policy",
    "clickedthrough": "clicked through",
}


def who_clicked(case_id: int, clicks: Sequence[Any], people: Mapping[str, str]) -> tuple[str, BlockKit]:
    """Safe Links clicks on a case's links, for its thread. `people`: lower-case UPN -> Slack user id.
    Whoever clicked through a warning comes first, highlighted, for follow-up."""
    if not clicks:
        text = (
            f"*Who clicked* (case #{case_id}): nobody — Safe Links recorded no click on this message's links "
            "in the last 30 days. Only links Safe Links wraps are counted."
        )
        return truncate_mrkdwn(text, FALLBACK_TEXT_MAX), [section(text, block_id="who_clicked")]
    by_user: dict[str, list[Any]] = {}
    for click in clicks:
        by_user.setdefault((click.user or "").lower(), []).append(click)
    through = [u for u, cs in by_user.items() if any(c.clicked_through for c in cs)]
    others = [u for u in by_user if u not in through]

    def who(user: str) -> str:
        slack_id = people.get(user)
        name = mrkdwn(by_user[user][-1].user, ADDRESS_MAX) or "_(unknown account)_"
        return f"{person(slack_id)} ({name})" if slack_id else name

    def line(user: str, highlight: bool) -> str:
        user_clicks = by_user[user]
        last = user_clicks[-1]
        verdict = _CLICK_WORDS.get(
            (last.action_type or "").lower(), words.humanize(last.action_type or "click")
        )
        when = slack_date(last.at) if last.at else "at an unknown time"
        count = f", {len(user_clicks)} clicks" if len(user_clicks) > 1 else ""
        url = mrkdwn(last.url, 200)
        if highlight:
            return f":rotating_light: *{who(user)} clicked through the warning*, {when}{count}: {url}"
        return f"• {who(user)}, {when}{count}: {url} — {mrkdwn(verdict, 40)}"

    summary = (
        f"*Who clicked* (case #{case_id}, Safe Links, last 30 days): {len(clicks):,} clicks by "
        f"{len(by_user):,} people; *{len(through):,} clicked through* a warning."
    )
    blocks: BlockKit = [section(summary, block_id="who_clicked")]
    if through:
        blocks.append(
            section(
                lines_within([line(u, True) for u in through], 2900, shown=15, noun="more people"),
                block_id="clicked_through",
            )
        )
    if others:
        blocks.append(
            section(
                lines_within([line(u, False) for u in others], 2900, shown=15, noun="more people"),
                block_id="clicked",
            )
        )
    if through:
        blocks.append(
            context(
                [
                    "Follow up with whoever clicked through: reset their password, revoke their sessions, and "
                    "check their sign-ins."
                ],
                block_id="follow_up",
            )
        )
    return truncate_mrkdwn(summary, FALLBACK_TEXT_MAX), blocks
