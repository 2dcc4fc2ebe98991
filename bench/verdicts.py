"""Verdict rounds: N open submissions read by one round of the real follow-up, against the Graph emulator.

For N = 100, 1,000 and 10,000 open submissions (URL submissions really created in the emulator, their cases
and submissions in a fresh SQLite store), one `FollowUp.check_due()` round is timed and its Graph requests
counted. Budget (design §6): at most ⌈N/20⌉ requests per round. Baseline, measured in the same run on the
same submissions: reading them one GET at a time with the same client (what a loop without $batch does).

Run: `python -m bench.verdicts` (or `make bench`). Options: --sizes.
"""

from __future__ import annotations

import argparse
import math
import resource
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import seed_open_url_cases
from bot.config import Settings
from bot.sandbox.graph_emulator import GraphEmulator
from bot.sandbox.slack_emulator import SlackEmulator
from bot.sandbox.tls import make_tls
from bot.services import build_services

NAIVE_LIMIT = 1000  # one GET per submission gets slow; the baseline is measured up to this many


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,1000,10000")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="phishbot-bench-") as tmp:
        workdir = Path(tmp)
        tls = make_tls(workdir / "tls")
        graph = GraphEmulator(tls, verdict_after=24 * 3600).start()  # every submission stays open
        slack = SlackEmulator(validate_blocks=False).start()
        slack.add_channel("C0BENCHSOC", "soc")
        try:
            for size in sizes:
                settings = Settings(
                    SLACK_BOT_TOKEN=slack.bot_token,
                    SLACK_SIGNING_SECRET=slack.signing_secret,
                    SLACK_API_URL=slack.api_url,
                    PHISHBOT_MODE="http",
                    PHISHBOT_SOC_CHANNEL="C0BENCHSOC",
                    MS_TENANT_ID=graph.tenant_id,
                    MS_CLIENT_ID=graph.client_id,
                    MS_CLIENT_SECRET=graph.client_secret,
                    MS_AUTHORITY_HOST=graph.base_url,
                    GRAPH_URL=graph.base_url,
                    SSL_CERT_FILE=str(tls.ca_file),
                    DATABASE_URL=f"sqlite:///{workdir / f'verdicts-{size}.db'}",
                    HTTPS_PROXY=None,
                    PHISHBOT_POLL_SCHEDULE="3600",
                )
                services = build_services(settings)
                try:
                    services.store.database.migrate()
                    graph_client = services.graph
                    with ThreadPoolExecutor(max_workers=8) as pool:
                        created = list(
                            pool.map(
                                lambda i, client=graph_client: client.submit_url(
                                    url=f"https://b{i}.example/", category="phishing"
                                ),
                                range(size),
                            )
                        )
                    ids = [c["id"] for c in created]
                    seed_open_url_cases(services.store.database.engine, ids)
                    refs = [("url", graph_id) for graph_id in ids]
                    naive_seconds = None
                    if size <= NAIVE_LIMIT:
                        started = time.perf_counter()
                        for graph_id in ids:
                            services.graph.get_submission("url", graph_id)
                        naive_seconds = time.perf_counter() - started
                    started = time.perf_counter()
                    services.graph.read_submissions(refs)
                    batch_seconds = time.perf_counter() - started
                    before = len(graph.requests)
                    started = time.perf_counter()
                    # One claim takes at most 1,000 due checks; the sweep runs rounds until none are due.
                    read = 0
                    while read < size:
                        got = services.follow_up.check_due()
                        if not got:
                            break
                        read += got
                    round_seconds = time.perf_counter() - started
                    outer = [
                        r for r in graph.requests[before:] if not r.in_batch and "/oauth2/" not in r.path
                    ]
                    rows.append(
                        (
                            size,
                            read,
                            len(outer),
                            math.ceil(size / 20),
                            batch_seconds,
                            naive_seconds,
                            round_seconds,
                            rss_mb(),
                        )
                    )
                finally:
                    services.close()
        finally:
            slack.stop()
            graph.stop()

    print(
        f"{'open':>6} | {'requests':>8} {'budget':>6} | {'$batch read':>11} {'1 GET each':>10} {'speed-up':>8} | "
        f"{'whole round':>11} | {'RSS':>6}"
    )
    within = True
    for size, read, requests, budget, batch_seconds, naive_seconds, round_seconds, rss in rows:
        within &= requests <= budget and read == size
        naive = f"{naive_seconds:>9.2f}s" if naive_seconds is not None else f"{'(skipped)':>10}"
        speedup = f"{naive_seconds / batch_seconds:>7.1f}x" if naive_seconds else f"{'-':>8}"
        print(
            f"{size:>6} | {requests:>8} {budget:>6} | {batch_seconds:>10.2f}s {naive} {speedup} | "
            f"{round_seconds:>10.2f}s | {rss:>4.0f}MB"
        )
    print(
        "(whole round = the real check_due() until nothing is due: $batch reads and a store update per submission)"
    )
    print(
        "summary: Graph requests per round "
        + ", ".join(f"{r[2]} for {r[0]} open" for r in rows)
        + (" — within ⌈N/20⌉" if within else " — OVER the ⌈N/20⌉ budget")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
