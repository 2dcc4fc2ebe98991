"""Ack latency: phishbot against a bare Bolt app that only acks, on the same server stack, in the same run.

Both apps are Bolt `App`s behind Bolt's WSGI adapter on waitress: phishbot is `phishbot run` in HTTP mode, the
baseline a Bolt app whose listeners only ack. Each runs in a process of its own, as in production, and the
Slack and Graph emulators run in a third (this one), so neither app shares its interpreter with anything but
itself. wrk (Debian package `wrk`) sends signed slash commands and button clicks at concurrency 1, 16 and 64;
the table gives p50 and p99 for both and the p99 ratio. Budget (design §6): phishbot's p99 within 1.25× the
bare app's. phishbot really works after each ack (a report that joins an existing case, with its reply; a
refused click with its audit entry and ephemeral reply), in the same process as its acks.

Run: `python -m bench.ack` (or `make bench`). Options: --seconds per measured run, --rounds,
--concurrency list.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bench.common import start_phishbot
from bot.runtime.web import Health, WebServer, make_wsgi_app
from bot.sandbox.graph_emulator import GraphEmulator
from bot.sandbox.slack_emulator import SlackEmulator
from bot.sandbox.tls import make_tls
from bot.slack.contract import ActionId

REPORTER = "U0BENCH001"
OUTSIDER = "U0BENCH002"
SOC = "C0BENCHSOC"
INTAKE = "C0BENCHINT"
BUDGET = 1.25

LUA = """
local f = io.open(os.getenv("PHISHBOT_BENCH_BODY"), "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["X-Slack-Request-Timestamp"] = os.getenv("PHISHBOT_BENCH_TS")
wrk.headers["X-Slack-Signature"] = os.getenv("PHISHBOT_BENCH_SIG")
"""


def bare_app(bot_token: str, signing_secret: str, api_url: str) -> App:
    """The baseline: the same Bolt version and settings, listeners that only ack."""
    app = App(
        client=WebClient(token=bot_token, base_url=api_url),
        signing_secret=signing_secret,
        token_verification_enabled=False,
    )

    @app.command("/report-phish")
    def on_command(ack) -> None:
        ack()

    @app.action(ActionId.DISMISS)
    def on_click(ack) -> None:
        ack()

    return app


def serve_bare_app(ports, bot_token: str, signing_secret: str, api_url: str) -> None:
    """The baseline's process: serve until terminated."""
    # wrk keeps more requests in flight than waitress has threads; its "Task queue depth" warnings would bury
    # the table.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    app = bare_app(bot_token, signing_secret, api_url)
    server = WebServer(make_wsgi_app(SlackRequestHandler(app), Health({})), host="127.0.0.1", port=0).start()
    ports.put(server.port)
    threading.Event().wait()


def start_bare_app(slack: SlackEmulator) -> tuple[multiprocessing.Process, int]:
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    process = context.Process(
        target=serve_bare_app,
        args=(ports, slack.bot_token, slack.signing_secret, slack.api_url),
        name="bare-bolt",
        daemon=True,
    )
    process.start()
    return process, ports.get(timeout=60)


def run_wrk(url: str, body: bytes, headers: dict[str, str], *, concurrency: int, seconds: int, workdir: Path):
    body_file = workdir / "body"
    body_file.write_bytes(body)
    script = workdir / "post.lua"
    script.write_text(LUA)
    env = {
        "PHISHBOT_BENCH_BODY": str(body_file),
        "PHISHBOT_BENCH_TS": headers["X-Slack-Request-Timestamp"],
        "PHISHBOT_BENCH_SIG": headers["X-Slack-Signature"],
        "PATH": "/usr/bin:/bin",
    }
    threads = min(2, concurrency)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=seconds + 60,
    ).stdout
    return parse_wrk(out)


def parse_wrk(output: str) -> dict[str, float]:
    def latency(label: str) -> float:
        match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if not match:
            raise RuntimeError(f"wrk printed no {label}% latency:\n{output}")
        value, unit = float(match.group(1)), match.group(2)
        return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    requests = re.search(r"(\d+) requests in", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "p50": latency("50"),
        "p99": latency("99"),
        "requests": float(requests.group(1)) if requests else 0.0,
        "errors": float(non_2xx.group(1)) if non_2xx else 0.0,
    }


def median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """Median p50 and p99 of the rounds; requests and errors summed."""
    return {
        "p50": statistics.median(r["p50"] for r in runs),
        "p99": statistics.median(r["p99"] for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=4, help="per measured run")
    parser.add_argument("--rounds", type=int, default=3, help="measured runs per app, alternating")
    parser.add_argument("--concurrency", default="1,16,64")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench.ack needs wrk: apt-get install wrk", file=sys.stderr)
        return 2
    levels = [int(c) for c in args.concurrency.split(",")]

    with tempfile.TemporaryDirectory(prefix="phishbot-bench-") as tmp:
        workdir = Path(tmp)
        tls = make_tls(workdir / "tls")
        graph = GraphEmulator(tls, verdict_after=3600).start()
        slack = SlackEmulator(validate_blocks=False).start()
        slack.add_user(REPORTER, name="reporter", email="reporter@contoso.example")
        slack.add_user(OUTSIDER, name="outsider", email="outsider@contoso.example")
        slack.add_channel(SOC, "soc")
        slack.add_channel(INTAKE, "intake", members=[REPORTER, OUTSIDER])
        environment = {
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": slack.signing_secret,
            "SLACK_API_URL": slack.api_url,
            "PHISHBOT_MODE": "http",
            "PHISHBOT_SOC_CHANNEL": SOC,
            "PHISHBOT_INTAKE_CHANNELS": INTAKE,
            "PHISHBOT_RESPONDERS": "U0NOBODY01",
            "MS_TENANT_ID": graph.tenant_id,
            "MS_CLIENT_ID": graph.client_id,
            "MS_CLIENT_SECRET": graph.client_secret,
            "MS_AUTHORITY_HOST": graph.base_url,
            "GRAPH_URL": graph.base_url,
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
            "SSL_CERT_FILE": str(tls.ca_file),
            "PHISHBOT_POLL_SCHEDULE": "3600",
        }
        phishbot, port = start_phishbot(environment, workdir, "phishbot")
        slack.app_url = f"http://127.0.0.1:{port}/slack/events"
        baseline, baseline_port = start_bare_app(slack)
        try:
            # One real case first, so the measured reports join it and the clicks name a real case.
            slack.slash_command(REPORTER, "https://bench.example/login", channel_id=INTAKE)
            slack.wait_for(lambda: slack.messages(SOC), timeout=30)
            kinds = {
                "slash command": slack.prepared_request(
                    "command", REPORTER, text="https://bench.example/login", channel_id=INTAKE
                ),
                "button click": slack.prepared_request(
                    "click", OUTSIDER, action_id=ActionId.DISMISS, value="1", channel_id=SOC
                ),
            }
            targets = {
                "bare Bolt": f"http://127.0.0.1:{baseline_port}/slack/events",
                "phishbot": f"http://127.0.0.1:{port}/slack/events",
            }
            rows = []
            for kind, (body, headers) in kinds.items():
                for concurrency in levels:
                    runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
                    for url in targets.values():
                        run_wrk(
                            url, body, headers, concurrency=concurrency, seconds=1, workdir=workdir
                        )  # warm
                    # Rounds alternate which app goes first, so a burst of noise from elsewhere on the machine
                    # lands on both; the table takes the median of the rounds.
                    for round_number in range(args.rounds):
                        order = list(targets.items())
                        if round_number % 2:
                            order.reverse()
                        for name, url in order:
                            time.sleep(1.0)  # let phishbot's post-ack work drain before measuring
                            runs[name].append(
                                run_wrk(
                                    url,
                                    body,
                                    headers,
                                    concurrency=concurrency,
                                    seconds=args.seconds,
                                    workdir=workdir,
                                )
                            )
                    rows.append(
                        (kind, concurrency, median_run(runs["bare Bolt"]), median_run(runs["phishbot"]))
                    )
        finally:
            baseline.terminate()
            phishbot.terminate()
            phishbot.wait(timeout=60)
            baseline.join(timeout=10)
            slack.stop()
            graph.stop()

    print(
        f"{'request':<14} {'conc':>4} | {'bare p50':>9} {'bare p99':>9} | {'bot p50':>8} {'bot p99':>8} | "
        f"{'p99 ratio':>9} | {'requests':>8} {'non-2xx':>7}"
    )
    worst = 0.0
    for kind, concurrency, bare, bot in rows:
        ratio = bot["p99"] / bare["p99"] if bare["p99"] else float("inf")
        worst = max(worst, ratio)
        errors = int(bot["errors"] + bare["errors"])
        print(
            f"{kind:<14} {concurrency:>4} | {bare['p50']:>7.2f}ms {bare['p99']:>7.2f}ms | {bot['p50']:>6.2f}ms "
            f"{bot['p99']:>6.2f}ms | {ratio:>8.2f}x | {int(bot['requests']):>8} {errors:>7}"
        )
    verdict = "within" if worst <= BUDGET else "OVER"
    print(f"summary: worst p99 ratio phishbot/bare Bolt = {worst:.2f}x ({verdict} the {BUDGET}x budget)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
