"""SIGTERM in the middle of the work: the process stops taking new work, hands back what it cannot finish (a
submission waiting out Microsoft's Retry-After goes back to the queue), exits 0 within 30 s, and after a restart
every case completes exactly once: one submission, one card, one outcome message per reporter."""

from __future__ import annotations

from importlib import resources

import pytest
from conftest import ALICE, BOB, INTAKE, SOC, bot_environment, migrate_first
from processes import BotProcess

from bot.domain import CaseStatus, SubmissionState
from bot.store import open_store

SAMPLE = (resources.files("bot.sandbox") / "samples" / "credential-phish.eml").read_bytes()
EMAIL_POST = "POST /beta/security/threatSubmission/emailThreats"


def email(number: int) -> bytes:
    return SAMPLE.replace(b"Message-ID: <", f"Message-ID: <shutdown-{number}-".encode())


def posts_to_microsoft(graph):
    return [r for r in graph.requests if r.method == "POST" and r.path.endswith("/emailThreats")]


@pytest.mark.slow
def test_sigterm_mid_flow_hands_work_back_and_a_restart_completes_every_case_once(
    slack, graph, tls, database_url, tmp_path
):
    migrate_first(database_url)
    environment = bot_environment(slack, graph, tls, database_url)
    graph.verdict_after = 1.0
    # The three emails are throttled for a minute: when SIGTERM comes, their sends are waiting it out.
    graph.fail_next(EMAIL_POST, status=429, retry_after=60, times=3)
    first = BotProcess(environment, tmp_path / "first.log").wait_ready()
    slack.app_url = first.events_url
    store = open_store(database_url)
    try:
        for number, reporter in enumerate((ALICE, BOB, ALICE)):
            slack.upload_file(reporter, INTAKE, f"report-{number}.eml", email(number))
        slack.slash_command(BOB, "https://login-micros0ft.example/one", channel_id=INTAKE)
        slack.slash_command(ALICE, "https://login-micros0ft.example/two", channel_id=INTAKE)
        slack.wait_for(lambda: len(posts_to_microsoft(graph)) == 3, timeout=20)
        slack.wait_for(lambda: len(graph.submissions) == 2, timeout=20)  # the two URLs went through

        seconds = first.terminate()
        assert first.process.returncode == 0, first.log_tail()
        assert seconds < 30, f"SIGTERM took {seconds:.1f}s"
    finally:
        first.stop_quietly()

    # Handed back, not failed: the three email submissions are queued again, due now.
    states = {store.cases.case_view(case_id).status for case_id in range(1, 6)}
    assert CaseStatus.FAILED not in states
    assert len(store.submissions.due_to_send()) == 3
    handed_back = [r for r in first.log_records() if "handed back at shutdown" in r["message"]]
    assert len(handed_back) == 3 and all(r.get("case_id") for r in handed_back)

    second = BotProcess(environment, tmp_path / "second.log").wait_ready()
    slack.app_url = second.events_url
    try:
        slack.wait_for(
            lambda: (
                all(store.cases.case_view(c).status is CaseStatus.VERDICT for c in range(1, 6))
                and len(slack.dms(ALICE)) == 3
                and len(slack.dms(BOB)) == 2
            ),
            timeout=45,
        )
        slack.wait_for(lambda: all("Microsoft is analysing" not in m.text for m in slack.messages(SOC)))
    finally:
        assert second.terminate() < 30
    assert second.process.returncode == 0

    assert len(graph.submissions) == 5  # one per case, none twice
    assert len(posts_to_microsoft(graph)) == 3 + 3  # three throttled, three sent after the restart
    soc_posts = [c for c in slack.calls_to("chat.postMessage") if c.args.get("channel") == SOC]
    assert len(soc_posts) == 5 and len(slack.messages(SOC)) == 5
    for case_id in range(1, 6):
        view = store.cases.case_view(case_id)
        assert view.status is CaseStatus.VERDICT and view.submission_id
    with store.database.engine.connect() as connection:
        rows = connection.exec_driver_sql("SELECT state FROM submissions").all()
    assert sorted(r[0] for r in rows) == [SubmissionState.FINAL.value] * 5
    store.database.close()
