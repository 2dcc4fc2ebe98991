"""kill -9 at each step of the flow, then a restart on the same database (as a supervisor does): every case
completes, and nothing happens twice — one threatSubmission per case at Microsoft, one card per case (edited in
place), one outcome message per reporter, one remediation per purge.

Each test holds calls in flight (the emulators answer them late, after the kill: with a failure, Microsoft or
Slack did nothing; or with success, the answer never reached the bot), kills the real `phishbot run` process,
starts a new one on the same database and watches it finish the work.

On PostgreSQL a new process takes over a dead one's claims once its heartbeat is WORKER_TIMEOUT old (SQLite: at
once, the process lock proves the old one dead). The PostgreSQL pass runs one variant of each step; the claims
are the same SQL on both databases, and the SQLite pass runs every variant.
"""

from __future__ import annotations

import base64
import glob
import json
import os
import random
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import httpx
import pytest
from conftest import ALICE, BOB, INTAKE, RESPONDER, SOC, bot_environment, migrate_first, suite_database
from processes import BotProcess, free_port

from bot.domain import CaseStatus, RemediationState
from bot.sandbox.defender import DefenderTenant
from bot.sandbox.graph_emulator import RecordedRequest, graph_error
from bot.slack.contract import ActionId, ModalCallback
from bot.store import open_store

sqlite_pass_only = pytest.mark.skipif(
    suite_database() == "postgresql",
    reason="the same claims as a variant the PostgreSQL pass runs; every variant runs in the SQLite pass",
)

SAMPLE = (resources.files("bot.sandbox") / "samples" / "credential-phish.eml").read_bytes()
MESSAGE_ID = "<20240514081238.4F2A9C1D7E@login-micros0ft-secure.example>"
SENDER = "no-reply@login-micros0ft-secure.example"
SUBJECT = "Action required: your password expires today ⚠"
RECIPIENTS = [f"user{i:02d}@contoso.example" for i in range(11)] + ["alice@contoso.example"]
EMAIL_POST = "POST /beta/security/threatSubmission/emailThreats"
VERDICT_READ = "GET /beta/security/threatSubmission/emailThreats/{id}"
HUNTING = "POST /v1.0/security/runHuntingQuery"
REMEDIATE = "POST /v1.0/security/collaboration/analyzedEmails/remediate"
HELD = 20.0  # how long an emulator holds a call: far longer than it takes to kill the bot


class Lives:
    """One bot, started again after each death on the same port and database, as a supervisor would."""

    def __init__(self, slack, environment: dict[str, str], tmp_path) -> None:
        self._slack = slack
        self._environment = environment
        self._tmp_path = tmp_path
        self._port = free_port()
        self.current: BotProcess | None = None
        self.born = 0

    def start(self) -> BotProcess:
        self.born += 1
        log = self._tmp_path / f"life-{self.born}.log"
        self.current = BotProcess(self._environment, log, port=self._port).wait_ready()
        self._slack.app_url = self.current.events_url
        return self.current

    def kill(self) -> None:
        assert self.current is not None
        self.current.kill()
        assert self.current.process.returncode == -9

    def stop(self) -> None:
        assert self.current is not None
        self.current.terminate()
        assert self.current.process.returncode == 0, self.current.log_tail()

    def close(self) -> None:
        if self.current is not None:
            self.current.stop_quietly()


class Hold:
    """A Graph emulator route for the requests `when` picks, until `release()`: "fail" holds each, then answers 503
    (Microsoft did nothing); "pass" holds each, then lets it through (Microsoft does it, after the bot died: the
    answer is lost); "throttle" answers 429 with a minute's Retry-After at once (the bot waits it out, nothing in
    flight). After the release every request passes untouched."""

    def __init__(self, then: str, *, when: Callable[[RecordedRequest], bool] = lambda _request: True) -> None:
        assert then in ("fail", "pass", "throttle")
        self.then = then
        self.when = when
        self.arrived = threading.Event()
        self._released = threading.Event()

    def __call__(self, request: RecordedRequest) -> tuple | None:
        if self._released.is_set() or not self.when(request):
            return None
        self.arrived.set()
        if self.then == "throttle":
            return 429, graph_error(429, "Held by the test: too many requests."), {"Retry-After": "60"}
        self._released.wait(timeout=HELD)
        return (503, graph_error(503, "Held by the test, then failed.")) if self.then == "fail" else None

    def release(self) -> None:
        self._released.set()


@pytest.fixture
def lives(slack, graph, tls, tmp_path, database_url):
    migrate_first(database_url)
    graph.verdict_after = 1.0
    running = Lives(slack, bot_environment(slack, graph, tls, database_url), tmp_path)
    yield running
    running.close()


@pytest.fixture
def store(database_url):
    opened = open_store(database_url)
    yield opened
    opened.database.close()


def posts_to_microsoft(graph) -> list[RecordedRequest]:
    return [r for r in graph.requests if r.method == "POST" and r.path.endswith("/emailThreats")]


def soc_posts(slack) -> list:
    return [c for c in slack.calls_to("chat.postMessage") if c.args.get("channel") == SOC]


def calls_to(slack, method: str) -> int:
    return len(slack.calls_to(method))


def wait_until_done(slack, store, cases: int = 1) -> None:
    """Every case has its verdict, on its card, and its reporter (Alice) was told. A card being drawn right now is
    not dirty for a moment: the card's text is what says it was drawn."""
    slack.wait_for(
        lambda: all(store.cases.case_view(c).status is CaseStatus.VERDICT for c in range(1, cases + 1)),
        timeout=60,
    )
    slack.wait_for(
        lambda: (
            len(slack.dms(ALICE)) >= cases
            and len([m for m in slack.messages(SOC) if "Phishing" in m.text]) >= cases
            and not store.card_posts.dirty_cards()
        ),
        timeout=30,
    )


def assert_each_case_told_once(slack, graph, store, cases: int = 1) -> None:
    """Submitted once each, one card each showing its verdict, the reporter told once per case."""
    assert len(graph.submissions) == cases
    cards_posted = slack.messages(SOC)
    assert len(cards_posted) == cases
    assert all("Phishing" in card.text for card in cards_posted)
    assert sorted(store.card_posts.card_location(c)[1] for c in range(1, cases + 1)) == sorted(
        c.ts for c in cards_posted
    )
    told = slack.dms(ALICE)
    assert len(told) == cases and all("malicious" in m.text for m in told)


def email(marker: str) -> bytes:
    """The sample with a Message-ID of its own: another reported message, another case."""
    return SAMPLE.replace(b"Message-ID: <", f"Message-ID: <{marker}-".encode())


def carries(marker: str) -> Callable[[RecordedRequest], bool]:
    """Picks the email submission of `email(marker)`."""

    def picks(request: RecordedRequest) -> bool:
        content = request.body.get("fileContent", "") if isinstance(request.body, dict) else ""
        return f"Message-ID: <{marker}-".encode() in base64.b64decode(content or "")

    return picks


# --- before submit -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_kill_9_before_the_submissions_succeed_sends_each_once_after_a_restart(lives, slack, graph, store):
    # Three reports, each stuck at Microsoft in its own way when the bot dies: throttled for a minute (the bot is
    # waiting it out), a send in flight that fails, and a send Microsoft completes after the bot died (its answer
    # is lost: the next life must find that submission, not make a second one).
    holds = {
        "throttled": Hold("throttle", when=carries("throttled")),
        "in-flight": Hold("fail", when=carries("in-flight")),
        "answer-lost": Hold("pass", when=carries("answer-lost")),
    }
    for hold in holds.values():
        graph.add_route(EMAIL_POST, hold)
    lives.start()
    for marker in holds:
        slack.upload_file(ALICE, INTAKE, f"{marker}.eml", email(marker))
    slack.wait_for(lambda: all(hold.arrived.is_set() for hold in holds.values()), timeout=20)
    lives.kill()
    assert [store.cases.case_exists(c) for c in (1, 2, 3)] == [True] * 3  # recorded
    assert graph.submissions == {}  # and none at Microsoft yet
    for hold in holds.values():
        hold.release()
    slack.wait_for(lambda: len(graph.submissions) == 1)  # Microsoft made one the bot never heard of

    lives.start()
    wait_until_done(slack, store, cases=3)
    lives.stop()

    assert_each_case_told_once(slack, graph, store, cases=3)
    made = [r for r in posts_to_microsoft(graph) if r.status == 201]
    assert len(made) == 3  # the answer-lost one was found at Microsoft, not sent again


def card_post_in_flight(slack) -> Callable[[], object]:
    # The card is posted before the submission is sent (which the sweep may be doing meanwhile).
    slack.fail_next("chat.postMessage", status=500, delay=HELD)
    return lambda: soc_posts(slack)


def card_posted_answer_lost(slack) -> Callable[[], object]:
    # Slack posts the card, the bot dies before it hears so: the next life must find it, not post a second.
    slack.hold_answer_next("chat.postMessage", HELD)
    return lambda: slack.messages(SOC)


@pytest.mark.slow
@sqlite_pass_only
@pytest.mark.parametrize("hold", [card_post_in_flight, card_posted_answer_lost], ids=lambda f: f.__name__)
def test_kill_9_while_the_card_is_posted_leaves_one_card(lives, slack, graph, store, hold):
    lives.start()
    in_flight = hold(slack)
    slack.upload_file(ALICE, INTAKE, "report.eml", SAMPLE)
    slack.wait_for(in_flight, timeout=20)
    lives.kill()
    assert store.cases.case_exists(1)

    lives.start()
    wait_until_done(slack, store)
    lives.stop()

    assert_each_case_told_once(slack, graph, store)
    if hold is card_posted_answer_lost:
        assert len(soc_posts(slack)) == 1  # found, not posted again


@pytest.mark.slow
@sqlite_pass_only
def test_kill_9_between_the_ack_and_the_case_being_recorded_loses_no_report(lives, slack, graph, store):
    lives.start()
    # The reporter's language is looked up (users.info) after the ack and before the case is recorded.
    slack.fail_next("users.info", status=500, delay=HELD)
    before = calls_to(slack, "users.info")
    answer = slack.slash_command(ALICE, "https://login-micros0ft.example/lost", channel_id=INTAKE)
    assert answer.status_code == 200 and "taking your report" in answer.text
    slack.wait_for(lambda: calls_to(slack, "users.info") > before, timeout=20)
    lives.kill()
    assert not store.cases.case_exists(1)  # the report lived only in the inbox

    lives.start()
    try:
        slack.wait_for(lambda: store.cases.case_exists(1), timeout=20)
        slack.wait_for(lambda: submitted(graph), timeout=20)
    finally:
        lives.stop()
    assert submitted(graph) == {"lost": 1}


# A burst of mixed reports, killed at a moment the seed picks: every report Slack saw acknowledged is submitted once
# after the restart. PHISHBOT_KILL_SEEDS runs more seeds (the check: 20).
BURST = 40
BURST_RATE = 20.0  # reports a second
KILL_SEEDS = int(os.environ.get("PHISHBOT_KILL_SEEDS", "3"))


def send_burst(slack, tag: str, targets: Callable[[int], str] | None = None) -> dict[str, bool]:
    """BURST reports at BURST_RATE (each sent at its time, whatever the earlier ones are waiting for), slash
    commands with a link and uploaded emails in turn; returns each report's marker and whether Slack saw it
    acknowledged. `targets(number)`: the replica's URL Slack sends it to."""
    acked: dict[str, bool] = {}
    started = time.monotonic()

    def send(number: int) -> None:
        marker = f"{tag}-{number}"
        reporter = (ALICE, BOB)[number % 2]
        time.sleep(max(0.0, started + number / BURST_RATE - time.monotonic()))
        try:
            with slack.delivering_to(targets(number) if targets else slack.app_url):
                if number % 2:
                    link = f"https://login-micros0ft.example/{marker}"
                    answer = slack.slash_command(reporter, link, channel_id=INTAKE)
                    acked[marker] = answer.status_code == 200 and "taking your report" in answer.text
                else:
                    answer = slack.upload_file(reporter, INTAKE, f"{marker}.eml", email(marker))
                    acked[marker] = answer.status_code == 200
        except httpx.HTTPError:
            acked[marker] = False  # the bot died with it: Slack shows the person an error, nothing was taken

    senders = [threading.Thread(target=send, args=(number,)) for number in range(BURST)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    return acked


def submitted(graph) -> dict[str, int]:
    """Each report's marker: how many submissions Microsoft made of it."""
    made: dict[str, int] = {}
    for request in graph.requests:
        if request.method != "POST" or request.status != 201 or not isinstance(request.body, dict):
            continue
        if request.path.endswith("/urlThreats"):
            marker = str(request.body.get("webUrl", "")).rsplit("/", 1)[-1]
        elif request.path.endswith("/emailThreats"):
            found = re.search(
                rb"Message-ID: <([^>]+?)-20240514", base64.b64decode(request.body.get("fileContent", ""))
            )
            marker = found.group(1).decode() if found else ""
        else:
            continue
        made[marker] = made.get(marker, 0) + 1
    return made


def settled(store) -> bool:
    """Nothing left in the inbox, nothing queued or being sent."""
    with store.database.engine.connect() as connection:
        busy = connection.exec_driver_sql(
            "SELECT count(*) FROM submissions WHERE state IN ('queued', 'sending')"
        ).scalar()
    return store.inbox.undone_count() == 0 and busy == 0


def assert_acked_submitted_once(acked: dict[str, bool], made: dict[str, int]) -> None:
    lost = [marker for marker, ok in acked.items() if ok and made.get(marker, 0) == 0]
    twice = [marker for marker, times in made.items() if times > 1]
    assert (lost, twice) == ([], []), f"lost {lost}, submitted twice {twice}"
    assert set(made) <= set(acked)


@pytest.mark.slow
@sqlite_pass_only
@pytest.mark.parametrize("seed", range(KILL_SEEDS))
def test_kill_9_at_a_random_moment_of_a_burst_loses_no_acknowledged_report(
    lives, slack, graph, store, seed, record_property
):
    kill_after = random.Random(seed).uniform(0.1, BURST / BURST_RATE)
    lives.start()
    killer = threading.Timer(kill_after, lives.kill)
    killer.start()
    acked = send_burst(slack, f"burst{seed}")
    killer.join()
    print(
        f"\nseed {seed}: killed {kill_after:.2f} s into the burst, {sum(acked.values())} of {BURST} acknowledged"
    )
    record_property("acknowledged_before_the_kill", sum(acked.values()))

    lives.start()
    try:
        slack.wait_for(
            lambda: settled(store) and set(submitted(graph)) >= {m for m, ok in acked.items() if ok},
            timeout=60,
        )
    finally:
        lives.stop()
    assert_acked_submitted_once(acked, submitted(graph))


# --- after submit ----------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_kill_9_between_submission_and_verdict_still_delivers_one_card(lives, slack, graph, store):
    graph.verdict_after = 4.0
    lives.start()
    slack.upload_file(ALICE, INTAKE, "a.eml", SAMPLE)
    slack.wait_for(
        lambda: store.cases.case_view(1).status is CaseStatus.CHECKING and store.card_posts.card_location(1),
        timeout=20,
    )
    assert len(graph.submissions) == 1
    lives.kill()

    lives.start()
    wait_until_done(slack, store)
    lives.stop()

    assert_each_case_told_once(slack, graph, store)
    assert slack.messages(SOC)[0].updates >= 1


# --- during the verdict ------------------------------------------------------------------------------------------


def read_in_flight(slack, graph, read: Hold) -> Callable[[], object]:
    return read.arrived.is_set  # the verdict read itself: never answered


def card_edit_in_flight(slack, graph, read: Hold) -> Callable[[], object]:
    before = calls_to(slack, "chat.update")
    slack.fail_next("chat.update", status=500, delay=HELD)
    return lambda: calls_to(slack, "chat.update") > before


def outcome_in_flight(slack, graph, read: Hold) -> Callable[[], object]:
    slack.fail_next("chat.postMessage", status=500, delay=HELD)
    return lambda: slack.calls_to("chat.postMessage")[-1].args.get("channel") != SOC


@pytest.mark.slow
@pytest.mark.parametrize(
    "hold",
    [pytest.param(read_in_flight, marks=sqlite_pass_only), card_edit_in_flight, outcome_in_flight],
    ids=lambda f: f.__name__,
)
def test_kill_9_during_the_verdict_edits_the_card_once_and_tells_the_reporter_once(
    lives, slack, graph, store, hold
):
    graph.verdict_after = 3600.0  # final only when the test settles it
    lives.start()
    slack.upload_file(ALICE, INTAKE, "report.eml", SAMPLE)
    slack.wait_for(
        lambda: (
            store.cases.case_view(1).status is CaseStatus.CHECKING
            and store.card_posts.card_location(1)
            and not store.card_posts.dirty_cards()
        ),
        timeout=20,
    )
    # The next verdict read is held: while it is, nothing else happens to the case, so the next card edit and
    # the next message are the verdict's.
    read = Hold("fail" if hold is read_in_flight else "pass")
    graph.add_route(VERDICT_READ, read)
    slack.wait_for(read.arrived.is_set, timeout=20)
    in_flight = hold(slack, graph, read)
    graph.settle()
    if hold is not read_in_flight:
        read.release()
    slack.wait_for(in_flight, timeout=20)
    lives.kill()
    read.release()
    assert not slack.dms(ALICE)

    lives.start()
    wait_until_done(slack, store)
    lives.stop()

    assert_each_case_told_once(slack, graph, store)
    assert len(posts_to_microsoft(graph)) == 1


# --- during a purge --------------------------------------------------------------------------------------------


def hunting_requests(graph) -> int:
    return len([r for r in graph.requests if r.path.endswith("/runHuntingQuery")])


def finding_copies(slack, graph, holds: list[Hold]) -> Callable[[], object]:
    # The purge is recorded, the copies are being looked for (advanced hunting): none is known yet.
    before = hunting_requests(graph)
    graph.fail_next(HUNTING, status=503, delay=HELD)
    return lambda: hunting_requests(graph) > before


def remediate_in_flight(slack, graph, holds: list[Hold]) -> Callable[[], object]:
    graph.fail_next(REMEDIATE, status=503, delay=HELD)
    return lambda: [r for r in graph.requests if r.path.endswith("/remediate")]


def mailbox_moves_in_flight(slack, graph, holds: list[Hold]) -> Callable[[], object]:
    graph.fail_next(REMEDIATE, status=403)  # no Defender for Office 365 Plan 2: the mailbox API does it
    moves = Hold("fail", when=lambda request: "/move" in json.dumps(request.body))
    graph.add_route("POST /v1.0/$batch", moves)
    holds.append(moves)
    return moves.arrived.is_set


@pytest.mark.slow
@pytest.mark.parametrize(
    "hold",
    [
        finding_copies,
        pytest.param(remediate_in_flight, marks=sqlite_pass_only),
        pytest.param(mailbox_moves_in_flight, marks=sqlite_pass_only),
    ],
    ids=lambda f: f.__name__,
)
def test_kill_9_during_a_purge_finishes_it_once_after_a_restart(lives, slack, graph, store, hold):
    defender = DefenderTenant(remediation_after=0.3).attach(graph)
    defender.deliver(MESSAGE_ID, sender=SENDER, subject=SUBJECT, recipients=RECIPIENTS)
    lives.start()
    slack.upload_file(ALICE, INTAKE, "report.eml", SAMPLE)
    slack.wait_for(lambda: store.cases.case_view(1).status is CaseStatus.VERDICT, timeout=20)
    card = slack.wait_for(lambda: [m for m in slack.messages(SOC) if ActionId.PURGE in str(m.blocks)])[0]
    slack.click(RESPONDER, ActionId.PURGE, "1", card)
    view = slack.wait_for(lambda: purge_modal(slack))

    holds: list[Hold] = []
    in_flight = hold(slack, graph, holds)
    values = slack.state_values(view["id"], {"scope": "message", "action": "softDelete"})
    slack.submit_view(RESPONDER, view["id"], values)
    slack.wait_for(in_flight, timeout=20)
    lives.kill()
    for held in holds:
        held.release()
    assert store.cases.case_view(1).remediation.state in (RemediationState.FINDING, RemediationState.RUNNING)

    lives.start()
    remediation = slack.wait_for(
        lambda: (
            (r := store.cases.case_view(1).remediation) is not None and r.state is RemediationState.DONE and r
        ),
        timeout=60,
    )
    slack.wait_for(lambda: f"{len(RECIPIENTS)} of {len(RECIPIENTS)} removed" in card_text(slack), timeout=30)
    lives.stop()

    assert (remediation.done, remediation.total) == (len(RECIPIENTS), len(RECIPIENTS))
    copies = defender.copies(MESSAGE_ID)
    assert sorted(copies) == sorted(RECIPIENTS)
    assert all(folders == ["recoverableitemsdeletions"] for folders in copies.values())
    if remediation.method == "defender":
        assert len(defender.remediations) == 1  # one remediation at Microsoft
        assert sorted(r for _action, _nmid, r in defender.remediated_pairs()) == sorted(RECIPIENTS)
    else:
        moved = [r for r in graph.batch_requests() if r.path.endswith("/move") and r.status == 201]
        assert len(moved) == len(RECIPIENTS)  # each copy moved once
    assert len(slack.messages(SOC)) == 1 and len(soc_posts(slack)) == 1
    done = [e for e in store.audit.entries(1) if (e["action"], e["outcome"]) == ("report.purge", "done")]
    assert len(done) == 1


def purge_modal(slack) -> dict | None:
    for entry in list(slack.views.values()):
        view = entry["view"]
        if entry["user"] == RESPONDER and entry["open"] and view["callback_id"] == ModalCallback.PURGE:
            if "scope" in json.dumps(view["blocks"]):
                return view
    return None


def card_text(slack) -> str:
    [card] = slack.messages(SOC)
    return json.dumps(card.blocks)


# --- the database restarted under load ---------------------------------------------------------------------------

REPORTS = 20


class ThrowawayPostgres:
    """A PostgreSQL cluster of the test's own (initdb, as .ci/start-postgres does), so restarting it disturbs no
    other test."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version_key)
        if not found:
            pytest.skip(
                "no PostgreSQL server binaries (/usr/lib/postgresql/*/bin; .ci/start-postgres installs them)"
            )
        self._bin = Path(found[-1]).parent
        self.port = free_port()
        self._home = Path(tempfile.mkdtemp(prefix="phishbot-pg-restart-"))
        self._data = self._home / "data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = " ".join(shlex.quote(a) for a in args)
        if os.geteuid() == 0:  # initdb refuses root; the Debian package made the postgres user
            shutil.chown(self._home, "postgres", "postgres")
            command_line = ["su", "postgres", "-s", "/bin/sh", "-c", command]
        else:
            command_line = ["/bin/sh", "-c", command]
        subprocess.run(command_line, check=True, capture_output=True, timeout=120)

    def start(self) -> ThrowawayPostgres:
        self._run(
            str(self._bin / "initdb"), "-D", str(self._data), "-A", "trust", "-U", "postgres", "--no-sync"
        )
        self._pg_ctl("start")
        return self

    def restart(self) -> None:
        self._pg_ctl("restart", "-m", "fast")

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self._home} -c fsync=off"
        self._run(
            str(self._bin / "pg_ctl"), "-D", str(self._data), "-l", str(self._home / "server.log"), "-w",
            action, *extra, "-o", options,
        )  # fmt: skip

    def stop(self) -> None:
        try:
            self._run(str(self._bin / "pg_ctl"), "-D", str(self._data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self._home, ignore_errors=True)


def _version_key(path: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path))


@pytest.fixture
def restartable_postgres():
    if suite_database() != "postgresql":
        pytest.skip("runs in the PostgreSQL pass (PHISHBOT_TEST_DATABASE=postgresql; .ci/run does both)")
    server = ThrowawayPostgres().start()
    yield server
    server.stop()


def in_progress(card_text: str) -> bool:
    return "Sending to Microsoft" in card_text or "Microsoft is analysing" in card_text


def report(slack, number: int) -> None:
    reporter = (ALICE, BOB)[number % 2]
    if number % 4 == 3:
        slack.slash_command(reporter, f"https://login-micros0ft.example/pg-{number}", channel_id=INTAKE)
    else:
        raw = SAMPLE.replace(b"Message-ID: <", f"Message-ID: <pg-restart-{number}-".encode())
        slack.upload_file(reporter, INTAKE, f"report-{number}.eml", raw)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_postgresql_restarted_under_load_every_case_completes_once(
    slack, graph, tls, tmp_path, restartable_postgres
):
    url = restartable_postgres.url
    migrate_first(url)
    lives = Lives(slack, bot_environment(slack, graph, tls, url), tmp_path)
    store = open_store(url)
    try:
        lives.start()
        restart = threading.Thread(target=restartable_postgres.restart, name="pg_ctl restart")
        for number in range(REPORTS):
            if number == REPORTS // 3:
                restart.start()  # while the reports before it are being worked on, and the next ones arrive
            report(slack, number)
            time.sleep(0.1)
        restart.join(timeout=60)
        slack.wait_for(
            lambda: (
                len(slack.dms(ALICE)) + len(slack.dms(BOB)) == REPORTS
                and len([m for m in slack.messages(SOC) if not in_progress(m.text)]) == REPORTS
            ),
            timeout=120,
        )
        assert lives.current.role() == "leader"  # the scheduler's lock session died with the server; retaken
        lives.stop()
    finally:
        lives.close()

    with store.database.engine.connect() as connection:
        statuses = [r[0] for r in connection.exec_driver_sql("SELECT status FROM cases").all()]
    store.database.close()
    assert statuses == [CaseStatus.VERDICT.value] * REPORTS
    assert len(graph.submissions) == REPORTS  # one each, none twice
    assert len(slack.messages(SOC)) == REPORTS  # one card each
    assert not [m for m in slack.messages(SOC) if in_progress(m.text)]
    assert len(slack.dms(ALICE)) == REPORTS // 2 and len(slack.dms(BOB)) == REPORTS // 2
