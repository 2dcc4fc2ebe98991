"""What several benchmarks share: a `phishbot run` child, and open cases seeded in bulk."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from bot.domain import CaseKind, CaseStatus, SubmissionState
from bot.store.models import CaseRow, ReporterRow, SubmissionRow


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
