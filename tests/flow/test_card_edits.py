"""The card under load: many reporters joining one case make a handful of edits, and Slack's Retry-After on
chat.update is waited out (on the bot's clock) before the card is edited again; the card still ends right."""

from __future__ import annotations

from conftest import ALICE, INTAKE, SOC

from bot.domain import CaseStatus
from bot.slack.cards.blockkit import ITEMS_SHOWN

PHISH = "https://login-micros0ft-secure.example/storm"
STORM = "C0STORM001"


def reporters_shown(slack) -> int:
    """How many reporters the SOC card names ("+N more" included)."""
    [card] = slack.messages(SOC)
    [block] = [b for b in card.blocks if b.get("block_id") == "reporters"]
    line = block["text"]["text"].split("\n", 1)[0].removeprefix("*Reported by:* ")
    more = 0
    if line.endswith(" more"):
        line, _, count = line.rpartition(" +")
        more = int(count.removesuffix(" more"))
    return len(line.split(", ")) + more


def test_many_joins_make_a_few_card_edits_and_the_card_shows_everyone(bot, slack, graph):
    graph.verdict_after = 3600.0  # the case stays open: what changes the card is the reporters
    people = [f"U0STORM{n:03d}" for n in range(40)]
    for user_id in people:
        slack.add_user(user_id, name=user_id.lower(), email=f"{user_id.lower()}@contoso.example")
    slack.add_channel(STORM, "storm", members=people)
    for user_id in people:
        assert slack.slash_command(user_id, PHISH, channel_id=STORM).status_code == 200
    slack.wait_for(lambda: len(bot.store.cases.case_view(1).reporters) == len(people), timeout=30)
    bot.until(lambda: not bot.store.card_posts.dirty_cards() and reporters_shown(slack) == len(people))

    assert len(people) > ITEMS_SHOWN  # the card says "+N more": the count is the card's, not a list's length
    edits = slack.calls_to("chat.update")
    # One edit per join would be 40; each edit shows every join since the last one.
    assert 1 <= len(edits) <= len(people) // 4
    assert len(slack.messages(SOC)) == 1  # one card, never a second
    assert [c.status for c in edits] == [200] * len(edits)


def test_a_429_on_editing_the_card_is_waited_out_before_the_next_edit(bot, slack, graph, clock):
    slack.clock = clock.monotonic  # the emulator stamps each call with the bot's clock
    slack.fail_next("chat.update", status=429, retry_after=5)
    slack.slash_command(ALICE, PHISH, channel_id=INTAKE)
    bot.until(lambda: bot.store.cases.case_view(1).status is CaseStatus.VERDICT)
    bot.until(
        lambda: not bot.store.card_posts.dirty_cards() and slack.calls_to("chat.update")[-1].status == 200
    )

    refused, *after = slack.calls_to("chat.update")
    assert refused.status == 429 and after
    # Not retried in its thread, and not edited by anyone before Slack's Retry-After had passed.
    assert after[0].clock_at >= refused.clock_at + 5
    [card] = slack.messages(SOC)
    assert "report.resubmit" in str(card.blocks)  # the verdict's card: the final state was drawn
    assert bot.runtime.services.rate_limits.refusals == 1
