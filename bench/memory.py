"""Memory: the resident size of one replica (`phishbot run`, a process of its own) holding 10,000 open cases.

The emulators run in this process; the replica runs in a child, so its resident memory is its own. Its database
is seeded with N open cases whose submissions (really created in the Graph emulator, verdicts pending) are all
due for a check; the replica then does what it does with them — reads every verdict in `$batch` rounds, records
each, posts each case's card — and its resident size is sampled throughout. Baseline, same run: the same replica
on an empty database, after its first sweeps. Budget (design §6): 10,000 open cases in under 200 MB resident.

Run: `python -m bench.memory` (options: --cases, --database-url for PostgreSQL, already migrated or empty).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import func, select

from bench.common import bot_environment, seed_open_url_cases, start_phishbot, workspace
from bot.microsoft import GraphClient
from bot.sandbox.graph_emulator import GraphEmulator
from bot.sandbox.slack_emulator import SlackEmulator
from bot.sandbox.tls import make_tls
from bot.store import Repositories, open_store
from bot.store.models import CaseRow, SubmissionRow

BUDGET_MB = 200


def memory_of(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) in MB, from /proc."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


def progress(store: Repositories) -> tuple[int, int, int]:
    """(open checks, checks read at least once, cards posted)."""
    with store.database.engine.connect() as connection:
        open_checks = connection.execute(
            select(func.count()).select_from(SubmissionRow).where(SubmissionRow.state == "checking")
        ).scalar()
        read = connection.execute(
            select(func.count()).select_from(SubmissionRow).where(SubmissionRow.checks_done >= 1)
        ).scalar()
        cards = connection.execute(
            select(func.count()).select_from(CaseRow).where(CaseRow.card_ts.is_not(None))
        ).scalar()
    return int(open_checks or 0), int(read or 0), int(cards or 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument(
        "--database-url", help="PostgreSQL URL (default: a SQLite file in a temporary directory)"
    )
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for the replica's rounds")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="phishbot-memory-") as tmp:
        workdir = Path(tmp)
        tls = make_tls(workdir / "tls")
        graph = GraphEmulator(tls, verdict_after=24 * 3600).start()  # every verdict stays pending
        slack = SlackEmulator(validate_blocks=False).start()
        workspace(slack)
        database_url = args.database_url or f"sqlite:///{workdir / 'memory.db'}"
        # Every case is read once in the measurement; the next check would be an hour later (bot_environment's).
        environment = bot_environment(
            slack,
            graph,
            tls,
            workdir,
            database_url=database_url,
            PHISHBOT_POLL_GIVE_UP="172800",
            PHISHBOT_SWEEP_SECONDS="1",
        )
        for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            os.environ.pop(proxy, None)
        os.environ["NO_PROXY"] = "127.0.0.1,localhost"
        store = open_store(database_url)
        store.database.migrate()
        try:
            # Baseline: the same replica with nothing to do.
            idle, port = start_phishbot(environment, workdir, "idle")
            time.sleep(5)
            idle_rss, idle_peak = memory_of(idle.pid)
            idle.terminate()
            idle.wait(timeout=30)

            print(f"creating {args.cases} submissions in the Graph emulator …", flush=True)
            client = GraphClient(
                tenant_id=graph.tenant_id,
                client_id=graph.client_id,
                client_secret=graph.client_secret,
                authority_host=graph.base_url,
                graph_url=graph.base_url,
                verify=str(tls.ca_file),
            )
            with client, ThreadPoolExecutor(max_workers=8) as pool:
                created = list(
                    pool.map(
                        lambda i: client.submit_url(url=f"https://m{i}.example/login", category="phishing"),
                        range(args.cases),
                    )
                )
            seed_open_url_cases(store.database.engine, [c["id"] for c in created])

            replica, port = start_phishbot(environment, workdir, "replica")
            started = time.monotonic()
            samples: list[float] = []
            while time.monotonic() - started < args.timeout:
                rss, _ = memory_of(replica.pid)
                samples.append(rss)
                open_checks, read, cards = progress(store)
                if read >= args.cases and cards >= args.cases:
                    break
                time.sleep(0.5)
            else:
                print(f"timed out: {read} of {args.cases} read, {cards} cards", file=sys.stderr)
            seconds = time.monotonic() - started
            time.sleep(3)  # a few idle sweeps over 10,000 open checks
            held_rss, peak = memory_of(replica.pid)
            open_checks, read, cards = progress(store)
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
            replica.terminate()
            replica.wait(timeout=30)
        finally:
            store.database.close()
            slack.stop()
            graph.stop()

    batches = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith('phishbot_graph_requests_total{endpoint="POST /beta/$batch"')
    )
    print()
    print(f"{'replica':<34} | {'RSS':>7} | {'peak RSS':>8}")
    print(f"{'idle (empty database)':<34} | {idle_rss:>5.0f}MB | {idle_peak:>6.0f}MB")
    print(f"{f'holding {open_checks:,} open cases':<34} | {held_rss:>5.0f}MB | {peak:>6.0f}MB")
    print(
        f"(the replica read {read:,} verdicts in {batches:.0f} $batch requests and posted {cards:,} cards in"
        f" {seconds:.0f}s; RSS sampled {len(samples)} times, highest {max(samples, default=0):.0f}MB)"
    )
    print(
        f"summary: peak {peak:.0f}MB for {open_checks:,} open cases = {peak / BUDGET_MB:.2f}x the {BUDGET_MB} MB budget"
        f" ({peak - idle_peak:+.0f}MB over the idle replica) — "
        + ("within budget" if peak < BUDGET_MB else "OVER BUDGET")
    )
    return 0 if peak < BUDGET_MB else 1


if __name__ == "__main__":
    raise SystemExit(main())
