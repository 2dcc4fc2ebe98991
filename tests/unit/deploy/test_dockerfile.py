"""The image's recipe, read from the Dockerfile (no Docker engine here; hadolint lints it in .ci/check-deploy): the
final stage installs only the wheels, runs as a non-root user, says how it is started, and its HEALTHCHECK
command, run here against phishbot's own web server, tells a serving process from a stopping or absent one. CI
(.ci/check-wheel) runs the same build and install steps."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Settings
from bot.runtime.web import Health, WebServer, make_wsgi_app

ROOT = Path(__file__).resolve().parents[3]


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: continuation lines joined, comments left out."""
    result: list[tuple[str, str]] = []
    current = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        current += " " + stripped.removesuffix("\\") if current else stripped.removesuffix("\\")
        if not stripped.endswith("\\"):
            keyword, _, arguments = current.strip().partition(" ")
            result.append((keyword.upper(), arguments.strip()))
            current = ""
    return result


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions((ROOT / "Dockerfile").read_text()):
        if instruction[0] == "FROM":
            found.append([])
        if found:
            found[-1].append(instruction)
    return found


def final_stage() -> list[tuple[str, str]]:
    return stages()[-1]


def only(stage: list[tuple[str, str]], keyword: str) -> str:
    values = [arguments for name, arguments in stage if name == keyword]
    assert len(values) == 1, f"{keyword}: {values}"
    return values[0]


def test_two_stages_on_a_slim_python_base():
    (build, final) = stages()
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", (ROOT / "Dockerfile").read_text(), re.M)
    assert base and re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", base.group(1))
    assert build[0] == ("FROM", "${PYTHON_IMAGE} AS build")
    assert final[0] == ("FROM", "${PYTHON_IMAGE}")


def test_the_final_stage_installs_the_wheels_and_nothing_else():
    final = final_stage()
    keywords = {name for name, _ in final}
    # No source, no package manager, no compiler: the build stage's wheelhouse, mounted for one RUN.
    assert not keywords & {"COPY", "ADD"}
    (run,) = [arguments for name, arguments in final if name == "RUN"]
    assert "--mount=type=bind,from=build,source=/wheels,target=/wheels" in run
    assert "install-wheel /opt/phishbot /wheels" in run
    assert not re.search(r"apt-get|apk |gcc|build-essential|pip install", run)
    install = (ROOT / "deploy/install-wheel").read_text()
    assert "--no-index --find-links" in install and "uninstall --yes --quiet setuptools pip" in install


def test_it_runs_as_a_non_root_user_that_owns_only_the_data_directory():
    final = final_stage()
    assert only(final, "USER") == "10001:10001"
    (run,) = [arguments for name, arguments in final if name == "RUN"]
    assert "useradd --system --uid 10001" in run
    assert "install -d -o phishbot -g phishbot -m 0750 /data" in run
    assert only(final, "WORKDIR") == "/data"
    # The default DATABASE_URL is relative: on the writable volume, then.
    assert Settings.model_fields["database_url"].default == "sqlite:///phishbot.db"
    assert only(final, "VOLUME") == '["/data"]'


def test_entrypoint_command_port_and_labels():
    final = final_stage()
    assert json.loads(only(final, "ENTRYPOINT")) == ["phishbot"]
    assert json.loads(only(final, "CMD")) == ["run"]
    assert only(final, "EXPOSE") == str(Settings.model_fields["port"].default)
    labels = re.findall(r"(org\.opencontainers\.image\.[a-z.]+)=", only(final, "LABEL"))
    assert {"title", "description", "licenses", "version", "revision", "base.name"} == {
        label.removeprefix("org.opencontainers.image.") for label in labels
    }
    # The version is pyproject's: the label is checked against the installed wheel, never written here.
    (run,) = [arguments for name, arguments in final if name == "RUN"]
    assert '"$(phishbot --version)" = "phishbot $VERSION"' in run


def healthcheck_command() -> list[str]:
    healthcheck = only(final_stage(), "HEALTHCHECK")
    options, _, command = healthcheck.partition(" CMD ")
    assert "--interval=" in options and "--timeout=" in options
    argv = json.loads(command)
    assert argv[0] == "python"  # the venv's, first on the image's PATH
    return [sys.executable, *argv[1:]]


def run_healthcheck(port: int) -> int:
    # A proxy in the environment, and no exception for loopback: the probe must go straight to the port anyway.
    environment = {name: value for name, value in os.environ.items() if name.lower() != "no_proxy"}
    environment.update(PORT=str(port), HTTP_PROXY="http://127.0.0.1:9")
    return subprocess.run(healthcheck_command(), env=environment, capture_output=True, timeout=30).returncode


@pytest.fixture
def web():
    health = Health({})
    server = WebServer(make_wsgi_app(None, health), host="127.0.0.1", port=0).start()
    yield health, server.port
    server.stop()


def test_the_healthcheck_passes_while_phishbot_serves_and_fails_once_it_stops(web):
    health, port = web
    assert run_healthcheck(port) == 0
    health.serving = False  # what SIGTERM does first: /healthz answers 503
    assert run_healthcheck(port) != 0


def test_the_healthcheck_fails_when_nothing_listens():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert run_healthcheck(port) != 0


def test_ci_builds_and_installs_the_way_the_dockerfile_does():
    dockerfile = (ROOT / "Dockerfile").read_text()
    check_wheel = (ROOT / ".ci/check-wheel").read_text()
    pin = re.search(r"pip install --no-cache-dir build==(\S+)", dockerfile)
    assert pin and f"BUILD_VERSION={pin.group(1)}\n" in check_wheel
    assert "python -m build --wheel --outdir /dist ." in dockerfile
    assert '-m build --wheel --outdir "$WORK/dist" .' in check_wheel
    assert "[postgres]" in dockerfile and '"${wheels[0]}[postgres]"' in check_wheel
    assert 'sh "$WORK/install-wheel" "$APP/venv" "$WORK/wheels"' in check_wheel
    assert "APP_UID=10001\n" in check_wheel
    copied = [arguments.split()[:-1] for keyword, arguments in stages()[0] if keyword == "COPY"]
    assert f"SOURCES=({' '.join(sum(copied, []))})\n" in check_wheel


def test_the_build_context_is_an_allow_list_of_what_the_dockerfile_reads():
    lines = [
        line
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line.removeprefix("!").rstrip("/") for line in lines if line.startswith("!")}
    read = set()
    for keyword, arguments in instructions((ROOT / "Dockerfile").read_text()):
        if keyword == "COPY" and "--from=" not in arguments:
            read.update(arguments.split()[:-1])
        read.update(re.findall(r"--mount=type=bind,source=([^,\s]+)", arguments))
    assert read == allowed
    assert not {".env", ".venv", "phishbot.db"} & allowed
