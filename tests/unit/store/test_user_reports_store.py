"""The store's share of the Report button, on SQLite and PostgreSQL: the listing is claimed by one worker at a
time and its watermark only moves forward; a user-reported submission opens or joins the one case of its message
exactly once, however many threads or workers take it in; a review is claimed once per submission."""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from bot.domain import (
    CaseKind,
    CaseStatus,
    Category,
    Door,
    ReportedMessage,
    SubmissionSource,
    SubmissionState,
    Verdict,
    message_id_key,
)
from bot.store import FollowedSubmission, NewReport, open_store
from bot.store.models import CaseRow, SubmissionRow

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
MESSAGE_ID = "<Phish-7@Evil.Example>"
RUNNING = Verdict(status="running", detail="underInvestigation")
PHISHING = Verdict(status="succeeded", category="phishing", detail="brandImpersonation")


@pytest.fixture
def store(database_url):
    store = open_store(database_url)
    store.database.migrate()
    yield store
    store.database.close()


@pytest.fixture
def other(store, database_url):
    """A second worker (another replica) on the same database."""
    second = open_store(database_url)
    yield second
    second.database.close()


def user_report(reporter="U0ALICE01", email="alice@contoso.example", **changes) -> NewReport:
    message = ReportedMessage(message_id=MESSAGE_ID, subject="Your password expires")
    report = NewReport(
        dedupe_key=message_id_key(MESSAGE_ID),
        kind=CaseKind.EMAIL,
        category=Category.PHISHING,
        door=Door.REPORT_BUTTON.value,
        reporter_id=reporter,
        reporter_email=email,
        channel_id=None,
        subject=message.subject,
        message=message,
    )
    return dataclasses.replace(report, **changes)


def followed(microsoft_id="user-sub-1", verdict=RUNNING, **changes) -> FollowedSubmission:
    submission = FollowedSubmission(
        microsoft_id=microsoft_id,
        created_at=NOW,
        recipient="alice@contoso.example",
        category="phishing",
        verdict=verdict,
        next_check_at=None if verdict.is_final else NOW + timedelta(minutes=1),
    )
    return dataclasses.replace(submission, **changes)


# --- the listing ----------------------------------------------------------------------------------------------


def test_the_listing_is_claimed_by_one_worker_at_a_time_and_is_due_again_a_poll_later(store, other):
    first = NOW - timedelta(hours=1)
    every = timedelta(seconds=60)
    claims = [
        s.user_reports.claim_poll("email", now=NOW, every=every, first_watermark=first)
        for s in (store, other)
    ]
    assert [c is not None for c in claims] == [True, False]
    assert claims[0].watermark == first
    assert store.user_reports.finish_poll("email", watermark=NOW - timedelta(minutes=10), taken=3) is False
    # Not due before a poll interval has passed, for either worker; then once.
    assert (
        other.user_reports.claim_poll(
            "email", now=NOW + timedelta(seconds=30), every=every, first_watermark=first
        )
        is None
    )
    later = NOW + timedelta(seconds=61)
    again = [
        s.user_reports.claim_poll("email", now=later, every=every, first_watermark=first)
        for s in (other, store)
    ]
    assert [c is not None for c in again] == [True, False]
    assert again[0].watermark == NOW - timedelta(minutes=10)
    state = store.user_reports.poll_state("email")
    assert state.taken == 3 and state.denied_at is None


def test_racing_workers_claim_a_due_listing_once(store, database_url):
    workers = [open_store(database_url) for _ in range(4)]
    barrier = threading.Barrier(len(workers))

    def claim(worker):
        barrier.wait()
        return worker.user_reports.claim_poll(
            "email", now=NOW, every=timedelta(seconds=60), first_watermark=NOW - timedelta(hours=1)
        )

    try:
        with ThreadPoolExecutor(max_workers=len(workers)) as pool:
            claims = [c for c in pool.map(claim, workers) if c is not None]
        assert len(claims) == 1
    finally:
        for worker in workers:
            worker.database.close()


def test_the_watermark_never_moves_back_and_a_failed_listing_leaves_it(store):
    every = timedelta(seconds=60)
    start = NOW - timedelta(hours=1)
    store.user_reports.claim_poll("email", now=NOW, every=every, first_watermark=start)
    store.user_reports.finish_poll("email", watermark=NOW, taken=1)
    store.user_reports.claim_poll("email", now=NOW + every, every=every, first_watermark=start)
    store.user_reports.finish_poll("email", watermark=NOW - timedelta(days=1), taken=0)
    assert store.user_reports.poll_state("email").watermark == NOW
    store.user_reports.claim_poll("email", now=NOW + 2 * every, every=every, first_watermark=start)
    store.user_reports.poll_failed("email", "503", retry_at=NOW + 3 * every)
    assert store.user_reports.poll_state("email").watermark == NOW


def test_a_refusal_is_reported_once_and_cleared_by_a_listing_that_works(store):
    every = timedelta(seconds=60)
    start = NOW - timedelta(hours=1)
    firsts = []
    for n in range(3):
        store.user_reports.claim_poll(
            "email", now=NOW + n * timedelta(hours=1), every=every, first_watermark=start
        )
        firsts.append(
            store.user_reports.poll_failed(
                "email", "403 Forbidden", retry_at=NOW + (n + 1) * timedelta(hours=1), denied=True
            )
        )
    assert firsts == [True, False, False]
    assert store.user_reports.poll_state("email").denied_at is not None
    store.user_reports.claim_poll("email", now=NOW + timedelta(hours=3), every=every, first_watermark=start)
    assert store.user_reports.finish_poll("email", watermark=None, taken=0) is True
    assert store.user_reports.poll_state("email").denied_at is None


def test_a_listing_claimed_by_a_live_worker_stays_its_own_until_the_lease_ends(store, other):
    store.workers.heartbeat()
    other.workers.heartbeat()
    now = datetime.now(UTC)  # the heartbeats are real time
    start = now - timedelta(hours=1)
    every = timedelta(0)  # due again at once: only the claim keeps the other worker out
    assert store.user_reports.claim_poll("email", now=now, every=every, first_watermark=start) is not None
    soon = now + timedelta(seconds=1)
    assert other.user_reports.claim_poll("email", now=soon, every=every, first_watermark=start) is None
    # A listing still claimed five minutes on belongs to a worker that hung: the lease has ended.
    later = now + timedelta(minutes=6)
    assert other.user_reports.claim_poll("email", now=later, every=every, first_watermark=start)


# --- one case per message ---------------------------------------------------------------------------------------


def test_a_user_report_opens_a_case_that_follows_the_employees_submission_and_sends_none(store):
    opened = store.cases.open_user_report(user_report(), followed())
    assert opened.created and not opened.joined
    view = store.cases.case_view(opened.case_id)
    assert view.status is CaseStatus.CHECKING
    assert [s.microsoft_id for s in view.user_submissions] == ["user-sub-1"]
    assert view.reports[0].door == "report_button" and view.reports[0].email == "alice@contoso.example"
    assert view.has_copy is False
    assert store.submissions.due_to_send(NOW + timedelta(days=1)) == []  # nothing for phishbot to send
    with store.database.session() as session:
        [row] = session.scalars(select(SubmissionRow))
        assert (row.source, row.state) == (SubmissionSource.USER.value, SubmissionState.CHECKING.value)
    # Its result is read on the verdict schedule, like phishbot's own submissions.
    [check] = store.submissions.claim_due_checks(now=NOW + timedelta(minutes=2))
    assert check.microsoft_id == "user-sub-1"
    # The Report button's reporter is not told the verdict by phishbot (Microsoft tells them).
    assert store.reporters.reporters_to_tell(opened.case_id) == []


def test_the_same_submission_listed_twice_is_taken_once(store):
    assert store.cases.open_user_report(user_report(), followed()) is not None
    assert store.cases.open_user_report(user_report(), followed()) is None
    assert len(store.cases.case_view(1).user_submissions) == 1


def test_racing_takes_of_reports_of_one_message_make_one_case_with_every_submission(store, database_url):
    workers = [open_store(database_url) for _ in range(3)]
    reports = [(f"U0RACE{n:04d}", f"sub-{n}") for n in range(9)]
    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            results = list(
                pool.map(
                    lambda item: workers[hash(item[1]) % 3].cases.open_user_report(
                        user_report(reporter=item[0]), followed(item[1])
                    ),
                    reports + reports,  # every submission twice, as two replicas listing at once would
                )
            )
    finally:
        for worker in workers:
            worker.database.close()
    taken = [r for r in results if r is not None]
    assert len(taken) == 9 and sum(r.created for r in taken) == 1
    view = store.cases.case_view(taken[0].case_id)
    assert sorted(s.microsoft_id for s in view.user_submissions) == sorted(s for _, s in reports)
    assert sorted(view.reporters) == sorted(r for r, _ in reports)


def test_a_user_report_joins_the_case_a_slack_report_opened_and_a_final_result_ends_a_gave_up_case(store):
    slack = store.cases.open_case(
        user_report(reporter="U0BOB0001", door="upload", raw=b"Subject: x\r\n\r\nx")
    )
    with store.database.session() as session:  # Microsoft never answered phishbot's own submission
        session.execute(update(SubmissionRow).values(state=SubmissionState.GAVE_UP.value))
        session.execute(update(CaseRow).values(status=CaseStatus.GAVE_UP.value))
    joined = store.cases.open_user_report(user_report(), followed(verdict=PHISHING))
    assert (joined.case_id, joined.created, joined.joined) == (slack.case_id, False, True)
    view = store.cases.case_view(slack.case_id)
    assert view.status is CaseStatus.VERDICT and view.verdict.category == "phishing"
    assert view.reporters == ("U0BOB0001", "U0ALICE01") and view.has_copy


def test_a_later_slack_report_gives_a_report_button_case_the_messages_bytes(store):
    opened = store.cases.open_user_report(user_report(), followed())
    richer = ReportedMessage(
        message_id=MESSAGE_ID, subject="Your password expires", urls=("https://evil.example/",)
    )
    joined = store.cases.open_case(
        user_report(reporter="U0BOB0001", door="upload", message=richer, raw=b"Subject: x\r\n\r\nx")
    )
    assert joined.joined and joined.case_id == opened.case_id
    view = store.cases.case_view(opened.case_id)
    assert view.has_copy and view.message.urls == ("https://evil.example/",)


# --- reviews ----------------------------------------------------------------------------------------------------


def test_a_review_is_claimed_once_per_submission_and_a_failed_one_can_be_sent_again(store, other):
    store.workers.heartbeat()  # both workers live: a review one is sending is not the other's
    other.workers.heartbeat()
    store.cases.open_user_report(user_report(), followed("sub-a"))
    store.cases.open_user_report(
        user_report(reporter="U0BOB0001", email="bob@contoso.example"), followed("sub-b")
    )
    claimed = store.user_reports.claim_reviews(1, "phishing", "U0SAMSOC1")
    assert [w.microsoft_id for w in claimed] == ["sub-a", "sub-b"]
    assert other.user_reports.claim_reviews(1, "spam", "U0SAMSOC1") == []
    store.user_reports.finish_reviews(
        1, "U0SAMSOC1", "phishing", {claimed[0].review_id: None, claimed[1].review_id: "503"}
    )
    view = store.cases.case_view(1)
    assert [(s.microsoft_id, s.review.state) for s in view.user_submissions] == [
        ("sub-a", "done"),
        ("sub-b", "failed"),
    ]
    assert [s.microsoft_id for s in view.unreviewed] == ["sub-b"]
    assert [a.action for a in view.actions] == ["reviewed"]
    [again] = other.user_reports.claim_reviews(1, "malware", "U0SAMSOC1")
    assert again.microsoft_id == "sub-b"
    assert store.user_reports.claim_reviews(1, "malware", "U0SAMSOC1") == []


def test_a_case_with_no_user_submission_has_nothing_to_review(store):
    store.cases.open_case(user_report(reporter="U0BOB0001", door="upload"))
    assert store.user_reports.claim_reviews(1, "phishing", "U0SAMSOC1") == []
