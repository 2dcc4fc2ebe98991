"""The store's half of the safety rails, on SQLite and PostgreSQL: one remediation per case at a time (a unique
constraint, whoever races for it), leased runs, and an automatic block considered once per case."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from conftest import migrate_first

from bot.domain import CaseKind, Category, RemediationState
from bot.store import ItemState, ItemUpdate, NewReport, Repositories, open_store


@pytest.fixture
def store(database_url):
    migrate_first(database_url)
    store = open_store(database_url)
    yield store
    store.database.close()


def email_case(store: Repositories, key: str = "mid:one") -> int:
    return store.cases.open_case(
        NewReport(
            dedupe_key=key,
            kind=CaseKind.EMAIL,
            category=Category.PHISHING,
            door="upload",
            reporter_id="U0AAA0001",
            reporter_email="a@contoso.example",
            channel_id="C0INTAKE01",
            raw=b"Subject: x\r\n\r\nbody",
        )
    ).case_id


def copies(n: int):
    return [
        SimpleNamespace(
            network_message_id=f"nm-{i}",
            recipient=f"u{i}@contoso.example",
            internet_message_id="<m@x>",
            location="Inbox/folder",
        )
        for i in range(n)
    ]


def test_one_remediation_per_case_whoever_races_for_it(store):
    case_id = email_case(store)
    barrier = threading.Barrier(8)

    def start(n):
        barrier.wait()
        return store.remediations.start_remediation(
            case_id,
            kind="purge",
            scope="message",
            action="softDelete",
            method="defender",
            actor=f"U0R{n:07d}",
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        started = [r for r in pool.map(start, range(8)) if r is not None]
    assert len(started) == 1
    assert store.cases.case_view(case_id).active_remediation.remediation_id == started[0]
    # Another case is not held up; this one is free again once the remediation ends.
    assert (
        store.remediations.start_remediation(
            email_case(store, "mid:two"),
            kind="purge",
            scope="message",
            action="softDelete",
            method="defender",
            actor="U0R0000001",
        )
        is not None
    )
    assert store.remediations.finish_remediation(started[0], RemediationState.DONE) is True
    assert store.remediations.finish_remediation(started[0], RemediationState.DONE) is False
    assert (
        store.remediations.start_remediation(
            case_id,
            kind="restore",
            scope="message",
            action="moveToInbox",
            method="defender",
            actor="U0R0000001",
            restores_id=started[0],
        )
        is not None
    )


def test_a_run_is_claimed_once_and_taken_over_after_its_lease(store):
    case_id = email_case(store)
    remediation_id = store.remediations.start_remediation(
        case_id, kind="purge", scope="message", action="softDelete", method="mailbox", actor="U0R0000001"
    )
    store.remediations.add_remediation_items(remediation_id, copies(3))
    with ThreadPoolExecutor(max_workers=4) as pool:
        claims = [
            c for c in pool.map(lambda _: store.remediations.claim_remediation(remediation_id), range(4)) if c
        ]
    assert len(claims) == 1 and claims[0].total == 3
    assert store.remediations.due_remediations() == []
    later = datetime.now(UTC) + timedelta(minutes=6)
    assert store.remediations.due_remediations(later) == [remediation_id]
    items = store.remediations.remediation_items(remediation_id, [ItemState.PENDING])
    store.remediations.record_remediation_items(
        remediation_id,
        [ItemUpdate(items[0].item_id, ItemState.DONE), ItemUpdate(items[1].item_id, ItemState.MISSING)],
    )
    view = store.cases.case_view(case_id).remediation
    assert (view.done, view.missing, view.total) == (1, 1, 3)


def test_an_automatic_block_is_considered_once(store):
    case_id = email_case(store)
    now = datetime.now(UTC)
    assert store.block_requests.queue_block(
        case_id, "phishbot", expires_days=30, note="", not_before=now, automatic=True
    )
    assert (
        store.block_requests.queue_block(
            case_id, "phishbot", expires_days=30, note="", not_before=now, automatic=True
        )
        is None
    )
    assert store.block_requests.skip_auto_block(case_id, "simulation") is False
    # A responder may still block by hand while the automatic one waits? No: one block waits at a time.
    assert (
        store.block_requests.queue_block(case_id, "U0R0000001", expires_days=30, note="", not_before=now)
        is None
    )
