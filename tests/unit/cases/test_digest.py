"""The weekly digest, from the tables the bot keeps to the message and chart Slack receives: reports, verdict mix,
time to verdict, messages purged and clicks found (from the audit log), top reporters; `phishbot digest --now`
posts it, the scheduled run posts each fire time once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from conftest import ALICE, BOB, RESPONDER, bot_environment, migrate_first
from processes import run_main
from slack_sdk.errors import SlackApiError

from bot.cases.chart import Series, read_png, stacked_bars_png
from bot.cases.digest import GROUPS, Digest, _count
from bot.config import Settings
from bot.domain import CaseKind, Category, Verdict
from bot.services import slack_client
from bot.store import NewReport, Repositories, open_store, read_details
from bot.store.models import AuditRow

DIGEST = "C0DIGEST01"
COLORS = {name: color for name, _, color in GROUPS}


def report(url: str, reporter: str) -> NewReport:
    return NewReport(
        dedupe_key="url:" + url,
        kind=CaseKind.URL,
        category=Category.PHISHING,
        door="slash_url",
        reporter_id=reporter,
        reporter_email=None,
        channel_id=None,
        subject=url,
        url=url,
    )


def finish(store: Repositories, submission_id: int, category: str | None) -> None:
    store.submissions.claim_send(submission_id)
    store.submissions.record_sent(submission_id, f"ms-{submission_id}", datetime.now(UTC), None)
    if category is not None:
        verdict = Verdict(status="succeeded", category=category, detail="itemFoundMalicious")
        store.submissions.record_check(submission_id, verdict, next_check_at=None)


def write_old_audit_row(store: Repositories, case_id: int, action: str, detail: str) -> None:
    with store.database.session() as session:
        session.add(
            AuditRow(
                at=datetime.now(UTC),
                actor=RESPONDER,
                action=action,
                case_id=case_id,
                outcome="done",
                detail=detail,
            )
        )


@pytest.fixture
def week(database_url):
    """A week of work: four cases (two threats, one clean, one waiting), five reports, two purges, a click."""
    migrate_first(database_url)
    store = open_store(database_url)
    a = store.cases.open_case(report("https://a.example/", ALICE))
    b = store.cases.open_case(report("https://b.example/", BOB))
    store.cases.open_case(report("https://b.example/", ALICE))  # Alice joins Bob's case
    c = store.cases.open_case(report("https://c.example/", BOB))
    d = store.cases.open_case(report("https://d.example/", ALICE))
    finish(store, a.submission_id, "phishing")
    finish(store, b.submission_id, "malware")
    finish(store, c.submission_id, "noThreatsFound")
    finish(store, d.submission_id, None)  # sent, no verdict yet
    store.audit.record(RESPONDER, "report.purge", "allowed", case_id=a.case_id)
    store.audit.record(
        RESPONDER, "report.purge", "done", case_id=a.case_id, details={"count": 12, "method": "defender"}
    )
    store.audit.record(RESPONDER, "report.purge", "failed", case_id=b.case_id, details={"count": 40})
    # Entries written before details had fields: free text (and early JSON text), read as before.
    write_old_audit_row(store, b.case_id, "report.purge", '{"count": 3}')
    write_old_audit_row(store, a.case_id, "report.who_clicked", "2 clicks by 2 users")
    yield store
    store.database.close()


def test_digest_now_posts_the_numbers_and_a_chart_of_reports_per_day(slack, graph, tls, week, tmp_path):
    slack.add_channel(DIGEST, "phish-stats")
    environment = bot_environment(
        slack, graph, tls, week.database.database_url, PHISHBOT_DIGEST_CHANNEL=DIGEST
    )
    result = run_main(["digest", "--now"], environment, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"digest posted to {DIGEST}" in result.stdout

    [message] = slack.messages(DIGEST)
    text = message.text
    assert "*phishbot weekly digest*" in text
    assert "*Reports received:* 5 (4 new case(s))" in text
    assert "2 threats" in text and "1 clean" in text and "1 still waiting" in text
    assert "*Time to verdict:* median" in text and "(3 verdict(s))" in text
    assert "*Messages purged:* 15 in 2 purge(s)" in text  # the refused and failed entries do not count
    assert "*Clicks found:* 2 in 1 check(s)" in text
    assert f"*Top reporters:* <@{ALICE}> (3), <@{BOB}> (2)" in text

    [file] = message.files
    assert file["name"].startswith("phishbot-digest-") and file["name"].endswith(".png")
    chart = read_png(slack.file_content(file["id"]))
    colors = {chart.pixel(x, y) for x in range(0, chart.width, 2) for y in range(70, chart.height - 34, 2)}
    assert COLORS["threat"] in colors and COLORS["clean"] in colors and COLORS["waiting"] in colors
    assert COLORS["spam"] not in colors  # no spam this week: no orange bar


def test_digest_without_now_shows_it_and_posts_nothing(slack, graph, tls, week, tmp_path):
    environment = bot_environment(slack, graph, tls, week.database.database_url)
    result = run_main(["digest"], environment, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "*Reports received:* 5" in result.stdout and "not posted" in result.stdout
    assert not slack.calls_to("files.completeUploadExternal")


def test_the_scheduled_digest_is_posted_once_per_fire_time_and_retried_after_a_failure(
    slack, graph, tls, week
):
    slack.add_channel(DIGEST, "phish-stats")
    settings = Settings(**bot_environment(slack, graph, tls, week.database.database_url))
    digest = Digest(week.digests, week.idempotency, slack_client(settings), channel=DIGEST)
    fire = datetime.now(UTC).replace(microsecond=0)

    slack.scopes = [s for s in slack.scopes if s != "files:write"]
    with pytest.raises(SlackApiError):
        digest.post_scheduled(fire)
    assert slack.messages(DIGEST) == []

    slack.scopes.append("files:write")
    assert digest.post_scheduled(fire) is True
    assert digest.post_scheduled(fire) is False  # another replica, or the same one after a restart
    assert len(slack.messages(DIGEST)) == 1
    assert digest.post_scheduled(fire + timedelta(days=7)) is True
    assert len(slack.messages(DIGEST)) == 2


def test_counts_are_read_from_the_count_field_of_the_audit_details():
    assert _count({"count": 12, "method": "defender", "of": 30}) == 12
    assert _count({"remediation": 4, "failed": 2}) == 0  # no count field: no number is guessed
    assert _count({}) == 0


def test_counts_of_entries_written_as_free_text_are_read_as_before():
    assert _count(read_details('{"count": 7}')) == 7
    assert _count(read_details("count=12 softDelete")) == 12
    assert _count(read_details("moved 3 messages in 2 mailboxes")) == 3
    assert _count(read_details("2 clicks")) == 2
    assert _count(read_details("nothing")) == 0
    assert _count(read_details("")) == 0


def test_the_chart_is_a_valid_png_whose_bars_stack_in_proportion():
    png = stacked_bars_png(
        "REPORTS", ["11-01", "11-02"], [Series("a", (200, 0, 0), [4, 0]), Series("b", (0, 0, 200), [4, 2])]
    )
    chart = read_png(png)
    column = [chart.pixel(x, y) for x in range(chart.width) for y in range(chart.height)]
    red, blue = column.count((200, 0, 0)), column.count((0, 0, 200))
    legend = 12 * 12  # each series' legend square
    assert red - legend > 0 and blue - legend > 0
    assert abs((blue - legend) / (red - legend) - 6 / 4) < 0.05
