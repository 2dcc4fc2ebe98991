"""Slack failing on the way: rate limits and server errors on posting and editing the card, and a card that
would grow past Slack's limits. The card still arrives once and ends at the verdict."""

from __future__ import annotations

from importlib import resources

from conftest import ALICE, INTAKE, SOC

from bot.domain import CaseStatus

SAMPLE = (resources.files("bot.sandbox") / "samples" / "credential-phish.eml").read_bytes()


def final_card(slack, bot):
    slack.wait_for(lambda: bot.store.cases.case_view(1).status is CaseStatus.VERDICT, timeout=20)
    return slack.wait_for(
        lambda: [m for m in slack.messages(SOC) if "report.resubmit" in str(m.blocks)], timeout=20
    )


def test_a_429_on_posting_the_card_is_waited_out(bot, slack, graph):
    slack.fail_next("chat.postMessage", status=429, retry_after=1)
    slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
    [card] = final_card(slack, bot)
    assert len(slack.messages(SOC)) == 1


def test_server_errors_on_editing_the_card_are_retried_until_it_is_right(bot, slack, graph):
    # More failures than one call's retries: the sweep keeps the card dirty and edits it later.
    slack.fail_next("chat.update", status=503, times=6)
    slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
    [card] = final_card(slack, bot)
    assert "Phishing" in card.text
    assert len(slack.messages(SOC)) == 1


def test_a_deleted_card_is_posted_again(bot, slack, graph):
    graph.verdict_after = 2.0
    slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
    slack.wait_for(
        lambda: bot.store.cases.case_exists(1) and bot.store.card_posts.card_location(1), timeout=10
    )
    channel, ts = bot.store.card_posts.card_location(1)
    slack.delete_message(channel, ts)
    [card] = final_card(slack, bot)
    assert card.ts != ts


def test_an_email_that_would_overflow_the_card_is_trimmed_not_rejected(bot, slack, graph):
    urls = "\r\n".join(f"https://host{i}.evil.example/path/{'x' * 40}" for i in range(300))
    subject = "Invoice " + "very long subject " * 600
    raw = (
        f"From: billing@evil.example\r\nTo: alice@contoso.example\r\nSubject: {subject}\r\n"
        f"Message-ID: <overflow@evil.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n{urls}\r\n"
    ).encode()
    slack.upload_file(ALICE, INTAKE, "big.eml", raw)
    [card] = final_card(slack, bot)
    assert len(card.blocks) <= 50
    assert "more" in str(card.blocks)  # the URL list says how many were left out
    # The slack fixture fails the test if Slack would have answered invalid_blocks to anything sent.
