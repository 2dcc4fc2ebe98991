"""Ack latency, open loop: phishbot against a bare default Bolt app, HTTP and Socket Mode, SQLite and PostgreSQL.

Requests arrive at a fixed rate (20, 50, 100, 200 a second by default), each a distinct real report: request i
is due at t0 + i/rate and goes out then, whatever became of the earlier ones (a scheduler thread hands it to a
pool of sender threads; if every sender is busy it waits in the pool's queue). **Latency is from the scheduled
send time to the answer**: to the last byte of the HTTP response, or to the moment the Socket Mode emulator read
the envelope's ack. So a late answer delays nothing that follows it, and queueing in the generator is counted
against the app, never hidden.

Every request is a report phishbot really carries out after its ack, in the same process as its acks:
`/report-phish https://<unique>.phish.example/…` slash commands (a fresh trigger_id each: the inbox's key), and
a share (--uploads) of distinct .eml files dropped into the intake channel (`file_share` events, a fresh event id
each): each opens a case, posts its card, tells the reporter and is submitted to the Graph emulator. Before the
next measurement the bench waits until every report of the last one has reached Microsoft ("work done" in the
table: seconds after the last request, waited for up to --drain seconds; "> limit": the next measurement began
with that work still going, which only the highest rate, measured last, should see).

The baseline is a *default* Bolt `App` (process_before_response=False, its default listener executor) whose
listeners only ack. Over HTTP both are served by the same stack (waitress via bot.runtime.web, Bolt's WSGI
adapter), each in a process of its own, kept-alive connections from the generator. In Socket Mode the baseline
is Bolt's own SocketModeHandler (slack-sdk's built-in client) and phishbot has its own connections
(bot/runtime/socket_mode.py, PHISHBOT_SOCKET_CONNECTIONS=2), each app against a Socket Mode emulator of its own
(bot/sandbox/socket_mode.py). The emulators (Slack, Socket Mode, Graph) and the generator share this process.

Both apps are measured in the same run, in alternating rounds (--rounds; the order flips each round, so drift
on the machine hits both); a rate's figures pool every round's requests. Budget (issue 12): phishbot's p99 at
most 0.5x the bare app's, no answer over 3 s; goal beyond that: p50 <= 2 ms.

Run: `python -m bench.ack` (or `make bench`). Options: --rates, --seconds per app per rate per round, --rounds,
--modes http,socket, --uploads (share of .eml uploads), --postgres-url (a server whose admin URL may create a
database: one is created for the run, migrated, and dropped; without it PostgreSQL is skipped, and said so).
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import multiprocessing
import os
import queue
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from bench.common import INTAKE, REPORTER, bot_environment, percentile, start_phishbot, workspace
from bot.runtime.web import Health, WebServer, make_wsgi_app
from bot.sandbox.graph_emulator import GraphEmulator
from bot.sandbox.slack_emulator import SlackEmulator
from bot.sandbox.socket_mode import EVENTS_API, SLASH_COMMANDS, SocketModeEmulator
from bot.sandbox.tls import TlsMaterial, make_tls
from bot.store.database import Database

BUDGET = 0.5  # phishbot's p99 at most this times the bare app's
DEADLINE = 3.0  # seconds Slack waits for an ack
P50_GOAL_MS = 2.0
APP_TOKEN = "xapp-1-A0PHISHBOT-bench-app-token"
SENDERS = 64
APPS = ("bare Bolt", "phishbot")


# --- the open-loop generator ---------------------------------------------------------------------------------


@dataclass
class Request:
    """One request as Slack would send it: the HTTP body and headers (Socket Mode sends the same as an envelope)."""

    body: bytes
    headers: dict[str, str]

    @property
    def is_event(self) -> bool:
        return self.headers.get("Content-Type", "").startswith("application/json")


# A sender sends one request and returns when its answer arrived (time.monotonic()), or None for no answer.
Send = Callable[[Request], float | None]


@dataclass
class Run:
    """One app at one rate: latencies in ms from each request's scheduled time, and the requests unanswered."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    def add(self, other: Run) -> None:
        self.latencies.extend(other.latencies)
        self.errors += other.errors


def open_loop(send: Send, requests: list[Request], rate: float, *, senders: int = SENDERS) -> Run:
    """Send REQUESTS at RATE a second on a fixed schedule, whatever the answers; latency from each scheduled time."""
    answers: list[float | None] = [None] * len(requests)
    due: queue.SimpleQueue[tuple[int, float] | None] = queue.SimpleQueue()

    def sender() -> None:
        while (item := due.get()) is not None:
            number, scheduled = item
            try:
                answered = send(requests[number])
            except Exception:  # an error is counted, never raised: the schedule goes on
                answered = None
            answers[number] = None if answered is None else (answered - scheduled) * 1000

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(min(senders, len(requests)))]
    for thread in threads:
        thread.start()
    start = time.monotonic() + 0.05
    for number in range(len(requests)):
        scheduled = start + number / rate
        delay = scheduled - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        due.put((number, scheduled))
    for _ in threads:
        due.put(None)
    for thread in threads:
        thread.join()
    run = Run()
    for latency in answers:
        if latency is None:
            run.errors += 1
        else:
            run.latencies.append(latency)
    return run


def http_sender(port: int) -> Send:
    """POST to 127.0.0.1:PORT/slack/events, one kept-alive connection per sender thread (as Slack keeps them)."""
    local = threading.local()

    def send(request: Request) -> float | None:
        for attempt in range(2):
            connection = getattr(local, "connection", None)
            if connection is None:
                connection = local.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                connection.request("POST", "/slack/events", body=request.body, headers=request.headers)
                response = connection.getresponse()
                response.read()
                answered = time.monotonic()
            except (OSError, http.client.HTTPException):
                connection.close()
                local.connection = None
                if attempt:
                    return None
                continue
            return answered if response.status == 200 else None
        return None

    return send


def socket_sender(socket_mode: SocketModeEmulator) -> Send:
    """Deliver as a Socket Mode envelope; answered when the emulator read the ack."""

    def send(request: Request) -> float | None:
        if request.is_event:
            delivery = socket_mode.deliver(EVENTS_API, json.loads(request.body))
        else:
            fields = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
            delivery = socket_mode.deliver(SLASH_COMMANDS, fields)
        return delivery.acked_at if delivery.acked else None

    return send


# --- the reports -----------------------------------------------------------------------------------------------

EML = """\
From: "IT Service Desk" <servicedesk@contoso-support.example>
To: reporter@contoso.example
Subject: Your mailbox is almost full ({tag})
Message-ID: <{tag}@contoso-support.example>
Date: Mon, 3 Mar 2025 09:14:00 +0000
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Your mailbox has reached 98% of its quota. Keep your messages:
https://{tag}.quota.phish.example/keep?user=reporter
"""


def reports(slack: SlackEmulator, count: int, uploads: float) -> list[Request]:
    """COUNT distinct signed reports: slash commands with a URL of their own, every 1/UPLOADS-th an .eml upload."""
    every = round(1 / uploads) if uploads > 0 else 0
    built = []
    for number in range(count):
        tag = uuid.uuid4().hex[:12]
        if every and number % every == every - 1:
            body, headers = slack.prepared_upload(
                REPORTER, INTAKE, f"mailbox-{tag}.eml", EML.format(tag=tag).encode()
            )
        else:
            body, headers = slack.prepared_request(
                "command", REPORTER, text=f"https://{tag}.phish.example/login", channel_id=INTAKE
            )
        built.append(Request(body, headers))
    return built


# --- the bare default Bolt app ---------------------------------------------------------------------------------


def bare_app(bot_token: str, signing_secret: str | None, api_url: str) -> App:
    """A default Bolt app (process_before_response=False, the default listener executor), listeners that only
    ack: the slash command, and the `message` events an upload brings (acked by Bolt itself)."""
    app = App(
        client=WebClient(token=bot_token, base_url=api_url),
        signing_secret=signing_secret,
        token_verification_enabled=False,
        request_verification_enabled=signing_secret is not None,
    )

    @app.command("/report-phish")
    def on_command(ack) -> None:
        ack()

    @app.event("message")
    def on_message() -> None:
        pass

    return app


def serve_bare_app(ports, mode: str, bot_token: str, signing_secret: str, api_url: str) -> None:
    """The baseline's process: over HTTP, the same waitress + WSGI stack as phishbot; in Socket Mode, Bolt's
    SocketModeHandler. Until terminated."""
    logging.basicConfig(level=logging.CRITICAL)
    if mode == "http":
        app = bare_app(bot_token, signing_secret, api_url)
        server = WebServer(
            make_wsgi_app(SlackRequestHandler(app), Health({})), host="127.0.0.1", port=0
        ).start()
        ports.put(server.port)
    else:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        SocketModeHandler(bare_app(bot_token, None, api_url), APP_TOKEN).connect()
        ports.put(0)
    threading.Event().wait()


def start_bare_app(mode: str, slack: SlackEmulator) -> tuple[multiprocessing.Process, int]:
    context = multiprocessing.get_context("spawn")
    ports = context.Queue()
    process = context.Process(
        target=serve_bare_app,
        args=(ports, mode, slack.bot_token, slack.signing_secret, slack.api_url),
        name="bare-bolt",
        daemon=True,
    )
    process.start()
    return process, ports.get(timeout=60)


# --- one arena: a mode and a database, both apps ----------------------------------------------------------------


@dataclass
class Row:
    mode: str
    database: str
    rate: float
    runs: dict[str, Run]
    work_done: float | None  # worst seconds after a phishbot measurement until every report reached Microsoft
    load: float


@dataclass
class Side:
    """One app as the generator sees it: where its reports are built and how they are sent."""

    slack: SlackEmulator
    send: Send


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh database on the server of ADMIN_URL, migrated; dropped afterwards."""
    name = f"phishbot_ackbench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        database = Database(url)
        database.migrate()
        database.engine.dispose()
        yield url
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def wait_submitted(graph: GraphEmulator, count: int, limit: float) -> float | None:
    """Seconds until the Graph emulator holds COUNT submissions (None: not within LIMIT seconds)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if len(graph.submissions) >= count:
            return time.monotonic() - started
        time.sleep(0.05)
    return None


def slack_emulators(mode: str) -> tuple[SlackEmulator, SocketModeEmulator | None]:
    slack = SlackEmulator(app_token=APP_TOKEN, validate_blocks=False).start()
    workspace(slack)
    if mode == "http":
        return slack, None
    socket_mode = SocketModeEmulator(server_ping_timeout=600.0).start()
    socket_mode.attach(slack)
    return slack, socket_mode


def arena(
    mode: str,
    database: str,
    database_url: str | None,
    args: argparse.Namespace,
    workdir: Path,
    tls: TlsMaterial,
) -> list[Row]:
    graph = GraphEmulator(tls, verdict_after=3600).start()
    bot_slack, bot_socket = slack_emulators(mode)
    bare_slack, bare_socket = slack_emulators(mode)
    environment = bot_environment(
        bot_slack,
        graph,
        tls,
        workdir,
        mode=mode,
        database_url=database_url,
        app_token=APP_TOKEN if mode == "socket" else None,
    )
    name = f"phishbot-{mode}-{database}"
    phishbot, port = start_phishbot(environment, workdir, name)
    bare, bare_port = start_bare_app(mode, bare_slack)
    try:
        if bot_socket is not None and bare_socket is not None:
            bot_socket.wait_for_connections(2, timeout=30)
            bare_socket.wait_for_connections(1, timeout=30)
            sides = {
                "bare Bolt": Side(bare_slack, socket_sender(bare_socket)),
                "phishbot": Side(bot_slack, socket_sender(bot_socket)),
            }
        else:
            sides = {
                "bare Bolt": Side(bare_slack, http_sender(bare_port)),
                "phishbot": Side(bot_slack, http_sender(port)),
            }
        submitted = 0

        def measure(app: str, rate: float, seconds: float) -> tuple[Run, float | None]:
            nonlocal submitted
            side = sides[app]
            count = max(1, round(rate * seconds))
            run = open_loop(side.send, reports(side.slack, count, args.uploads), rate)
            if app != "phishbot":
                return run, None
            submitted += count - run.errors
            return run, wait_submitted(graph, submitted, args.drain)

        # Warm both (imports, Bolt's first auth.test, the database's first writes, the connections) at the lowest
        # rate, then let phishbot's work finish.
        for app in APPS:
            measure(app, min(args.rates), args.warmup)
        rows = []
        for rate in args.rates:
            load = os.getloadavg()[0]
            pooled = {app: Run() for app in APPS}
            work_done: float | None = 0.0
            for round_number in range(args.rounds):
                order = APPS if round_number % 2 == 0 else APPS[::-1]
                for app in order:
                    run, drained = measure(app, rate, args.seconds)
                    pooled[app].add(run)
                    if app == "phishbot":
                        work_done = None if drained is None or work_done is None else max(work_done, drained)
            rows.append(Row(mode, database, rate, pooled, work_done, load))
            print(f"  {mode} {database} {rate:g}/s: {line(rows[-1])}", flush=True)
        return rows
    finally:
        phishbot.terminate()
        phishbot.wait(timeout=60)
        bare.terminate()
        bare.join(timeout=10)
        for emulator in (bot_socket, bare_socket, bot_slack, bare_slack, graph):
            if emulator is not None:
                emulator.stop()


# --- the table ------------------------------------------------------------------------------------------------


def figures(row: Row) -> tuple[float, float, float, float, float, float, int, int]:
    bare, bot = row.runs["bare Bolt"], row.runs["phishbot"]
    bare_p99, bot_p99 = percentile(bare.latencies, 99), percentile(bot.latencies, 99)
    late = sum(1 for run in (bare, bot) for latency in run.latencies if latency > DEADLINE * 1000)
    return (
        percentile(bare.latencies, 50),
        bare_p99,
        percentile(bot.latencies, 50),
        bot_p99,
        bot_p99 / bare_p99 if bare_p99 else float("inf"),
        max(bare.latencies + bot.latencies, default=float("nan")),
        late,
        bare.errors + bot.errors,
    )


HEADER = (
    f"{'mode':<6} {'db':<10} {'rate':>6} | {'bare p50':>8} {'bare p99':>8} | {'bot p50':>8} {'bot p99':>8} | "
    f"{'p99 ratio':>9} | {'max':>7} {'>3 s':>4} {'errors':>6} | {'work done':>9} | {'n':>5} {'load':>4}"
)


def line(row: Row) -> str:
    bare_p50, bare_p99, bot_p50, bot_p99, ratio, worst, late, errors = figures(row)
    work = f"{row.work_done:.1f} s" if row.work_done is not None else "> limit"
    count = len(row.runs["phishbot"].latencies) + row.runs["phishbot"].errors
    return (
        f"{bare_p50:>6.2f}ms {bare_p99:>6.2f}ms | {bot_p50:>6.2f}ms {bot_p99:>6.2f}ms | {ratio:>8.2f}x | "
        f"{worst:>5.0f}ms {late:>4} {errors:>6} | {work:>9} | {count:>5} {row.load:>4.2f}"
    )


def report_table(rows: list[Row]) -> None:
    print(HEADER)
    for row in rows:
        print(f"{row.mode:<6} {row.database:<10} {row.rate:>4g}/s | {line(row)}")
    ratios = [(figures(row)[4], row) for row in rows]
    worst_ratio, worst_row = max(ratios, key=lambda pair: pair[0])
    within = sum(1 for ratio, _ in ratios if ratio <= BUDGET)
    late = sum(figures(row)[6] for row in rows)
    errors = sum(figures(row)[7] for row in rows)
    p50_met = sum(1 for row in rows if figures(row)[2] <= P50_GOAL_MS)
    print(
        f"summary: p99 phishbot/bare Bolt {min(r for r, _ in ratios):.2f}-{worst_ratio:.2f}x over {len(rows)} runs, "
        f"{within} of {len(rows)} within the {BUDGET}x budget (worst: {worst_row.mode} {worst_row.database} "
        f"{worst_row.rate:g}/s); {late} answers over {DEADLINE:g} s, {errors} errors; phishbot p50 <= "
        f"{P50_GOAL_MS:g} ms in {p50_met} of {len(rows)} (goal) — "
        f"{'meets' if within == len(rows) and late == 0 and errors == 0 else 'MISSES'} issue 12"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rates", default="20,50,100,200", help="requests per second")
    parser.add_argument("--seconds", type=float, default=2.0, help="per app, per rate, per round")
    parser.add_argument(
        "--rounds", type=int, default=2, help="measured rounds per rate, alternating the order"
    )
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up per app")
    parser.add_argument(
        "--drain",
        type=float,
        default=15.0,
        help="seconds to wait for phishbot's work after each of its runs (then the next run starts anyway)",
    )
    parser.add_argument("--modes", default="http,socket", help="http, socket or both")
    parser.add_argument("--uploads", type=float, default=0.2, help="share of .eml uploads among the reports")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("PHISHBOT_BENCH_POSTGRES_URL"),
        help="a PostgreSQL server (SQLAlchemy URL) where a database may be created; default "
        "$PHISHBOT_BENCH_POSTGRES_URL",
    )
    args = parser.parse_args(argv)
    args.rates = [float(r) for r in args.rates.split(",")]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not set(modes) <= {"http", "socket"}:
        parser.error("--modes takes http and/or socket")
    logging.basicConfig(level=logging.ERROR)
    # The emulators' threads and the senders share this interpreter: let a thread with an answer to time-stamp
    # have the GIL sooner than every 5 ms.
    sys.setswitchinterval(0.0005)
    if args.postgres_url is None:
        print("PostgreSQL skipped: no --postgres-url (or $PHISHBOT_BENCH_POSTGRES_URL) given")
    started = time.monotonic()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="phishbot-bench-") as tmp:
        workdir = Path(tmp)
        tls = make_tls(workdir / "tls")
        for mode in modes:
            rows += arena(mode, "sqlite", f"sqlite:///{workdir / f'{mode}.db'}", args, workdir, tls)
            if args.postgres_url:
                with postgres_database(args.postgres_url) as url:
                    rows += arena(mode, "postgresql", url, args, workdir, tls)
    print(
        f"\n== open-loop ack latency, ms from the scheduled send to the answer; {args.rounds} rounds of "
        f"{args.seconds:g} s per app and rate, pooled; {args.uploads:.0%} .eml uploads, the rest /report-phish "
        f"<url>; load = 1-minute load average at the rate's start; {time.monotonic() - started:.0f} s in all"
    )
    report_table(rows)
    with suppress(Exception):
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
