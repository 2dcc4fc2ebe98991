"""User reports (the Report button): the Graph requests one poll makes, and the time from a report to its card.

Part 1, one poll of the real `UserReportFollower` against the Graph emulator's Report button, for 0, 1 and 250 new
user reports (250 messages each reported by another employee, and 250 reported from one mailbox, the worst case
for Outlook's four-requests-per-mailbox limit): the requests counted by the emulator, and the poll's wall time.
Baseline, measured in the same run on the same reports: a loop without `$batch` (the listing's pages, then one
mailbox search and one MIME read per report).

Part 2, the real bot (`Runtime`, HTTP mode) with PHISHBOT_USER_REPORTS_POLL=1 and a sweep every 0.2 s: an employee
presses Report, the card appears in the SOC channel; the time between, over several reports, against the poll
interval (the promise: within one).

Run: `python -m bench.user_reports`. Options: --sizes, --latency-reports, --profile.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

from bot.config import Settings
from bot.microsoft import odata_string
from bot.runtime.process import Runtime
from bot.sandbox.clock import FakeClock
from bot.sandbox.graph_emulator import GraphEmulator
from bot.sandbox.slack_emulator import SlackEmulator
from bot.sandbox.tls import make_tls
from bot.sandbox.user_reports import ReportButton
from bot.services import build_services

SOC = "C0BENCHSOC"
POLL = 60
THREATS = "/beta/security/threatSubmission/emailThreats"


def phish(tag: str) -> bytes:
    message = EmailMessage()
    message["From"] = "IT Support <support@login-micros0ft-secure.example>"
    message["To"] = "someone@contoso.example"
    message["Subject"] = f"Verify your account {tag}"
    message["Message-ID"] = f"<bench-{tag}@login-micros0ft-secure.example>"
    message["Date"] = "Tue, 02 Dec 2026 09:00:00 +0000"
    message.set_content(f"Your password expires today: https://login-micros0ft-secure.example/{tag}")
    return message.as_bytes()


def settings_for(
    slack: SlackEmulator, graph: GraphEmulator, tls, database: Path, **extra: object
) -> Settings:
    values: dict[str, object] = {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url,
        "PHISHBOT_MODE": "http",
        "PORT": 0,
        "PHISHBOT_SOC_CHANNEL": SOC,
        "MS_TENANT_ID": graph.tenant_id,
        "MS_CLIENT_ID": graph.client_id,
        "MS_CLIENT_SECRET": graph.client_secret,
        "MS_AUTHORITY_HOST": graph.base_url,
        "GRAPH_URL": graph.base_url,
        "SSL_CERT_FILE": str(tls.ca_file),
        "DATABASE_URL": f"sqlite:///{database}",
        "HTTPS_PROXY": None,
        "PHISHBOT_POLL_SCHEDULE": "3600",
        **extra,
    }
    return Settings(**values)


def graph_requests(graph: GraphEmulator, since: int) -> list:
    return [r for r in graph.requests[since:] if not r.in_batch and r.is_graph]


def naive_reads(services, graph: GraphEmulator, since) -> tuple[int, float]:
    """The baseline: every page, then per report one search of its mailbox and one MIME read (no $batch)."""
    before = len(graph.requests)
    started = time.perf_counter()
    listed, _ = services.graph.user_reported_since(since)
    for item in listed:
        mailbox = item["recipientEmailAddress"]
        path = f"/v1.0/users/{mailbox}/messages"
        # The baseline is a loop phishbot does not have: one search per report, through the same transport.
        found = services.graph._transport.send(
            "GET",
            path,
            params={
                "$filter": f"internetMessageId eq {odata_string(item['internetMessageId'])}",
                "$select": "id",
            },
            label="GET /v1.0/users/{id}/messages",
        )
        for message in (found.get("value") or [])[:1]:
            services.graph.message_mime(mailbox, message["id"], max_bytes=25 * 1024 * 1024)
    return len(graph_requests(graph, before)), time.perf_counter() - started


def poll_once(services, clock: FakeClock, graph: GraphEmulator) -> tuple[int, int, float]:
    """One poll, as the sweep runs it: (requests, reports taken in, seconds)."""
    clock.advance(POLL)
    before = len(graph.requests)
    started = time.perf_counter()
    taken = 0
    for work in services.user_reports.due(clock.now()):
        taken += services.user_reports.poll(work)
    seconds = time.perf_counter() - started
    return len(graph_requests(graph, before)), taken, seconds


def part_one(workdir: Path, tls, sizes: list[int], profile: bool) -> list[tuple]:
    rows = []
    for scenario, size, one_mailbox in [("new", n, False) for n in sizes] + [
        ("one mailbox", max(sizes), True)
    ]:
        graph = GraphEmulator(tls, verdict_after=24 * 3600).start()
        button = ReportButton().attach(graph)
        slack = SlackEmulator(validate_blocks=False).start()
        slack.add_channel(SOC, "soc")
        clock = FakeClock(following_real_time=True, skip_waits=True)
        settings = settings_for(slack, graph, tls, workdir / f"poll-{scenario}-{size}.db")
        services = build_services(settings, clock=clock)
        try:
            services.store.database.migrate()
            poll_once(services, clock, graph)  # the first listing ever: nothing yet
            state = services.store.user_reports.poll_state("email")
            assert state is not None
            for n in range(size):
                mailbox = "alice@contoso.example" if one_mailbox else f"employee{n:04d}@contoso.example"
                button.press(mailbox, phish(f"{scenario}-{n}"))
            naive_requests, naive_seconds = naive_reads(services, graph, state.watermark)
            profiler = cProfile.Profile() if profile and size == max(sizes) and not one_mailbox else None
            if profiler:
                profiler.enable()
            requests, taken, seconds = poll_once(services, clock, graph)
            if profiler:
                profiler.disable()
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
            rows.append((scenario, size, taken, requests, naive_requests, seconds, naive_seconds))
        finally:
            services.close()
            slack.stop()
            graph.stop()
    return rows


def part_two(workdir: Path, tls, reports: int) -> list[float]:
    graph = GraphEmulator(tls, verdict_after=24 * 3600).start()
    button = ReportButton().attach(graph)
    slack = SlackEmulator(validate_blocks=False).start()
    slack.add_channel(SOC, "soc")
    settings = settings_for(
        slack,
        graph,
        tls,
        workdir / "latency.db",
        PHISHBOT_USER_REPORTS_POLL=1,
        PHISHBOT_SWEEP_SECONDS=0.2,
    )
    runtime = Runtime(settings, host="127.0.0.1", freeze_heap=False).start()
    slack.app_url = f"http://127.0.0.1:{runtime.port}/slack/events"
    waits = []
    try:
        wait_until(
            lambda: runtime.services is not None and runtime.services.store.user_reports.poll_state("email")
        )
        for n in range(reports):
            cards = len(slack.messages(SOC))
            pressed = time.perf_counter()
            button.press(f"employee{n:04d}@contoso.example", phish(f"latency-{n}"))
            wait_until(lambda cards=cards: len(slack.messages(SOC)) > cards)
            waits.append(time.perf_counter() - pressed)
            time.sleep(0.37 * (n % 3))  # reports arrive at different points of the poll interval
    finally:
        runtime.stop()
        slack.stop()
        graph.stop()
    return waits


def wait_until(condition: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.005)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="0,1,250")
    parser.add_argument("--latency-reports", type=int, default=9)
    parser.add_argument("--profile", action="store_true", help="profile the largest poll")
    args = parser.parse_args(argv)
    # A poll of 250 outlasts the 0.2 s sweep interval: APScheduler's "skipped" notices are expected, not news.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    sizes = [int(n) for n in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="phishbot-bench-") as tmp:
        workdir = Path(tmp)
        tls = make_tls(workdir / "tls")
        rows = part_one(workdir, tls, sizes, args.profile)
        waits = part_two(workdir, tls, args.latency_reports) if args.latency_reports else []

    print(
        f"{'reports':>18} | {'taken':>5} | {'requests':>8} {'no $batch':>9} {'ratio':>6} | {'poll':>7} {'no $batch':>9}"
    )
    for scenario, size, taken, requests, naive, seconds, naive_seconds in rows:
        ratio = requests / naive if naive else 1.0
        label = f"{size} {scenario}"
        print(
            f"{label:>18} | {taken:>5} | {requests:>8} {naive:>9} {ratio:>6.2f} | "
            f"{seconds:>6.2f}s {naive_seconds:>8.2f}s"
        )
    print(
        "(requests: Graph HTTP requests of one poll, $batch envelopes counted once; token requests excluded)"
    )
    if waits:
        median, worst = statistics.median(waits), max(waits)
        print(
            f"report → card with PHISHBOT_USER_REPORTS_POLL=1: median {median:.2f}s, worst {worst:.2f}s over "
            f"{len(waits)} reports; worst / (poll interval + sweep interval) = {worst / 1.2:.2f}"
        )
    print(
        "summary: Graph requests per poll "
        + ", ".join(f"{r[3]} for {r[1]} {r[0]}" for r in rows)
        + "; the loop without $batch: "
        + ", ".join(f"{r[4]}" for r in rows)
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
