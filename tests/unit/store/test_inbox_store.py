"""The inbox on SQLite and PostgreSQL: a Slack request is recorded once per key, held by its taker while that one
lives, free for another worker the moment its taker is gone (or its lease ended), claimed by one of them only,
and done once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from bot.store import open_store
from bot.store.inbox import DONE_KEPT, INBOX_LEASE
from bot.store.models import InboxRow, WorkerRow

BODY = {"command": "/report-phish", "text": "https://login.example/", "trigger_id": "13345224609.7"}


@pytest.fixture
def store(database_url):
    store = open_store(database_url)
    store.database.migrate()
    store.workers.heartbeat()
    yield store
    store.database.close()


@pytest.fixture
def other(store, database_url):
    """A second worker (another replica) on the same database."""
    second = open_store(database_url)
    second.workers.heartbeat()
    yield second
    second.database.close()


def now() -> datetime:
    return datetime.now(UTC)  # the heartbeats are real time


def declare_dead(store, worker_id: str) -> None:
    with store.database.session() as session:
        session.execute(
            update(WorkerRow).where(WorkerRow.id == worker_id).values(seen_at=now() - timedelta(hours=1))
        )


def test_a_request_is_recorded_once_per_key_and_held_by_its_taker(store, other):
    taken = store.inbox.take("/report-phish:13345224609.7", "/report-phish", BODY)
    assert taken is not None and taken.body == BODY and taken.attempts == 1
    assert store.inbox.take("/report-phish:13345224609.7", "/report-phish", BODY) is None  # Slack's retry
    assert (
        other.inbox.take("/report-phish:13345224609.7", "/report-phish", BODY) is None
    )  # on another replica
    # Its live taker holds it: nobody else may carry it out.
    assert store.inbox.due(now()) == [] and other.inbox.due(now()) == []
    assert other.inbox.claim(taken.id, now()) is None
    assert store.inbox.undone_count() == 1


def test_a_dead_takers_request_is_claimed_by_exactly_one_other_worker(store, other, database_url):
    taken = store.inbox.take("message:Ev01", "message", {"event_id": "Ev01"})
    assert taken is not None
    declare_dead(other, store.database.worker_id)
    assert other.inbox.due(now()) == [taken.id]
    third = open_store(database_url)
    third.workers.heartbeat()
    try:
        with ThreadPoolExecutor(8) as pool:
            claims = list(pool.map(lambda repo: repo.inbox.claim(taken.id, now()), [other, third] * 4))
    finally:
        third.database.close()
    won = [claim for claim in claims if claim is not None]
    assert len(won) == 1
    assert won[0].body == {"event_id": "Ev01"} and won[0].attempts == 2
    assert other.inbox.due(now()) == []  # held by its new taker


def test_a_lease_that_ran_out_frees_the_request_even_from_a_live_taker(store, other):
    taken = store.inbox.take("k:1", "report.purge", {"trigger_id": "1"})
    assert other.inbox.due(now() + INBOX_LEASE + timedelta(seconds=1)) == [taken.id]


def test_done_is_never_due_again_and_its_body_is_dropped(store, other):
    taken = store.inbox.take("k:2", "message", {"event_id": "Ev02", "event": {"files": ["F1"]}})
    store.inbox.finish(taken.id)
    declare_dead(other, store.database.worker_id)
    assert other.inbox.due(now() + timedelta(days=2)) == []
    assert other.inbox.claim(taken.id, now() + timedelta(days=2)) is None
    with store.database.session() as session:
        row = session.get(InboxRow, taken.id)
        assert row.body == {} and row.done_at is not None
    assert store.inbox.take("k:2", "message", {"event_id": "Ev02"}) is None  # still known: a retry is refused
    assert store.inbox.undone_count() == 0


def test_done_requests_are_forgotten_a_day_later(store):
    old = store.inbox.take("k:old", "message", {})
    store.inbox.finish(old.id)
    with store.database.session() as session:
        session.execute(
            update(InboxRow)
            .where(InboxRow.id == old.id)
            .values(done_at=now() - DONE_KEPT - timedelta(hours=1))
        )
    recent = store.inbox.take("k:new", "message", {})
    store.inbox.finish(recent.id)
    with store.database.session() as session:
        assert session.get(InboxRow, old.id) is None
        assert session.get(InboxRow, recent.id) is not None


def test_retry_later_and_hand_back(store, other):
    failed = store.inbox.take("k:3", "message", {})
    later = now() + timedelta(minutes=1)
    store.inbox.retry_later(failed.id, later, "SlackApiError")
    assert other.inbox.due(now()) == []
    assert other.inbox.due(later) == [failed.id]
    stopped = store.inbox.take("k:4", "message", {})
    store.inbox.hand_back(stopped.id)
    assert other.inbox.due(now()) == [stopped.id]  # a SIGTERM'd taker's request is free at once
    other.inbox.hand_back(stopped.id)  # not its own: nothing changes
    assert other.inbox.claim(stopped.id, now()) is not None


def test_many_threads_record_many_requests_at_once(store):
    start = threading.Barrier(8)

    def take(number: int):
        start.wait() if number < 8 else None
        return store.inbox.take(f"k:burst-{number}", "message", {"n": number})

    with ThreadPoolExecutor(8) as pool:
        taken = list(pool.map(take, range(40)))
    assert all(item is not None for item in taken)
    assert len({item.id for item in taken}) == 40
    assert store.inbox.undone_count() == 40
