"""Durable intake through signed requests into the real bot: a request is recorded before its ack (the inbox), a
replayed one is carried out once, and one that cannot be recorded is not acknowledged as taken."""

from __future__ import annotations

from conftest import ALICE, INTAKE
from sqlalchemy import text

from handlers.commands import NOT_RECORDED


def inbox_rows(bot) -> list[tuple]:
    with bot.runtime.services.database.engine.connect() as connection:
        return list(connection.execute(text("SELECT kind, done_at IS NOT NULL FROM inbox ORDER BY id")))


def url_submissions(graph) -> list:
    return [r for r in graph.requests if r.method == "POST" and r.path.endswith("/urlThreats")]


def test_a_report_is_in_the_inbox_before_its_ack_and_done_after(bot, slack, graph):
    answer = slack.slash_command(ALICE, "https://login-micros0ft.example/inbox", channel_id=INTAKE)
    assert answer.status_code == 200 and "taking your report" in answer.text
    assert [kind for kind, _done in inbox_rows(bot)] == ["/report-phish"]  # recorded by the time Slack heard
    slack.wait_for(lambda: url_submissions(graph))
    slack.wait_for(lambda: inbox_rows(bot) == [("/report-phish", True)])


def test_a_request_that_cannot_be_recorded_is_answered_so_and_nothing_is_reported(bot, slack, graph):
    # The inbox out of reach (here: its table gone) stands for a database that is down past the record's wait.
    with bot.runtime.services.database.engine.begin() as connection:
        connection.execute(text("ALTER TABLE inbox RENAME TO inbox_away"))
    try:
        answer = slack.slash_command(ALICE, "https://login-micros0ft.example/unrecorded", channel_id=INTAKE)
        assert answer.status_code == 200
        assert NOT_RECORDED in answer.text
        # An event's ack carries no words: not acknowledged, Slack delivers it again later.
        upload = slack.upload_file(ALICE, INTAKE, "report.eml", b"Subject: hi\r\n\r\nhello")
        assert upload.status_code >= 500
    finally:
        with bot.runtime.services.database.engine.begin() as connection:
            connection.execute(text("ALTER TABLE inbox_away RENAME TO inbox"))
    bot.sweep(after=60)
    assert url_submissions(graph) == []
    assert not bot.runtime.services.store.cases.case_exists(1)
    # Back: the next report is taken.
    slack.slash_command(ALICE, "https://login-micros0ft.example/recorded", channel_id=INTAKE)
    slack.wait_for(lambda: url_submissions(graph))
