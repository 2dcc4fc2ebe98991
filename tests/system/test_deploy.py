"""Starting for real: `phishbot run` refuses a database whose schema is not its own (and PostgreSQL is migrated
on purpose, by `phishbot migrate`), and SQLite means one process — a second `phishbot run` says so and exits."""

from __future__ import annotations

import pytest
from conftest import bot_environment, migrate_first
from processes import BotProcess, run_cli
from sqlalchemy import create_engine, text

from bot.store import Database, open_store


def set_revision(database_url: str, revision: str) -> None:
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})
    engine.dispose()


@pytest.mark.slow
def test_a_second_run_on_the_same_sqlite_file_says_so_and_exits(slack, graph, tls, sqlite_url, tmp_path):
    environment = bot_environment(slack, graph, tls, sqlite_url)
    first = BotProcess(environment, tmp_path / "first.log").wait_ready()
    try:
        second = run_cli(["run"], {**environment, "PORT": "0"}, tmp_path)
        assert second.returncode == 1
        assert "another phishbot" in second.stdout + second.stderr
        assert f"(pid {first.process.pid})" in second.stdout + second.stderr
        assert "PostgreSQL" in second.stdout + second.stderr
        assert first.process.poll() is None and first.readiness()["ok"]
    finally:
        assert first.terminate() < 30
    # The lock went with the first process: the file is free again.
    again = BotProcess(environment, tmp_path / "again.log").wait_ready()
    again.terminate()


@pytest.mark.slow
def test_a_database_ahead_of_the_code_is_refused_with_one_clear_line(
    slack, graph, tls, database_url, tmp_path
):
    migrate_first(database_url)
    store = open_store(database_url)
    store.database.migrate()
    store.database.close()
    set_revision(database_url, "9999_from_the_future")
    environment = bot_environment(slack, graph, tls, database_url)
    result = run_cli(["run"], {**environment, "PORT": "0"}, tmp_path)
    assert result.returncode == 1
    assert "9999_from_the_future, newer than this phishbot knows" in result.stdout + result.stderr
    # `phishbot migrate` does not touch it either.
    migrate = run_cli(["migrate"], environment, tmp_path)
    assert migrate.returncode == 1 and "newer than this phishbot knows" in migrate.stderr


@pytest.mark.slow
def test_postgresql_must_be_migrated_by_phishbot_migrate_before_run(
    slack, graph, tls, postgres_url, tmp_path
):
    environment = bot_environment(slack, graph, tls, postgres_url)
    refused = run_cli(["run"], {**environment, "PORT": "0"}, tmp_path)
    assert refused.returncode == 1
    assert "run `phishbot migrate` first" in refused.stdout + refused.stderr
    store = open_store(postgres_url)
    assert store.database.schema_revision() is None  # run did not migrate it
    store.database.close()

    migrated = run_cli(["migrate"], environment, tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert f"database is at revision {Database.head_revision()}" in migrated.stdout

    bot = BotProcess(environment, tmp_path / "bot.log").wait_ready()
    assert bot.terminate() < 30


def test_a_database_behind_the_code_names_the_command_to_run(database_url):
    store = open_store(database_url)
    try:
        store.database.migrate()
        set_revision(database_url, "0001")
        if Database.head_revision() == "0001":
            pytest.skip("only one revision exists")
        kind, words = store.database.schema_problem()
        assert kind == "behind"
        assert words.startswith("the database schema is at revision 0001 and this phishbot needs")
        assert "run `phishbot migrate`" in words
    finally:
        store.database.close()


def test_sqlite_run_brings_an_empty_schema_up_to_date_itself(bot, database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL is migrated by `phishbot migrate` (the fixture does it)")
    # The `bot` fixture starts the real Runtime; on SQLite it was given an empty file.
    assert bot.store.database.schema_revision() == Database.head_revision()
