"""The storm: 200 colleagues report the same phish within 10 s, against a Slack that enforces its rate limits.

`phishbot run` (HTTP mode, a process of its own, the production sweep interval) serves the Slack emulator with
`enforce_rate_limits()` on (Slack's published tiers, bot/sandbox/slack_rate_limits.py: chat.update 50 a minute,
users.info 100, posting one a second per channel), and the Graph emulator (no verdict during the run: the storm is
the reports). 200 distinct people send `/report-phish <the same link>` at evenly spaced moments over 10 s, open loop.
Measured: every ack (HTTP 200 within Slack's 3 s), the calls per Slack method and how many Slack refused with 429,
and the time from the last report until the card is final (it counts all 200 reporters) and until every reporter
has heard (their "joined the case" reply, through the response_url).

Acceptance (issue 12): at most 5 chat.update refused, the card final within 60 s of the last report, every
reporter acknowledged. The ratio printed is chat.update calls per report (1.0 would be one edit per join).

Run: `python -m bench.storm` (or `make bench`). Options: --reporters, --seconds, --timeout.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import INTAKE, SOC, bot_environment, start_phishbot
from bot.sandbox.graph_emulator import GraphEmulator
from bot.sandbox.slack_emulator import SlackEmulator
from bot.sandbox.tls import make_tls

PHISH = "https://login-micros0ft-secure.example/storm"
MAX_REFUSED_EDITS = 5
FINAL_WITHIN = 60.0


def reporters_on_card(slack: SlackEmulator) -> int:
    """How many reporters the SOC card shows (names, plus "+N more")."""
    best = 0
    for message in slack.messages(SOC):
        for block in message.blocks:
            if block.get("block_id") != "reporters":
                continue
            line = str((block.get("text") or {}).get("text") or "").split("\n", 1)[0]
            shown = line.removeprefix("*Reported by:* ")
            more = 0
            if shown.endswith(" more") and " +" in shown:
                shown, _, count = shown.rpartition(" +")
                more = int(count.removesuffix(" more"))
            best = max(best, len([name for name in shown.split(", ") if name]) + more)
    return best


def heard(slack: SlackEmulator, users: set[str]) -> int:
    """Reporters who got phishbot's reply after the ack (through their command's response_url)."""
    told = {e["user"] for e in list(slack.ephemerals) if e.get("source") == "response_url"}
    return len(told & users)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reporters", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0, help="the reports are spread over this long")
    parser.add_argument(
        "--timeout", type=float, default=240.0, help="give up waiting this long after the last"
    )
    args = parser.parse_args(argv)
    users = [f"U0STORM{n:03d}" for n in range(args.reporters)]

    with tempfile.TemporaryDirectory(prefix="phishbot-bench-") as tmp:
        workdir = Path(tmp)
        tls = make_tls(workdir / "tls")
        graph = GraphEmulator(tls, verdict_after=24 * 3600).start()
        slack = SlackEmulator(validate_blocks=False).start()
        for user in users:
            slack.add_user(user, name=user.lower(), email=f"{user.lower()}@contoso.example")
        slack.add_channel(SOC, "soc")
        slack.add_channel(INTAKE, "intake", members=users)
        environment = bot_environment(slack, graph, tls, workdir)
        phishbot, port = start_phishbot(environment, workdir, "phishbot")
        slack.app_url = f"http://127.0.0.1:{port}/slack/events"
        # The limits start with the storm (start-up's auth.test is not part of it).
        limiter = slack.enforce_rate_limits()
        acks: dict[str, tuple[int, float]] = {}
        lock = threading.Lock()

        def report(user: str, at: float) -> None:
            time.sleep(max(0.0, at - time.monotonic()))
            started = time.monotonic()
            response = slack.slash_command(user, PHISH, channel_id=INTAKE)
            with lock:
                acks[user] = (response.status_code, time.monotonic() - started)

        try:
            start = time.monotonic() + 0.5
            gap = args.seconds / max(1, args.reporters - 1)
            with ThreadPoolExecutor(max_workers=64) as pool:
                for n, user in enumerate(users):
                    pool.submit(report, user, start + n * gap)
            last_report = start + (args.reporters - 1) * gap
            card_final = everyone_heard = None
            deadline = time.monotonic() + args.timeout
            while (card_final is None or everyone_heard is None) and time.monotonic() < deadline:
                now = time.monotonic()
                if card_final is None and reporters_on_card(slack) >= args.reporters:
                    card_final = now - last_report
                if everyone_heard is None and heard(slack, set(users)) >= args.reporters:
                    everyone_heard = now - last_report
                time.sleep(0.05)
            time.sleep(6.0)  # one more production sweep: a late redraw is counted too
            counts = limiter.counts()
            shown, told = reporters_on_card(slack), heard(slack, set(users))
            warnings = list(slack.warnings)
        finally:
            phishbot.terminate()
            phishbot.wait(timeout=60)
            slack.stop()
            graph.stop()

    acknowledged = sum(1 for status, seconds in acks.values() if status == 200 and seconds <= 3.0)
    slowest_ack = max((seconds for _, seconds in acks.values()), default=0.0)
    print(f"{'Slack method':<28} | {'calls':>6} | {'429':>5}")
    for method, (calls, refused) in counts.items():
        print(f"{method:<28} | {calls:>6} | {refused:>5}")
    update_calls, update_refused = counts.get("chat.update", (0, 0))

    def seconds(value: float | None) -> str:
        return f"{value:.1f} s" if value is not None else f"not within {args.timeout:g} s"

    print(
        f"{args.reporters} reports over {args.seconds:g} s: {acknowledged} acknowledged within 3 s (slowest ack "
        f"{slowest_ack * 1000:.0f} ms); the card shows {shown}, {told} heard back"
    )
    print(
        f"from the last report: card final after {seconds(card_final)}, every reporter heard after "
        f"{seconds(everyone_heard)}"
    )
    if warnings:
        print(f"Slack's warnings: {warnings[:5]}")
    ok = (
        update_refused <= MAX_REFUSED_EDITS
        and card_final is not None
        and card_final <= FINAL_WITHIN
        and acknowledged == args.reporters
    )
    print(
        f"summary: chat.update {update_calls} calls for {args.reporters} reports "
        f"({update_calls / max(1, args.reporters):.2f} per report), {update_refused} refused with 429; "
        f"card final {seconds(card_final)} after the last report; {acknowledged}/{args.reporters} acknowledged "
        f"({'meets' if ok else 'MISSES'} issue 12: ≤ {MAX_REFUSED_EDITS} refused, final within "
        f"{FINAL_WITHIN:g} s, all acknowledged)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
