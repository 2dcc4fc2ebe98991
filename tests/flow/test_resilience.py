"""Faults on the way: Microsoft throttling and failing, the bot restarting mid-case. Every case still completes
exactly once: one submission, one card, one outcome message per reporter."""

from __future__ import annotations

import math
from importlib import resources

import pytest
from conftest import ALICE, INTAKE, RESPONDER, SOC, bot_environment

from bot.config import Settings
from bot.domain import CaseKind, CaseStatus, Category
from bot.sandbox.clock import FakeClock
from bot.services import build_services
from bot.slack.contract import ActionId

SAMPLE = (resources.files("bot.sandbox") / "samples" / "credential-phish.eml").read_bytes()
EMAIL_POST = "POST /beta/security/threatSubmission/emailThreats"


def created_submissions(graph):
    return graph.submissions


def wait_verdict(slack, bot, case_id=1, timeout=20.0):
    """Sweeps at moved-on times until the verdict is in: poll gaps are skipped, not waited out."""
    return bot.until(lambda: bot.store.cases.case_view(case_id).status is CaseStatus.VERDICT, timeout=timeout)


def assert_one_card_and_one_outcome(slack, bot):
    slack.wait_for(lambda: slack.dms(ALICE) and not bot.store.card_posts.dirty_cards())
    soc_posts = [c for c in slack.calls_to("chat.postMessage") if c.args.get("channel") == SOC]
    assert len(soc_posts) == 1
    assert len(slack.messages(SOC)) == 1
    assert len(slack.dms(ALICE)) == 1


def test_a_429_with_retry_after_on_submission_is_waited_out(bot, slack, graph):
    graph.fail_next(EMAIL_POST, status=429, retry_after=1)
    slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
    wait_verdict(slack, bot)
    attempts = [r for r in graph.requests if r.method == "POST" and r.path.endswith("/emailThreats")]
    assert [a.status for a in attempts] == [429, 201]
    assert len(created_submissions(graph)) == 1
    assert_one_card_and_one_outcome(slack, bot)


def test_503s_on_verdict_reads_are_retried(bot, slack, graph):
    graph.fail_next("POST /beta/$batch", status=503, times=2)
    slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
    wait_verdict(slack, bot)
    assert_one_card_and_one_outcome(slack, bot)


def test_a_429_inside_a_batch_is_retried_for_that_submission(bot, slack, graph):
    graph.fail_next(
        "GET /beta/security/threatSubmission/emailThreats/{id}", status=429, retry_after=1, in_batch=True
    )
    slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
    wait_verdict(slack, bot)
    assert_one_card_and_one_outcome(slack, bot)


def test_microsoft_down_for_the_whole_retry_budget_keeps_the_report_queued(bot, slack, graph):
    graph.fail_next(EMAIL_POST, status=503, times=5)
    slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
    posts = lambda: [r for r in graph.requests if r.method == "POST" and r.path.endswith("/emailThreats")]  # noqa: E731
    # All five attempts failed, the submission is queued for later (not due now), and the card is drawn.
    slack.wait_for(
        lambda: (
            len(posts()) == 5
            and not bot.store.submissions.due_to_send()
            and bot.store.submissions.due_to_send(_far_future())
            and slack.messages(SOC)
            and not bot.store.card_posts.dirty_cards()
        ),
        timeout=30,
    )
    view = bot.store.cases.case_view(1)
    assert view.status is CaseStatus.SUBMITTING
    assert graph.submissions == {}
    # The card is there, saying what is going on; nothing is lost.
    assert len(slack.messages(SOC)) == 1


def test_a_permanent_refusal_reaches_the_soc_card(bot, slack, graph):
    graph.fail_next(
        EMAIL_POST, status=400, body=b'{"error":{"code":"BadRequest","message":"Invalid content"}}'
    )
    slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
    slack.wait_for(lambda: bot.store.cases.case_view(1).status is CaseStatus.FAILED)
    slack.wait_for(lambda: "Invalid content" in str([m.blocks for m in slack.messages(SOC)]))
    [card] = slack.messages(SOC)
    assert "Invalid content" in str(card.blocks)


def test_a_restart_between_submission_and_verdict_edits_the_same_card(bot, slack, graph):
    graph.verdict_after = 3.0
    slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
    slack.wait_for(
        lambda: (
            bot.store.cases.case_view(1).status is CaseStatus.CHECKING
            and bot.store.card_posts.card_location(1)
        )
    )
    bot.stop()
    bot.start()
    wait_verdict(slack, bot)
    assert len(created_submissions(graph)) == 1
    assert_one_card_and_one_outcome(slack, bot)
    assert slack.messages(SOC)[0].updates >= 1


def graph_statuses(graph, method: str, path: str) -> list[int | None]:
    return [r.status for r in graph.graph_requests() if r.method == method and r.path == path]


SUBMISSION_PATH = "/beta/security/threatSubmission/emailThreats"
VERDICT_READ = "GET /beta/security/threatSubmission/emailThreats/{id}"


@pytest.mark.parametrize(
    ("route", "status", "in_batch"),
    [
        (EMAIL_POST, 429, False),
        ("POST /beta/$batch", 429, False),
        (VERDICT_READ, 429, True),
        (EMAIL_POST, 500, False),
        (VERDICT_READ, 500, True),
    ],
    ids=[
        "429-submission",
        "429-verdict-batch",
        "429-inside-the-batch",
        "500-submission",
        "500-inside-the-batch",
    ],
)
def test_transient_failures_without_retry_after_are_retried_and_the_report_completes(
    bot, slack, graph, route, status, in_batch
):
    # No Retry-After: the client's own backoff decides (its values: test_graph_client); a bounded number of
    # attempts, and the report completes once, whichever of its requests Microsoft throttled or failed.
    graph.fail_next(route, status=status, times=2, in_batch=in_batch)
    slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
    wait_verdict(slack, bot)
    if route == EMAIL_POST:
        assert graph_statuses(graph, "POST", SUBMISSION_PATH) == [status, status, 201]
    elif in_batch:
        inner = [r.status for r in graph.batch_requests()]
        assert inner.count(status) == 2 and inner[-1] == 200
    else:
        batches = graph_statuses(graph, "POST", "/beta/$batch")
        assert batches.count(status) == 2 and batches[-1] == 200
    assert len(created_submissions(graph)) == 1
    assert_one_card_and_one_outcome(slack, bot)


def test_connection_resets_on_the_submission_and_the_verdict_read_are_retried(bot, slack, graph):
    graph.fail_next(EMAIL_POST, status=503, reset=True, times=2)
    graph.fail_next("POST /beta/$batch", status=503, reset=True, times=2)
    slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
    wait_verdict(slack, bot)
    assert graph_statuses(graph, "POST", SUBMISSION_PATH) == [None, None, 201]  # None: no answer, a reset
    assert graph_statuses(graph, "POST", "/beta/$batch")[:2] == [None, None]
    assert len(created_submissions(graph)) == 1
    assert_one_card_and_one_outcome(slack, bot)


def test_malformed_json_from_the_verdict_read_is_read_again_and_the_report_completes(bot, slack, graph):
    # Every retry of the client gets the same broken answer: the check round fails, the next one reads it.
    graph.fail_next("POST /beta/$batch", status=200, body=b'{"responses": [{"id": "1", "sta', times=2)
    slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
    wait_verdict(slack, bot)
    assert graph_statuses(graph, "POST", "/beta/$batch")[-1] == 200
    assert bot.store.cases.case_view(1).error is None
    assert_one_card_and_one_outcome(slack, bot)


def test_a_malformed_answer_to_the_submission_is_sent_again_later_not_failed(bot, slack, graph):
    graph.fail_next(EMAIL_POST, status=201, body=b'{"id": "trunc')
    slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
    slack.wait_for(
        lambda: (
            graph_statuses(graph, "POST", SUBMISSION_PATH) == [201]
            and not bot.store.submissions.due_to_send()
            and bot.store.submissions.due_to_send(_far_future())
        ),
        timeout=20,
    )
    assert (
        bot.store.cases.case_view(1).status is CaseStatus.SUBMITTING
    )  # waiting to be sent again, not failed


def test_a_token_that_expires_mid_run_is_renewed_and_the_report_completes(bot, slack, graph):
    graph.verdict_after = 3.0  # several verdict reads: the token expires between two of them
    slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
    slack.wait_for(lambda: bot.store.cases.case_view(1).status is CaseStatus.CHECKING, timeout=20)
    tokens_before = graph.token_requests
    graph.expire_tokens()
    wait_verdict(slack, bot)
    assert graph.token_requests == tokens_before + 1
    # The old token was refused once, by whichever Graph call came first: a verdict read, or the sweep's
    # listing of Report-button submissions.
    assert [r.status for r in graph.requests if "/oauth2/" not in r.path].count(401) == 1
    assert_one_card_and_one_outcome(slack, bot)


def test_a_permanent_refusal_tells_the_soc_and_resubmit_completes_the_case(bot, slack, graph):
    graph.fail_next(EMAIL_POST, status=403)
    slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
    slack.wait_for(lambda: bot.store.cases.case_view(1).status is CaseStatus.FAILED)

    # The card says what went wrong, in words a responder can act on, and offers Resubmit.
    def failed(m) -> bool:
        return "ThreatSubmission.ReadWrite.All" in str(m.blocks) and ActionId.RESUBMIT in str(m.blocks)

    [card] = slack.wait_for(lambda: [m for m in slack.messages(SOC) if failed(m)])
    assert "403" in str(card.blocks) and "Submission failed" in card.text + str(card.blocks)
    assert slack.dms(ALICE) == []  # the reporter waits for an outcome; a failure is the SOC's to fix
    assert graph.submissions == {}

    # The permission is granted; a responder sends the case again from the card.
    slack.click(RESPONDER, ActionId.RESUBMIT, "1", card)
    wait_verdict(slack, bot)
    assert graph_statuses(graph, "POST", SUBMISSION_PATH) == [403, 201]
    assert len(created_submissions(graph)) == 1
    assert [a.action for a in bot.store.cases.case_view(1).actions] == ["resubmitted"]
    assert_one_card_and_one_outcome(slack, bot)  # the same card, edited; one outcome for the reporter
    assert "ThreatSubmission.ReadWrite.All" not in str(slack.messages(SOC)[0].blocks)


@pytest.mark.parametrize("open_submissions", [100])
def test_one_verdict_round_reads_n_submissions_in_n_over_20_requests(
    slack, graph, tls, database_url, open_submissions
):
    settings = Settings(**bot_environment(slack, graph, tls, database_url, PHISHBOT_POLL_SCHEDULE="1"))
    clock = FakeClock(following_real_time=True)
    services = build_services(settings, clock=clock)
    try:
        services.store.database.migrate()
        from bot.store import NewReport

        for i in range(open_submissions):
            opened = services.store.cases.open_case(
                NewReport(
                    dedupe_key=f"url:https://e{i}.example/",
                    kind=CaseKind.URL,
                    category=Category.PHISHING,
                    door="slash_url",
                    reporter_id=ALICE,
                    reporter_email=None,
                    channel_id=None,
                    url=f"https://e{i}.example/",
                )
            )
            services.follow_up.send(opened.submission_id)
        assert services.store.submissions.open_check_count() == open_submissions
        clock.advance(1.1)  # the first poll gap
        before = len(graph.requests)
        read = services.follow_up.check_due()  # at the clock's time: every check is due
        assert read == open_submissions
        round_requests = [r for r in graph.requests[before:] if not r.in_batch]
        assert len(round_requests) == math.ceil(open_submissions / 20)
        assert all(r.path == "/beta/$batch" for r in round_requests)
    finally:
        services.close()


def _far_future():
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) + timedelta(days=1)
