"""Graph requests to purge a 5,000-mailbox campaign, with each purge method.

The real bot (Runtime, HTTP mode) against the loopback emulators: a reported phish whose campaign reached 5,000
mailboxes (the message itself, a second wave with the same sender and subject, a third sharing its link). A
responder clicks Purge, picks "the campaign" and soft delete, and the bench waits for "5,000 of 5,000 removed".
Counted: every HTTP request the bot sent to Graph from the click on (token requests apart), split by kind, and
the requests inside `$batch` envelopes. Methods: Defender's remediate; the mailbox API (PHISHBOT_PURGE_METHOD=
mailbox); and auto, where remediate answers 403 (no Defender Plan 2) and the bot falls back.

Run: `python -m bench.purge` (options: --mailboxes, --methods).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from bot.config import Settings
from bot.domain import CaseStatus, RemediationState
from bot.runtime.process import Runtime
from bot.sandbox.defender import DefenderTenant
from bot.sandbox.graph_emulator import GraphEmulator
from bot.sandbox.slack_emulator import SlackEmulator
from bot.sandbox.tls import make_tls
from bot.slack.contract import ActionId

SAMPLE = (resources.files("bot.sandbox") / "samples" / "credential-phish.eml").read_bytes()
MESSAGE_ID = "<20240514081238.4F2A9C1D7E@login-micros0ft-secure.example>"
SENDER = "no-reply@login-micros0ft-secure.example"
SUBJECT = "Action required: your password expires today ⚠"
LINK = "https://login-micros0ft-secure.example/common/oauth2/authorize?client=owa"
REPORTER = "U0BENCH001"
RESPONDER = "U0BENCHSOC"
SOC = "C0BENCHSOC"
INTAKE = "C0BENCHINT"
REMEDIATE = "POST /v1.0/security/collaboration/analyzedEmails/remediate"


def run(method: str, mailboxes: int, workdir: Path) -> dict[str, float]:
    tls = make_tls(workdir / "tls")
    graph = GraphEmulator(tls, verdict_after=0.2).start()
    slack = SlackEmulator().start()
    defender = DefenderTenant(remediation_after=0.5).attach(graph)
    third = mailboxes // 5
    second = (mailboxes - third) // 2
    first = mailboxes - second - third
    addresses = [f"user{i:05d}@contoso.example" for i in range(mailboxes)]
    defender.deliver(MESSAGE_ID, sender=SENDER, subject=SUBJECT, recipients=addresses[:first], urls=[LINK])
    defender.deliver(
        "<wave-2@login-micros0ft-secure.example>",
        sender=SENDER,
        subject=SUBJECT,
        recipients=addresses[first : first + second],
    )
    defender.deliver(
        "<lure-3@evil.example>",
        sender="billing@evil.example",
        subject="Invoice overdue",
        recipients=addresses[first + second :],
        urls=[LINK],
    )
    slack.add_user(REPORTER, name="reporter", email="reporter@contoso.example")
    slack.add_user(RESPONDER, name="responder", email="soc@contoso.example")
    slack.add_channel(SOC, "security-ops", members=[RESPONDER])
    slack.add_channel(INTAKE, "phish-reports", members=[REPORTER])
    env = {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url,
        "PHISHBOT_MODE": "http",
        "PORT": "0",
        "PHISHBOT_SOC_CHANNEL": SOC,
        "PHISHBOT_INTAKE_CHANNELS": INTAKE,
        "PHISHBOT_RESPONDERS": RESPONDER,
        "MS_TENANT_ID": graph.tenant_id,
        "MS_CLIENT_ID": graph.client_id,
        "MS_CLIENT_SECRET": graph.client_secret or "",
        "MS_AUTHORITY_HOST": graph.base_url,
        "GRAPH_URL": graph.base_url,
        "DATABASE_URL": f"sqlite:///{workdir / (method + '.db')}",
        "PHISHBOT_POLL_SCHEDULE": "1",
        "PHISHBOT_SWEEP_SECONDS": "0.2",
        "PHISHBOT_PURGE_METHOD": "mailbox" if method == "mailbox" else "auto",
        "SSL_CERT_FILE": str(tls.ca_file),
    }
    runtime = Runtime(Settings(**env), host="127.0.0.1").start()
    slack.app_url = f"http://127.0.0.1:{runtime.port}/slack/events"
    store = runtime.services.store
    try:
        slack.upload_file(REPORTER, INTAKE, "phish.eml", SAMPLE)
        slack.wait_for(lambda: store.cases.case_view(1).status is CaseStatus.VERDICT, timeout=60)
        card = slack.wait_for(lambda: [m for m in slack.messages(SOC) if ActionId.PURGE in str(m.blocks)])[0]
        if method == "auto (403)":
            graph.fail_next(REMEDIATE, status=403, times=100)
        before = len(graph.requests)
        started = time.monotonic()
        slack.click(RESPONDER, ActionId.PURGE, "1", card)

        def modal():
            for entry in list(slack.views.values()):
                if entry["open"] and "scope" in json.dumps(entry["view"]["blocks"]):
                    return entry["view"]
            return None

        view = slack.wait_for(modal, timeout=60)
        values = slack.state_values(view["id"], {"scope": "campaign", "action": "softDelete"})
        slack.submit_view(RESPONDER, view["id"], values)
        done = slack.wait_for(
            lambda: (
                (r := store.cases.case_view(1).remediation) is not None
                and r.state in (RemediationState.DONE, RemediationState.PARTIAL, RemediationState.FAILED)
                and r
            ),
            timeout=600,
        )
        seconds = time.monotonic() - started
        sent = [r for r in graph.requests[before:] if r.is_graph and not r.in_batch]
        inner = [r for r in graph.requests[before:] if r.in_batch]
        return {
            "removed": done.done,
            "total": done.total,
            "requests": len(sent),
            "hunting": sum(1 for r in sent if r.path.endswith("/runHuntingQuery")),
            "remediate": sum(1 for r in sent if r.path.endswith("/remediate")),
            "batches": sum(1 for r in sent if r.path.endswith("/$batch")),
            "inner": len(inner),
            "throttled": sum(1 for r in inner if r.status == 429),
            "seconds": seconds,
        }
    finally:
        runtime.stop()
        slack.stop()
        graph.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=5000)
    parser.add_argument("--methods", default="defender,mailbox,auto (403)")
    args = parser.parse_args(argv)
    # The bench sweeps every 0.2 s and a purge's sweep takes longer: APScheduler would warn of each skipped run.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    results = {}
    with tempfile.TemporaryDirectory(prefix="phishbot-bench-purge-") as workdir:
        for method in methods:
            results[method] = run(method, args.mailboxes, Path(workdir) / method.split()[0])
    header = (
        f"{'method':<12} {'removed':>13} {'Graph HTTP':>10} {'hunting':>8} {'remediate':>9} {'$batch':>7} "
        f"{'in $batch':>9} {'seconds':>8}"
    )
    print(
        f"Purging a {args.mailboxes:,}-mailbox campaign (soft delete), from the Purge click to the last copy:"
    )
    print(header)
    print("-" * len(header))
    for method, r in results.items():
        print(
            f"{method:<12} {r['removed']:>6,.0f}/{r['total']:<6,.0f} {r['requests']:>10,.0f} {r['hunting']:>8,.0f} "
            f"{r['remediate']:>9,.0f} {r['batches']:>7,.0f} {r['inner']:>9,.0f} {r['seconds']:>8.1f}"
        )
    if "defender" in results and "mailbox" in results and results["defender"]["requests"]:
        ratio = results["mailbox"]["requests"] / results["defender"]["requests"]
        print(
            f"\nThe mailbox API takes {ratio:.0f}x the HTTP requests of Defender's remediate for this campaign."
        )
    print(
        "Hunting counts the two queries that size the Purge modal (message, campaign), the one that finds the "
        "copies on submit, and Defender's verification reads."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
