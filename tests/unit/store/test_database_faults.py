"""A database that fails past the store's own patience: the reporter hears that nothing was recorded."""

from __future__ import annotations

from conftest import ALICE, INTAKE
from sqlalchemy import create_engine, text


def test_a_report_the_database_cannot_record_is_answered_with_a_clear_message(
    bot, slack, graph, database_url
):
    # Not a dropped connection (the store waits those out) but a database that refuses the write.
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE cases RENAME TO cases_away"))
    try:
        response = slack.slash_command(ALICE, "https://evil.example/login", channel_id=INTAKE)
        assert response.status_code == 200
        [told] = slack.wait_for(
            lambda: [r for r in slack.responses if "could not record" in (r.get("text") or "")]
        )
        assert "report it again" in told["text"]
        assert graph.submissions == {}
    finally:
        with engine.begin() as connection:
            connection.execute(text("ALTER TABLE cases_away RENAME TO cases"))
        engine.dispose()

    # The bot kept serving: the same report, sent again, becomes a case.
    slack.slash_command(ALICE, "https://evil.example/login", channel_id=INTAKE)
    slack.wait_for(lambda: bot.runtime.services.store.cases.case_exists(1))
