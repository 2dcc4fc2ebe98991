"""What several benchmarks share: a `phishbot run` child and its environment, open cases seeded in bulk, and
percentiles."""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from bot.domain import CaseKind, CaseStatus, SubmissionState
from bot.store.models import CaseRow, ReporterRow, SubmissionRow

if TYPE_CHECKING:
    from bot.sandbox.graph_emulator import GraphEmulator
    from bot.sandbox.slack_emulator import SlackEmulator
    from bot.sandbox.tls import TlsMaterial

REPORTER = "U0BENCH001"
SOC = "C0BENCHSOC"
INTAKE = "C0BENCHINT"


def bot_environment(
    slack: SlackEmulator,
    graph: GraphEmulator,
    tls: TlsMaterial,
    workdir: Path,
    *,
    mode: str = "http",
    database_url: str | None = None,
    app_token: str | None = None,
    **extra: str,
) -> dict[str, str]:
    """`phishbot run`'s environment against the emulators: SOC and intake channels as `workspace` makes them, no
    responders, verdict checks an hour apart (a benchmark measures what it sends, not the sweep's rounds), a
    SQLite file in WORKDIR unless `database_url`; Socket Mode with `app_token`, else HTTP."""
    environment = {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url,
        "PHISHBOT_MODE": mode,
        "PHISHBOT_SOC_CHANNEL": SOC,
        "PHISHBOT_INTAKE_CHANNELS": INTAKE,
        "PHISHBOT_RESPONDERS": "U0NOBODY01",
        "MS_TENANT_ID": graph.tenant_id,
        "MS_CLIENT_ID": graph.client_id,
        "MS_CLIENT_SECRET": graph.client_secret,
        "MS_AUTHORITY_HOST": graph.base_url,
        "GRAPH_URL": graph.base_url,
        "DATABASE_URL": database_url or f"sqlite:///{workdir / 'bench.db'}",
        "SSL_CERT_FILE": str(tls.ca_file),
        "PHISHBOT_POLL_SCHEDULE": "3600",
    }
    if app_token is not None:
        environment["SLACK_APP_TOKEN"] = app_token
    return {**environment, **extra}


def workspace(slack: SlackEmulator, *members: str) -> None:
    """The reporter (and MEMBERS) in the intake channel, and the SOC channel."""
    slack.add_user(REPORTER, name="reporter", email="reporter@contoso.example")
    slack.add_channel(SOC, "soc")
    slack.add_channel(INTAKE, "intake", members=[REPORTER, *members])


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank percentile (the smallest value with at least q % of the values at or below it); NaN for
    none. p99 of 100 values is the 99th smallest, of 60 the largest."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def seed_open_url_cases(engine: Engine, graph_ids: list[str]) -> None:
    """Open URL cases, one reporter each, whose submissions (`graph_ids`, created at Microsoft) are due for a
    check now. A bulk insert: what the bot does with them is what a benchmark measures."""
    now = datetime.now(UTC)
    with engine.begin() as connection:
        first_id = (connection.execute(select(func.max(CaseRow.id))).scalar() or 0) + 1
        ids = range(first_id, first_id + len(graph_ids))
        connection.execute(
            insert(CaseRow),
            [
                {
                    "id": case_id,
                    "dedupe_key": f"url:https://m{case_id}.example/",
                    "kind": CaseKind.URL.value,
                    "status": CaseStatus.CHECKING.value,
                    "category": "phishing",
                    "door": "slash_url",
                    "subject": f"https://m{case_id}.example/login",
                    "url": f"https://m{case_id}.example/login",
                    "note": "",
                    "created_at": now,
                    "updated_at": now,
                    "card_dirty": False,
                }
                for case_id in ids
            ],
        )
        connection.execute(
            insert(ReporterRow),
            [
                {
                    "case_id": case_id,
                    "user_id": "U0BENCH001",
                    "door": "slash_url",
                    "note": "",
                    "reported_at": now,
                }
                for case_id in ids
            ],
        )
        connection.execute(
            insert(SubmissionRow),
            [
                {
                    "case_id": case_id,
                    "kind": CaseKind.URL.value,
                    "state": SubmissionState.CHECKING.value,
                    "category": "phishing",
                    "requested_by": "U0BENCH001",
                    "microsoft_id": graph_id,
                    "created_at": now,
                    "not_before": now,
                    "sent_at": now,
                    "next_check_at": now - timedelta(seconds=1),
                    "checks_done": 0,
                    "send_attempts": 1,
                }
                for case_id, graph_id in zip(ids, graph_ids, strict=True)
            ],
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_phishbot(environment: dict[str, str], workdir: Path, name: str) -> tuple[subprocess.Popen, int]:
    """`phishbot run` in a process of its own, logging to WORKDIR/NAME.log, once /readyz says it serves."""
    port = free_port()
    log = open(workdir / f"{name}.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        env={**os.environ, **environment, "PORT": str(port), "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
    )
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"phishbot exited: {(workdir / f'{name}.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process, port
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit(f"phishbot did not become ready; see {workdir / name}.log")
