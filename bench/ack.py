"""Ack latency: phishbot against a bare Bolt app that only acks, on the same server stack, in the same run.

Both apps are Bolt `App`s behind Bolt's WSGI adapter on waitress (what `phishbot run` serves in HTTP mode).
wrk (Debian package `wrk`) sends signed slash commands and button clicks at concurrency 1, 16 and 64; the
table gives p50 and p99 for both and the p99 ratio. Budget (design §6): phishbot's p99 within 1.25× the
bare app's. phishbot really works after each ack (a report that joins an existing case, a refused click with
its audit entry and ephemeral reply), so the two apps share the machine's two cores with that work.

Run: `python -m bench.ack` (or `make bench`). Options: --seconds per run, --concurrency list.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot import cards
from bot.config import Settings
from bot.runtime import Runtime
from bot.sandbox.graph_emulator import GraphEmulator
from bot.sandbox.slack_emulator import SlackEmulator
from bot.sandbox.tls import make_tls
from bot.web import Health, WebServer, make_wsgi_app

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


def bare_app(slack: SlackEmulator) -> App:
    """The baseline: the same Bolt version and settings, listeners that only ack."""
    app = App(
        client=WebClient(token=slack.bot_token, base_url=slack.api_url),
        signing_secret=slack.signing_secret,
        token_verification_enabled=False,
    )

    @app.command("/report-phish")
    def on_command(ack) -> None:  # noqa: ANN001
        ack()

    @app.action(cards.DISMISS)
    def on_click(ack) -> None:  # noqa: ANN001
        ack()

    return app


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=4)
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
        settings = Settings(
            SLACK_BOT_TOKEN=slack.bot_token,
            SLACK_SIGNING_SECRET=slack.signing_secret,
            SLACK_API_URL=slack.api_url,
            PHISHBOT_MODE="http",
            PORT=0,
            PHISHBOT_SOC_CHANNEL=SOC,
            PHISHBOT_INTAKE_CHANNELS=INTAKE,
            PHISHBOT_RESPONDERS="U0NOBODY01",
            MS_TENANT_ID=graph.tenant_id,
            MS_CLIENT_ID=graph.client_id,
            MS_CLIENT_SECRET=graph.client_secret,
            MS_AUTHORITY_HOST=graph.base_url,
            GRAPH_URL=graph.base_url,
            DATABASE_URL=f"sqlite:///{workdir / 'bench.db'}",
            SSL_CERT_FILE=str(tls.ca_file),
            HTTPS_PROXY=None,
            PHISHBOT_POLL_SCHEDULE="3600",
        )
        runtime = Runtime(settings, host="127.0.0.1").start()
        baseline = WebServer(
            make_wsgi_app(SlackRequestHandler(bare_app(slack)), Health({})), host="127.0.0.1", port=0
        ).start()
        try:
            # One real case first, so the measured reports join it and the clicks name a real case.
            slack.app_url = f"http://127.0.0.1:{runtime.port}/slack/events"
            slack.slash_command(REPORTER, "https://bench.example/login", channel_id=INTAKE)
            slack.wait_for(lambda: runtime.services.store.case_exists(1), timeout=30)
            kinds = {
                "slash command": slack.prepared_request(
                    "command", REPORTER, text="https://bench.example/login", channel_id=INTAKE
                ),
                "button click": slack.prepared_request(
                    "click", OUTSIDER, action_id=cards.DISMISS, value="1", channel_id=SOC
                ),
            }
            targets = {
                "bare Bolt": f"http://127.0.0.1:{baseline.port}/slack/events",
                "phishbot": f"http://127.0.0.1:{runtime.port}/slack/events",
            }
            rows = []
            for kind, (body, headers) in kinds.items():
                for concurrency in levels:
                    result = {}
                    for name, url in targets.items():
                        run_wrk(
                            url, body, headers, concurrency=concurrency, seconds=1, workdir=workdir
                        )  # warm
                        time.sleep(1.0)  # let phishbot's post-ack work drain before measuring
                        result[name] = run_wrk(
                            url, body, headers, concurrency=concurrency, seconds=args.seconds, workdir=workdir
                        )
                    rows.append((kind, concurrency, result["bare Bolt"], result["phishbot"]))
        finally:
            baseline.stop()
            runtime.stop()
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
