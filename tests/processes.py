"""Real `phishbot` processes for the tests that need them: replicas, signals, the command line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bot.sandbox.tls import default_client_context


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_environment(environment: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **environment, "PYTHONPATH": os.pathsep.join(sys.path)}


def run_cli(
    args: list[str],
    environment: dict[str, str],
    cwd: Path,
    timeout: float = 60,
    *,
    input_text: str | None = None,
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        input=input_text,
        timeout=timeout,
        cwd=cwd,
        env=child_environment(environment),
    )


def run_main(
    args: list[str], environment: dict[str, str], cwd: Path, *, input_text: str | None = None
) -> subprocess.CompletedProcess:
    """`phishbot <args>` as `run_cli` runs it (the environment, the working directory, its output and exit code,
    `input_text` as its stdin), but in this process: the command's own code is what is tested, and a child
    interpreter importing the bot cost a second of CPU a test."""
    import contextlib
    import io

    import pytest

    from bot.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        for name, value in environment.items():
            patch.setenv(name, value)
        if input_text is not None:
            patch.setattr(sys, "stdin", io.StringIO(input_text))
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            code = main(args)
    return subprocess.CompletedProcess(["phishbot", *args], code, stdout.getvalue(), stderr.getvalue())


class BotProcess:
    """`phishbot run` in a child process, logging (JSON lines: stderr is a file) to `log_path`."""

    def __init__(self, environment: dict[str, str], log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.log_path = log_path
        log = open(log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"],
            env=child_environment({**environment, "PORT": str(self.port)}),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=log_path.parent,
        )
        log.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def events_url(self) -> str:
        return f"{self.url}/slack/events"

    def readiness(self) -> dict | None:
        try:
            return httpx.get(f"{self.url}/readyz", timeout=2, verify=default_client_context()).json()
        except (httpx.HTTPError, ValueError):
            return None

    def wait_ready(self, timeout: float = 30) -> BotProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"bot exited with {self.process.returncode}: {self.log_tail()}")
            ready = self.readiness()
            if ready and ready.get("ok"):
                return self
            time.sleep(0.1)
        self.process.kill()
        raise AssertionError(f"bot did not become ready: {self.log_tail()}")

    def role(self) -> str | None:
        ready = self.readiness()
        return ready.get("scheduler") if ready else None

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/metrics", timeout=5, verify=default_client_context()).text

    def terminate(self, timeout: float = 40) -> float:
        """SIGTERM; returns the seconds it took to exit."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=timeout)
        return time.monotonic() - started

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop_quietly(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def log_tail(self, characters: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-characters:]

    def log_records(self) -> list[dict]:
        records = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue
        return records
