"""The one retry policy of the store: a repository method marked `@survives_reconnect` waits out a database that
went away (PostgreSQL restarting) for up to RECONNECT_SECONDS; the schema steps, readiness and metrics answer at
once; a commit whose outcome is unknown is never run again. No database is needed: the calls fail on purpose."""

from __future__ import annotations

import inspect

import pytest
from sqlalchemy.exc import OperationalError

from bot.store import CommitUncertain, Database, Repositories
from bot.store.inbox import TAKE_RECONNECT_SECONDS
from bot.store.repository import Repository

POSTGRES = "postgresql+psycopg://phishbot@127.0.0.1:9/phishbot"  # never connected to


class _Gone(Exception):
    pass


def dropped() -> OperationalError:
    return OperationalError("SELECT 1", {}, _Gone("server closed the connection unexpectedly"))


def failing(times: int, error: Exception):
    calls = []

    def call() -> str:
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "done"

    return call, calls


def test_a_dropped_connection_is_tried_again_until_the_server_is_back(caplog):
    database = Database(POSTGRES)
    call, calls = failing(2, dropped())
    assert database.run("open_case", call) == "done" and len(calls) == 3
    assert "database unavailable in open_case (_Gone); trying again" in caplog.text
    database.close()


def test_sqlite_does_not_wait_for_a_file_to_come_back():
    database = Database("sqlite://")
    call, calls = failing(1, dropped())
    with pytest.raises(OperationalError):
        database.run("open_case", call)
    assert len(calls) == 1


def test_a_wait_can_be_shorter_than_the_reconnect_budget(monkeypatch):
    # What Inbox.take asks for: Slack waits three seconds for the ack, so the record gives up well before that.
    database = Database(POSTGRES)
    clock = [0.0]
    monkeypatch.setattr("bot.store.database.time.monotonic", lambda: clock[0])
    monkeypatch.setattr(
        "bot.store.database.time.sleep", lambda seconds: clock.__setitem__(0, clock[0] + seconds)
    )
    call, calls = failing(100, dropped())
    with pytest.raises(OperationalError):
        database.run("take", call, within=TAKE_RECONNECT_SECONDS)
    assert clock[0] <= TAKE_RECONNECT_SECONDS < 3.0
    assert 3 <= len(calls) < 10
    database.close()


def test_a_commit_whose_outcome_is_unknown_is_not_run_again():
    database = Database(POSTGRES)
    call, calls = failing(1, CommitUncertain("the database connection broke while committing"))
    with pytest.raises(CommitUncertain):
        database.run("open_case", call)
    assert len(calls) == 1
    database.close()


def test_every_repository_method_waits_out_a_reconnect_but_the_metrics_gauge():
    repositories = Repositories.over(Database("sqlite://"))
    waiting, at_once = set(), set()
    for repository in vars(repositories).values():
        if not isinstance(repository, Repository):
            continue
        for name, method in inspect.getmembers(type(repository), inspect.isfunction):
            if not name.startswith("_"):
                (waiting if hasattr(method, "__wrapped__") else at_once).add(
                    f"{type(repository).__name__}.{name}"
                )
    # Inbox.take runs before Slack hears the ack: it waits out a restart too, but only TAKE_RECONNECT_SECONDS (its
    # own test below).
    assert at_once == {"Submissions.open_check_count", "Inbox.take"}
    assert {"Cases.open_case", "Idempotency.first_time", "Workers.heartbeat", "AuditLog.record"} <= waiting
    # The database's own steps (schema, readiness, close) answer at once: none is marked.
    marked = {n for n, m in inspect.getmembers(Database, inspect.isfunction) if hasattr(m, "__wrapped__")}
    assert marked == {"session", "_transaction"}  # context managers (contextlib wraps them), not retries
