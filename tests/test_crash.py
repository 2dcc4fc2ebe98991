"""kill -9 between submission and verdict: the restarted bot (same database) still delivers that case's
verdict card exactly once — the card is edited, never posted a second time."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from importlib import resources

import httpx
import pytest
from conftest import ALICE, INTAKE, SOC, bot_environment, migrate_first

from bot.domain import CaseStatus
from bot.store import Store

SAMPLE = (resources.files("bot.sandbox") / "samples" / "credential-phish.eml").read_bytes()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_bot(environment: dict[str, str], port: int, log_path) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115 - the child owns it
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run"],
        env={**os.environ, **environment, "PORT": str(port), "PYTHONPATH": os.pathsep.join(sys.path)},
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=log_path.parent,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"bot exited with {process.returncode}: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    process.kill()
    raise AssertionError("bot did not become ready")


@pytest.mark.slow
def test_kill_9_between_submission_and_verdict_still_delivers_one_card(
    slack, graph, tls, tmp_path, database_url
):
    migrate_first(database_url)
    environment = bot_environment(slack, graph, tls, database_url)
    port = free_port()
    slack.app_url = f"http://127.0.0.1:{port}/slack/events"
    graph.verdict_after = 4.0
    log_path = tmp_path / "bot.log"

    first = start_bot(environment, port, log_path)
    try:
        slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
        store = Store(database_url)
        slack.wait_for(
            lambda: store.case_view(1).status is CaseStatus.CHECKING and store.card_location(1), timeout=20
        )
        assert len(graph.submissions) == 1
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    assert first.returncode == -signal.SIGKILL

    second = start_bot(environment, port, log_path)
    try:
        slack.wait_for(lambda: store.case_view(1).status is CaseStatus.VERDICT, timeout=30)
        slack.wait_for(lambda: slack.dms(ALICE) and not store.dirty_cards(), timeout=15)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    assert second.returncode == 0

    assert len(graph.submissions) == 1
    soc_posts = [c for c in slack.calls_to("chat.postMessage") if c.args.get("channel") == SOC]
    assert len(soc_posts) == 1
    [card] = slack.messages(SOC)
    assert card.updates >= 1 and "Phishing" in card.text
    assert len(slack.dms(ALICE)) == 1
    store.close()
