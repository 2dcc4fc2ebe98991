"""The store on SQLite and PostgreSQL: the schema Alembic builds is the one the models describe, and every
claim of work is won exactly once even when threads race for it."""

from __future__ import annotations

import dataclasses
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from conftest import migrate_first
from sqlalchemy import update

from bot.domain import CaseKind, CaseStatus, Category, SubmissionState, Verdict
from bot.store import WORKER_TIMEOUT, Database, NewReport, describe, open_store, read_details
from bot.store.audit import encode_details
from bot.store.models import AuditRow, Base, WorkerRow


@pytest.fixture
def store(database_url):
    migrate_first(database_url)
    store = open_store(database_url)
    yield store
    store.database.close()


@pytest.fixture
def migrated_store(database_url):
    """The migrations themselves run (the other tests start from a copy of a migrated database)."""
    store = open_store(database_url)
    store.database.migrate()
    yield store
    store.database.close()


def url_report(url="https://evil.example/login", reporter="U0AAA0001", **changes) -> NewReport:
    report = NewReport(
        dedupe_key="url:" + url,
        kind=CaseKind.URL,
        category=Category.PHISHING,
        door="slash_url",
        reporter_id=reporter,
        reporter_email="a@contoso.example",
        channel_id="C0INTAKE01",
        subject=url,
        url=url,
    )
    return dataclasses.replace(report, **changes)


def test_migrations_build_exactly_the_models(migrated_store):
    store = migrated_store
    assert store.database.schema_revision() == Database.head_revision()
    with store.database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_migrate_twice_is_harmless(migrated_store):
    store = migrated_store
    store.database.migrate()
    assert store.database.schema_revision() == Database.head_revision()


def test_one_case_per_message_and_reporters_join(store):
    first = store.cases.open_case(url_report())
    again = store.cases.open_case(url_report())
    other = store.cases.open_case(url_report(reporter="U0BBB0002"))
    assert first.created and first.submission_id is not None
    assert (again.created, again.joined, again.case_id) == (False, False, first.case_id)
    assert (other.created, other.joined, other.case_id) == (False, True, first.case_id)
    assert store.cases.case_view(first.case_id).reporters == ("U0AAA0001", "U0BBB0002")
    assert store.submissions.due_to_send() == [first.submission_id]


def test_concurrent_reports_of_one_message_make_one_case(store):
    reporters = [f"U0RACE{i:04d}" for i in range(12)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda r: store.cases.open_case(url_report(reporter=r)), reporters))
    assert sum(r.created for r in results) == 1
    assert len({r.case_id for r in results}) == 1
    assert sorted(store.cases.case_view(results[0].case_id).reporters) == reporters
    assert len(store.submissions.due_to_send()) == 1


def test_a_submission_is_claimed_for_sending_once(store):
    opened = store.cases.open_case(url_report())
    barrier = threading.Barrier(6)

    def claim(_):
        barrier.wait()
        return store.submissions.claim_send(opened.submission_id)

    with ThreadPoolExecutor(max_workers=6) as pool:
        claims = [c for c in pool.map(claim, range(6)) if c is not None]
    assert len(claims) == 1
    assert claims[0].url == "https://evil.example/login"


def test_an_abandoned_send_claim_is_taken_over_after_the_lease(store):
    opened = store.cases.open_case(url_report())
    assert store.submissions.claim_send(opened.submission_id) is not None
    assert store.submissions.due_to_send() == []
    later = datetime.now(UTC) + timedelta(minutes=6)
    assert store.submissions.due_to_send(later) == [opened.submission_id]
    assert store.submissions.claim_send(opened.submission_id, later) is not None


def test_due_checks_are_claimed_once_and_follow_the_schedule(store):
    ids = []
    for i in range(5):
        opened = store.cases.open_case(url_report(url=f"https://evil{i}.example/"))
        store.submissions.claim_send(opened.submission_id)
        store.submissions.record_sent(
            opened.submission_id, f"ms-{i}", datetime.now(UTC) - timedelta(seconds=1), None
        )
        ids.append(opened.submission_id)
    barrier = threading.Barrier(3)

    def claim(_):
        barrier.wait()
        return store.submissions.claim_due_checks()

    with ThreadPoolExecutor(max_workers=3) as pool:
        rounds = list(pool.map(claim, range(3)))
    claimed = sorted(w.submission_id for r in rounds for w in r)
    assert claimed == sorted(ids)
    assert store.submissions.claim_due_checks() == []


def test_final_verdict_ends_checks_and_reporters_are_told_once(store):
    opened = store.cases.open_case(url_report())
    store.cases.open_case(url_report(reporter="U0BBB0002"))
    store.submissions.claim_send(opened.submission_id)
    running = Verdict(status="running", detail="underInvestigation")
    store.submissions.record_sent(opened.submission_id, "ms-1", datetime.now(UTC), running)
    work = store.submissions.claim_due_checks()
    final = Verdict(status="succeeded", category="phishing", detail="brandImpersonation")
    assert store.submissions.record_check(work[0].submission_id, final, next_check_at=None) is True
    # A late duplicate answer for a finished submission changes nothing.
    assert store.submissions.record_check(work[0].submission_id, final, next_check_at=None) is False
    view = store.cases.case_view(opened.case_id)
    assert view.status is CaseStatus.VERDICT and view.verdict == final
    assert store.submissions.open_check_count() == 0
    to_tell = store.reporters.reporters_to_tell(opened.case_id)
    assert len(to_tell) == 2
    assert [store.reporters.claim_reporter_outcome(r.reporter_row_id) for r in to_tell] == [True, True]
    assert [store.reporters.claim_reporter_outcome(r.reporter_row_id) for r in to_tell] == [False, False]
    assert store.reporters.cases_with_untold_reporters() == []


def test_card_post_is_claimed_once(store):
    opened = store.cases.open_case(url_report())
    with ThreadPoolExecutor(max_workers=4) as pool:
        wins = list(pool.map(lambda _: store.card_posts.claim_card_post(opened.case_id), range(4)))
    assert wins.count(True) == 1
    store.card_posts.record_card_posted(opened.case_id, "C0SOC0001", "1700000000.000100")
    assert store.card_posts.card_location(opened.case_id) == ("C0SOC0001", "1700000000.000100")
    assert store.card_posts.claim_card_post(opened.case_id, datetime.now(UTC) + timedelta(hours=1)) is False


def test_event_ids_are_first_time_once(store):
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: store.idempotency.first_time("event:Ev123"), range(4)))
    assert results.count(True) == 1


def test_resubmission_is_queued_once_and_dismiss_stops_it(store):
    opened = store.cases.open_case(url_report())
    store.submissions.claim_send(opened.submission_id)
    store.submissions.record_sent(opened.submission_id, "ms-1", datetime.now(UTC), None)
    # Still being checked: no second submission.
    assert store.submissions.queue_resubmission(opened.case_id, "U0SOC0001", datetime.now(UTC)) is None
    work = store.submissions.claim_due_checks(datetime.now(UTC) + timedelta(minutes=10))
    store.submissions.record_check(
        work[0].submission_id, Verdict(status="succeeded", category="notJunk"), next_check_at=None
    )
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    resubmission = store.submissions.queue_resubmission(opened.case_id, "U0SOC0001", tomorrow)
    assert resubmission is not None
    assert store.submissions.queue_resubmission(opened.case_id, "U0SOC0001", tomorrow) is None
    assert store.cases.case_view(opened.case_id).resubmit_due_at == tomorrow.replace(
        microsecond=tomorrow.microsecond
    )
    assert store.submissions.due_to_send() == []
    assert store.submissions.due_to_send(tomorrow + timedelta(seconds=1)) == [resubmission]
    assert store.cases.dismiss(opened.case_id, "U0SOC0001") is True
    assert store.cases.dismiss(opened.case_id, "U0SOC0001") is False
    assert store.submissions.due_to_send(tomorrow + timedelta(seconds=1)) == []
    actions = [a.action for a in store.cases.case_view(opened.case_id).actions]
    assert actions == ["resubmit_scheduled", "dismissed"]


def test_audit_log_keeps_refusals(store):
    store.audit.record(
        "U0NOPE001", "report.resubmit", "refused", case_id=7, details={"reason": "not a responder"}
    )
    entries = store.audit.entries(7)
    assert [(e["actor"], e["action"], e["outcome"]) for e in entries] == [
        ("U0NOPE001", "report.resubmit", "refused")
    ]


def test_submission_states_are_the_domain_words(store):
    opened = store.cases.open_case(url_report())
    with store.database.engine.connect() as connection:
        state = connection.exec_driver_sql("SELECT state FROM submissions").scalar_one()
    assert state == SubmissionState.QUEUED.value
    assert opened.case_id == 1


def test_what_a_dead_worker_claimed_is_free_and_a_live_ones_is_not(store, database_url):
    """Two processes on one database: while the one that claimed work beats, the work is its own; once it stops
    (killed), the other takes over its send (marked as resumed: the answer may be lost), its card draw and its
    outcome message (the reporter is untold again), without waiting for the leases."""
    other = open_store(database_url)
    try:
        opened = store.cases.open_case(url_report())
        store.workers.heartbeat()
        other.workers.heartbeat()
        send = store.submissions.claim_send(opened.submission_id)
        assert send is not None and not send.resumed
        assert store.card_posts.take_card_dirty(opened.case_id)
        [reporter] = store.reporters.reporters_to_tell(opened.case_id)
        assert store.reporters.claim_outcome_message(reporter.reporter_row_id)

        # The claimer lives: nothing is free for the other.
        assert other.submissions.due_to_send() == []
        assert other.submissions.claim_send(opened.submission_id) is None
        assert other.card_posts.dirty_cards() == [] and not other.card_posts.take_card_dirty(opened.case_id)
        assert other.reporters.reporters_to_tell(opened.case_id) == []

        # It dies (no heartbeat for longer than WORKER_TIMEOUT): its claims are free, once each.
        with store.database.engine.begin() as connection:
            connection.execute(
                update(WorkerRow)
                .where(WorkerRow.id == store.database.worker_id)
                .values(seen_at=datetime.now(UTC) - WORKER_TIMEOUT - timedelta(seconds=1))
            )
        assert other.submissions.due_to_send() == [opened.submission_id]
        resumed = other.submissions.claim_send(opened.submission_id)
        assert (
            resumed is not None
            and resumed.resumed
            and other.submissions.claim_send(opened.submission_id) is None
        )
        assert other.card_posts.dirty_cards() == [opened.case_id]
        assert other.card_posts.take_card_dirty(opened.case_id) and not other.card_posts.take_card_dirty(
            opened.case_id
        )
        other.card_posts.card_drawn(opened.case_id)
        assert other.card_posts.dirty_cards() == []
        assert [r.reporter_row_id for r in other.reporters.reporters_to_tell(opened.case_id)] == [
            reporter.reporter_row_id
        ]
        assert other.reporters.claim_outcome_message(reporter.reporter_row_id)
        other.reporters.outcome_message_sent(reporter.reporter_row_id)
        assert other.reporters.reporters_to_tell(opened.case_id) == []
        # The claims a worker keeps for itself never look dead to it.
        assert store.reporters.reporters_to_tell(opened.case_id) == []
    finally:
        other.database.close()


def test_on_sqlite_the_process_lock_holder_frees_every_other_workers_claims_at_once(sqlite_url):
    first = open_store(sqlite_url)
    first.database.migrate()
    second = open_store(sqlite_url)
    try:
        opened = first.cases.open_case(url_report())
        first.workers.heartbeat()
        assert first.submissions.claim_send(opened.submission_id) is not None
        assert second.submissions.claim_send(opened.submission_id) is None
        second.workers.forget_other_workers()  # what Runtime.start does once it holds the process lock
        assert second.submissions.claim_send(opened.submission_id) is not None
    finally:
        first.database.close()
        second.database.close()


def test_audit_details_are_named_fields_and_entries_written_as_free_text_still_read(store):
    store.audit.record(
        "U0SAMSOC1", "report.purge", "done", case_id=3, details={"count": 30, "method": "defender"}
    )
    with store.database.session() as session:  # an entry from before details had fields
        session.add(
            AuditRow(
                at=datetime.now(UTC), actor="U0SAMSOC1", action="report.purge", case_id=3, outcome="done",
                detail="scope=message action=softDelete count=12",
            )
        )  # fmt: skip
    with store.database.engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT detail FROM audit_log ORDER BY id").scalars().all()
    assert json.loads(stored[0]) == {"count": 30, "method": "defender"}
    new, old = store.audit.entries(3)
    assert (
        new["details"] == {"count": 30, "method": "defender"} and new["detail"] == "count=30 method=defender"
    )
    assert old["details"] == {"text": "scope=message action=softDelete count=12"}
    assert old["detail"] == "scope=message action=softDelete count=12"


def test_a_lone_reason_reads_as_itself_and_lists_and_flags_read_as_words():
    assert describe(read_details(encode_details({"reason": "Not a responder."}))) == "Not a responder."
    shown = describe({"block": 2, "automatic": True, "entries": ["url=a:ok", "url=b:ok"], "to": None})
    assert shown == "block=2 automatic=yes entries=url=a:ok,url=b:ok to=none"
    assert encode_details({}) == "" and read_details("") == {}
