"""What an operator sees: /metrics in the Prometheus format counting what really happened (reports by door,
verdicts, time to verdict, Graph and Slack calls and their errors, open checks, the scheduler's leader), and
log lines that carry the case id of the work they belong to."""

from __future__ import annotations

import io
import json
import logging
from importlib import resources

import httpx
from conftest import ALICE, INTAKE
from prometheus_client.parser import text_string_to_metric_families

from bot.domain import CaseStatus
from bot.runtime.logs import CaseIdFilter, JsonFormatter

SAMPLE = (resources.files("bot.sandbox") / "samples" / "credential-phish.eml").read_bytes()
EMAIL_POST = "POST /beta/security/threatSubmission/emailThreats"


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = httpx.get(f"http://127.0.0.1:{port}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_reports_verdicts_and_the_calls_behind_them(bot, slack, graph):
    graph.fail_next(EMAIL_POST, status=503)  # retried by the Graph client: one error, then the 201
    slack.fail_next("chat.postMessage", status=500, retry_after=None)  # retried by slack-sdk
    slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
    slack.wait_for(
        lambda: bot.store.cases.case_view(1).status is CaseStatus.VERDICT and slack.dms(ALICE), timeout=20
    )

    # The emulator holds the DM before the bot has read Slack's answer and counted the call.
    samples = slack.wait_for(
        lambda: (
            (s := scrape(bot.port))
            and value(s, "phishbot_slack_requests_total", method="chat.postMessage", status="200") >= 2
            and s
        )
    )
    assert value(samples, "phishbot_reports_total", door="upload", outcome="new") == 1
    assert value(samples, "phishbot_submissions_total", verdict="phishing") == 1
    assert value(samples, "phishbot_time_to_verdict_seconds_count") == 1
    assert value(samples, "phishbot_time_to_verdict_seconds_bucket", le="+Inf") == 1
    submit = "POST /beta/security/threatSubmission/emailThreats"
    assert value(samples, "phishbot_graph_requests_total", endpoint=submit, status="503") == 1
    assert value(samples, "phishbot_graph_errors_total", endpoint=submit, status="503") == 1
    assert value(samples, "phishbot_graph_requests_total", endpoint=submit, status="201") == 1
    assert value(samples, "phishbot_graph_requests_total", endpoint="POST /beta/$batch", status="200") >= 1
    assert value(samples, "phishbot_slack_requests_total", method="chat.postMessage", status="500") == 1
    assert value(samples, "phishbot_slack_errors_total", method="chat.postMessage", error="500") == 1
    assert value(samples, "phishbot_slack_requests_total", method="chat.postMessage", status="200") >= 2
    assert value(samples, "phishbot_open_checks") == 0
    assert value(samples, "phishbot_scheduler_leader") == 1
    assert value(samples, "phishbot_sweep_seconds_count") >= 1
    # Ids never become label values: one series per endpoint template.
    assert not any("emailThreats/" in dict(labels).get("endpoint", "") for _, labels in samples)
    # The remediation counter is there for the purge service to count into.
    assert (
        "# TYPE phishbot_remediations_total counter" in httpx.get(f"http://127.0.0.1:{bot.port}/metrics").text
    )


def test_open_checks_come_from_the_database(bot, slack, graph):
    graph.verdict_after = 30.0
    slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
    slack.wait_for(lambda: bot.store.cases.case_view(1).status is CaseStatus.CHECKING)
    assert value(scrape(bot.port), "phishbot_open_checks") == 1


def test_every_log_line_of_a_cases_work_carries_its_case_id(bot, slack, graph):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(CaseIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        graph.fail_next(EMAIL_POST, status=400, body=b'{"error":{"code":"BadRequest","message":"Invalid"}}')
        slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
        slack.wait_for(lambda: bot.store.cases.case_view(1).status is CaseStatus.FAILED, timeout=20)
        slack.upload_file(ALICE, INTAKE, "b.eml", SAMPLE.replace(b"Message-ID: <", b"Message-ID: <second-"))
        slack.wait_for(lambda: bot.store.cases.case_view(2).status is CaseStatus.VERDICT, timeout=20)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert records, "nothing was logged"
    about_a_case = [r for r in records if r["message"].startswith("case ") and r["logger"].startswith("bot.")]
    assert {r["message"].split(":")[0].split()[1] for r in about_a_case} >= {"1", "2"}
    for record in about_a_case:
        case_number = int(record["message"].split()[1].rstrip(":"))
        assert record.get("case_id") == case_number, record
    refused = [r for r in records if "submission failed" in r["message"]]
    assert refused and all(r["case_id"] == 1 and r["level"] == "warning" for r in refused)
    submitted = [r for r in records if "submitted to Microsoft" in r["message"]]
    assert [r["case_id"] for r in submitted] == [2]
