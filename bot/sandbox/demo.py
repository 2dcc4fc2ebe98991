"""`phishbot demo`: the real bot, end to end, against loopback emulators of Slack and Microsoft Graph.

No account and no network: the Slack emulator plays both the Slack Web API and the Slack clients of the
people in the story; the Graph emulator plays Microsoft's identity platform (over TLS, with a CA made for the
run) and Defender's threat submission API. The bot itself is the same code `phishbot run` starts.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

from bot.config import Settings
from bot.domain import CaseStatus
from bot.runtime.process import Runtime
from bot.sandbox.graph_emulator import GraphEmulator
from bot.sandbox.slack_emulator import PostedMessage, SlackEmulator
from bot.sandbox.terminal import render_message, render_view
from bot.sandbox.tls import make_tls
from bot.sandbox.user_reports import ReportButton
from bot.slack.contract import ActionId, ModalCallback

SOC_CHANNEL = "C0SOC0001"
INTAKE_CHANNEL = "C0INTAKE01"
REPORTER = "U0ALICE01"
SECOND_REPORTER = "U0BOB0001"
RESPONDER = "U0SOCLEAD1"
OUTSIDER = "U0EVE00001"
RESPONDER_GROUP = "S0SECOPS01"
FINISHED = frozenset({CaseStatus.VERDICT, CaseStatus.GAVE_UP, CaseStatus.FAILED})


class Narrator:
    def __init__(self, color: bool) -> None:
        self._color = color
        self._started = time.monotonic()

    def step(self, text: str) -> None:
        stamp = f"[{time.monotonic() - self._started:5.1f}s]"
        if self._color:
            print(f"\n\033[1;36m{stamp} {text}\033[0m", flush=True)
        else:
            print(f"\n{stamp} {text}", flush=True)

    def show(self, who: str, message: PostedMessage | dict) -> None:
        print(f"  ┌─ {who}", flush=True)
        for line in render_message(message, color=self._color).splitlines():
            print(f"  │ {line}", flush=True)
        print("  └─", flush=True)

    def show_view(self, who: str, view: dict) -> None:
        print(f"  {who}", flush=True)
        for line in render_view(view, color=self._color).splitlines():
            print(f"  {line}", flush=True)


def run_demo(*, verdict_after: float = 4.0, color: bool = False) -> int:
    logging.basicConfig(level=logging.WARNING, format="  (bot log) %(levelname)s %(name)s: %(message)s")
    say = Narrator(color)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="phishbot-demo-") as tmp:
        workdir = Path(tmp)
        tls = make_tls(workdir / "tls")
        graph = GraphEmulator(tls, verdict_after=verdict_after).start()
        button = ReportButton().attach(graph)
        slack = SlackEmulator().start()
        runtime: Runtime | None = None
        try:
            _populate(slack)
            settings = Settings(
                SLACK_BOT_TOKEN=slack.bot_token,
                SLACK_SIGNING_SECRET=slack.signing_secret,
                SLACK_API_URL=slack.api_url,
                PHISHBOT_MODE="http",
                PORT=0,
                PHISHBOT_SOC_CHANNEL=SOC_CHANNEL,
                PHISHBOT_INTAKE_CHANNELS=INTAKE_CHANNEL,
                PHISHBOT_RESPONDERS=RESPONDER_GROUP,
                MS_TENANT_ID=graph.tenant_id,
                MS_CLIENT_ID=graph.client_id,
                MS_CLIENT_SECRET=graph.client_secret,
                MS_AUTHORITY_HOST=graph.base_url,
                GRAPH_URL=graph.base_url,
                DATABASE_URL=f"sqlite:///{workdir / 'phishbot.db'}",
                PHISHBOT_POLL_SCHEDULE="2,2,3",
                PHISHBOT_POLL_GIVE_UP=120,
                SSL_CERT_FILE=str(tls.ca_file),
                HTTPS_PROXY=None,
                PHISHBOT_SWEEP_SECONDS=0.5,
                PHISHBOT_USER_REPORTS_POLL=2,
            )
            say.step("Starting phishbot (HTTP mode) against the Slack and Microsoft Graph emulators")
            runtime = Runtime(settings, host="127.0.0.1").start()
            slack.app_url = f"http://127.0.0.1:{runtime.port}/slack/events"
            print(f"  bot: {slack.app_url}   graph: {graph.base_url}   slack: {slack.api_url}")
            _story(say, slack, graph, runtime)
            _report_button(say, slack, button, runtime)
        except _DemoFailed as failure:
            say.step(f"The demo did not finish: {failure}")
            return 1
        finally:
            if runtime is not None:
                runtime.stop()
            slack.stop()
            graph.stop()
    outer = [r for r in graph.requests if not r.in_batch]
    batches = [r for r in outer if r.path == "/beta/$batch"]
    checks = [r for r in graph.batch_requests() if r.path.startswith("/beta/")]
    say.step(
        f"Done in {time.monotonic() - started:.1f} s. HTTP requests to Microsoft: {len(outer)}"
        f" ({len(batches)} of them $batch verdict reads carrying {len(checks)} checks)."
    )
    return 0


class _DemoFailed(Exception):
    pass


def _populate(slack: SlackEmulator) -> None:
    slack.add_user(REPORTER, name="alice", email="alice@contoso.example")
    slack.add_user(SECOND_REPORTER, name="bob", email="bob@contoso.example")
    slack.add_user(RESPONDER, name="sam.soc", email="sam@contoso.example")
    slack.add_user(OUTSIDER, name="eve", email="eve@contoso.example")
    slack.add_usergroup(RESPONDER_GROUP, [RESPONDER])
    slack.add_channel(SOC_CHANNEL, "security-ops", members=[RESPONDER])
    slack.add_channel(INTAKE_CHANNEL, "phish-reports", members=[REPORTER, SECOND_REPORTER])


def _wait(slack: SlackEmulator, predicate, what: str, timeout: float = 20.0):
    try:
        return slack.wait_for(predicate, timeout=timeout)
    except AssertionError:
        raise _DemoFailed(f"timed out waiting for {what}") from None


def _story(say: Narrator, slack: SlackEmulator, graph: GraphEmulator, runtime: Runtime) -> None:
    assert runtime.services is not None, "the runtime has started"
    store = runtime.services.store
    raw = (resources.files("bot.sandbox") / "samples" / "credential-phish.eml").read_bytes()

    def shown_to(user_id: str) -> list[dict]:
        return [e for e in slack.ephemerals if e["user"] == user_id] + [
            r for r in slack.responses if r.get("user") == user_id
        ]

    say.step("Alice drops the suspicious email (credential-phish.eml) into #phish-reports")
    slack.upload_file(REPORTER, INTAKE_CHANNEL, "credential-phish.eml", raw)
    ack = _wait(slack, lambda: shown_to(REPORTER), "Alice's acknowledgement")[0]
    say.show("what Alice sees (only to her)", ack)
    card = _wait(slack, lambda: slack.messages(SOC_CHANNEL), "the card in #security-ops")[0]
    say.show("#security-ops: the case card appears at once", card)

    say.step("Bob reports the same email — he joins the case; Microsoft is not asked twice")
    slack.upload_file(SECOND_REPORTER, INTAKE_CHANNEL, "Fwd-password.eml", raw)
    say.show("what Bob sees", _wait(slack, lambda: shown_to(SECOND_REPORTER), "Bob's acknowledgement")[0])

    say.step("Alice reports a link: /report-phish https://login-micros0ft-secure.example/password-reset")
    say.step("(Microsoft's emulator throttles that submission once: 429 with Retry-After: 1)")
    graph.fail_next("POST /beta/security/threatSubmission/urlThreats", status=429, retry_after=1)
    before = len(shown_to(REPORTER))
    response = slack.slash_command(
        REPORTER,
        "https://login-micros0ft-secure.example/password-reset?user=alice",
        channel_id=INTAKE_CHANNEL,
    )
    if response.status_code != 200:
        raise _DemoFailed(f"the bot answered the slash command with HTTP {response.status_code}")
    _wait(slack, lambda: len(slack.messages(SOC_CHANNEL)) >= 2, "the link's card")
    say.show("what Alice sees", _wait(slack, lambda: shown_to(REPORTER)[before:], "Alice's second ack")[-1])
    _wait(slack, lambda: graph.submissions and len(graph.submissions) == 2, "the link's submission")
    statuses = [r.status for r in graph.requests if r.path.endswith("/urlThreats") and r.method == "POST"]
    print(
        f"  Microsoft answered the link's submission with HTTP {statuses}: phishbot waited as told and resent."
    )

    say.step("Microsoft analyses; phishbot checks on its schedule and edits each card in place")
    case_ids = [c.case_id for c in store.reporters.cases_reported_by(REPORTER)]
    seen: dict[str, int] = {}

    def finished() -> bool:
        for message in slack.messages(SOC_CHANNEL):
            if message.updates and seen.get(message.ts) != message.updates:
                seen[message.ts] = message.updates
                print(f"  card {message.ts}, edit #{message.updates}: {_headline(message)}", flush=True)
        done = all(store.cases.case_view(case_id).status in FINISHED for case_id in case_ids)
        return done and len(slack.dms(REPORTER)) >= len(case_ids)

    _wait(slack, finished, "the verdicts", timeout=40)
    final = slack.messages(SOC_CHANNEL)[0]
    say.show("#security-ops: the email's card, final", final)
    say.step("Alice hears each outcome in a DM")
    for message in slack.dms(REPORTER):
        say.show("DM to Alice", message)

    say.step("Eve, who is not a responder, clicks Dismiss on the card")
    slack.add_channel(SOC_CHANNEL, "security-ops", members=[RESPONDER, OUTSIDER])
    slack.click(OUTSIDER, ActionId.DISMISS, None, final)
    refusal = _wait(slack, lambda: shown_to(OUTSIDER), "Eve's refusal")[-1]
    say.show("what Eve sees", refusal)

    say.step(
        "Sam, a responder, clicks Resubmit: Microsoft advises waiting a day, so phishbot offers a choice"
    )
    slack.click(RESPONDER, ActionId.RESUBMIT, None, slack.messages(SOC_CHANNEL)[0])
    say.show("what Sam sees", _wait(slack, lambda: shown_to(RESPONDER), "Sam's choice")[-1])
    audit = store.audit.entries()
    entries = ", ".join(f"{e['actor']} {e['action']} {e['outcome']}" for e in audit)
    print(f"  audit log: {entries}")
    say.step(f"Cards in #security-ops: {len(slack.messages(SOC_CHANNEL))} (one per case, edited in place)")


def _headline(message: PostedMessage) -> str:
    lines = [line.strip() for line in render_message(message).splitlines() if line.strip()]
    return " | ".join(lines[1:3])


if __name__ == "__main__":
    sys.exit(run_demo())


def _report_button(say: Narrator, slack: SlackEmulator, button: ReportButton, runtime: Runtime) -> None:
    """Outlook's Report button: a message an employee reports there arrives as a card, and a responder marks it and
    notifies them; then a reporter's Home tab."""
    assert runtime.services is not None, "the runtime has started"
    raw = (resources.files("bot.sandbox") / "samples" / "invoice-malware.eml").read_bytes()
    cards = len(slack.messages(SOC_CHANNEL))
    say.step("Bob presses Report in Outlook on an overdue-invoice email (no Slack involved)")
    submission_id = button.press("bob@contoso.example", raw)
    print(
        f"  Microsoft keeps it as a user-reported submission ({submission_id}); phishbot lists those every 2 s."
    )
    card = _wait(slack, lambda: slack.messages(SOC_CHANNEL)[cards:], "the Report button's card")[0]
    say.show("#security-ops: the Outlook report's card (Bob mentioned: Slack knows his address)", card)
    store = runtime.services.store
    case_id = store.reporters.cases_reported_by(SECOND_REPORTER)[0].case_id
    _wait(
        slack, lambda: store.cases.case_view(case_id).status in FINISHED, "Microsoft's result of Bob's report"
    )
    ts = card.ts

    def edited() -> PostedMessage | None:
        current = next(m for m in slack.messages(SOC_CHANNEL) if m.ts == ts)
        return current if "analysing" not in current.text.lower() else None

    card = _wait(slack, edited, "the card's verdict")
    print(f"  card edited with Microsoft's result of Bob's own submission: {_headline(card)}")

    say.step("Sam clicks Mark as… and notify: Microsoft's verdict is preselected")
    slack.click(RESPONDER, ActionId.REVIEW, str(case_id), card)

    def modal() -> dict | None:
        entries = [e for e in list(slack.views.values()) if e["user"] == RESPONDER and e["open"]]
        return next((e["view"] for e in entries if e["view"]["callback_id"] == ModalCallback.REVIEW), None)

    view = _wait(slack, modal, "the Mark as modal")
    say.show_view("what Sam sees", view)
    chosen = next(b for b in view["blocks"] if b.get("block_id") == "category")["element"]["initial_option"]
    slack.submit_view(RESPONDER, view["id"], slack.state_values(view["id"], {"category": chosen["value"]}))
    _wait(slack, lambda: button.reviews, "the review at Microsoft")
    print(
        f"  Microsoft got review {button.reviews[-1]}: it notifies Bob, as the Defender portal's Mark as and notify."
    )
    dm = _wait(
        slack, lambda: [m for m in slack.dms(SECOND_REPORTER) if "reviewed" in m.text], "Bob's message"
    )[-1]
    say.show("DM to Bob", dm)

    say.step("Alice opens phishbot's Home tab")
    slack.open_app_home(REPORTER)
    home = _wait(slack, lambda: slack.homes.get(REPORTER), "Alice's Home tab")
    say.show_view("Alice's Home tab", {**home, "title": {"type": "plain_text", "text": "phishbot · Home"}})
