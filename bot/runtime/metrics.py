"""What `/metrics` reports, in the Prometheus text format.

Counters and histograms count what this replica did since it started (Prometheus sums replicas and handles
restarts); gauges read from the database (`phishbot_open_checks`) are the same on every replica, so take their
max, not their sum. Each Services has its own registry, so several bots in one test process never share counts.

Label values are bounded on purpose: endpoints are templates (`GET /beta/.../emailThreats/{id}`), never ids,
and anything unexpected is folded into "other".
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

log = logging.getLogger(__name__)

# Report to verdict: Microsoft answers in minutes, grader review takes up to a day or two.
VERDICT_BUCKETS = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 172800)
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9_.:/{}$ -]{1,80}$")
_SLACK_METHOD = re.compile(r"/api/([A-Za-z0-9_.]{1,60})(?:\?|$)")


def _label(value: object) -> str:
    text = str(value) if value is not None else "none"
    return text if _LABEL_VALUE.match(text) else "other"


class Metrics:
    def __init__(self) -> None:
        # `*_created` series double the output and say only when this process started.
        disable_created_metrics()
        registry = self.registry = CollectorRegistry()
        self.reports = Counter(
            "phishbot_reports",
            "Reports received, by door and by what became of them (new case, joined a case, repeat).",
            ["door", "outcome"],
            registry=registry,
        )
        self.submissions = Counter(
            "phishbot_submissions",
            "Submissions to Microsoft that ended, by verdict category (gave_up and failed when there was none).",
            ["verdict"],
            registry=registry,
        )
        self.time_to_verdict = Histogram(
            "phishbot_time_to_verdict_seconds",
            "Seconds from the first report of a case to Microsoft's final verdict.",
            buckets=VERDICT_BUCKETS,
            registry=registry,
        )
        self.graph_requests = Counter(
            "phishbot_graph_requests",
            "Microsoft Graph and identity requests, by endpoint and HTTP status (network: no answer).",
            ["endpoint", "status"],
            registry=registry,
        )
        self.graph_errors = Counter(
            "phishbot_graph_errors",
            "Microsoft Graph and identity requests that failed (not 2xx), by endpoint and status.",
            ["endpoint", "status"],
            registry=registry,
        )
        self.graph_seconds = Histogram(
            "phishbot_graph_request_seconds",
            "Duration of one Microsoft Graph request attempt.",
            ["endpoint"],
            registry=registry,
        )
        self.slack_requests = Counter(
            "phishbot_slack_requests",
            "Slack Web API calls (each attempt), by method and HTTP status (network: no answer).",
            ["method", "status"],
            registry=registry,
        )
        self.slack_errors = Counter(
            "phishbot_slack_errors",
            "Slack Web API calls that failed, by method and error (Slack's error code, or the HTTP status).",
            ["method", "error"],
            registry=registry,
        )
        self.remediations = Counter(
            "phishbot_remediations",
            "Purges and restores, by method (defender, mailbox) and outcome.",
            ["method", "outcome"],
            registry=registry,
        )
        self.open_checks = Gauge(
            "phishbot_open_checks",
            "Submissions waiting for Microsoft's verdict (from the database: the same on every replica).",
            registry=registry,
        )
        self.scheduler_leader = Gauge(
            "phishbot_scheduler_leader",
            "1 on the replica that runs the sweeps and the digest, 0 elsewhere (the sum over replicas is 1).",
            registry=registry,
        )
        self.socket_connections = Gauge(
            "phishbot_socket_connections",
            "Socket Mode connections up on this replica (PHISHBOT_SOCKET_CONNECTIONS of them when all is well).",
            registry=registry,
        )
        self.socket_reconnects = Counter(
            "phishbot_socket_reconnects",
            "Socket Mode connections replaced, by why the old one went (dropped, no_pong, refresh_requested...).",
            ["reason"],
            registry=registry,
        )
        self.sweep_seconds = Histogram(
            "phishbot_sweep_seconds",
            "Duration of one sweep (due sends, verdict checks, card edits, outcome messages).",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=registry,
        )

    # --- hooks -----------------------------------------------------------------------------------------------

    def graph_request(self, endpoint: str, status: int | None, seconds: float) -> None:
        """GraphClient's on_request hook."""
        endpoint = _label(endpoint)
        status_label = str(status) if status is not None else "network"
        self.graph_requests.labels(endpoint, status_label).inc()
        self.graph_seconds.labels(endpoint).observe(seconds)
        if status is None or not 200 <= status < 300:
            self.graph_errors.labels(endpoint, status_label).inc()

    def report(self, door: str, outcome: str) -> None:
        self.reports.labels(_label(door), _label(outcome)).inc()

    def submission_ended(self, verdict: str | None, seconds_since_report: float | None) -> None:
        self.submissions.labels(_label(verdict)).inc()
        if seconds_since_report is not None:
            self.time_to_verdict.observe(max(seconds_since_report, 0.0))

    def remediation(self, method: str, outcome: str) -> None:
        """For the purge and restore service: one call per remediation that finished (or failed)."""
        self.remediations.labels(_label(method), _label(outcome)).inc()

    def socket_reconnect(self, reason: str) -> None:
        self.socket_reconnects.labels(reason=_label(reason)).inc()

    def watch_open_checks(self, count: Callable[[], int]) -> None:
        def read() -> float:
            try:
                return float(count())
            except Exception:
                log.warning("open checks could not be counted", exc_info=True)
                return float("nan")

        self.open_checks.set_function(read)

    def slack_retry_handler(self) -> RetryHandler:
        """Put first in the WebClient's retry_handlers: it sees every attempt of every call (Bolt copies the
        handlers into its per-request clients) and never asks for a retry itself."""
        return _SlackCallCounter(self)

    # --- exposition ------------------------------------------------------------------------------------------

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _SlackCallCounter(RetryHandler):
    def __init__(self, metrics: Metrics) -> None:
        super().__init__(max_retry_count=0)
        self._metrics = metrics

    def can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        try:
            match = _SLACK_METHOD.search(request.url or "")
            method = match.group(1) if match else "other"
            metrics = self._metrics
            if response is None:
                metrics.slack_requests.labels(method, "network").inc()
                metrics.slack_errors.labels(method, "network").inc()
                return False
            status = str(response.status_code)
            metrics.slack_requests.labels(method, status).inc()
            body = response.body if isinstance(response.body, dict) else {}
            if response.status_code != 200:
                metrics.slack_errors.labels(method, status).inc()
            elif body.get("ok") is False:
                metrics.slack_errors.labels(method, _label(body.get("error"))).inc()
        except Exception:
            log.debug("slack call not counted", exc_info=True)
        return False
