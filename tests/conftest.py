"""Shared fixtures: the database (SQLite, or PostgreSQL for the whole suite), TLS, the emulators, a bot.

The suite runs on one database at a time: SQLite by default; PostgreSQL with PHISHBOT_TEST_DATABASE=postgresql
and PHISHBOT_TEST_POSTGRES_URL naming a server where each test gets a database of its own (`.ci/run` starts one
and runs `make test` both ways). Tests that need several processes on one database (replicas) run in the
PostgreSQL pass only.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import uuid

import pytest

# Tests talk to loopback emulators only; a proxy from the environment must never see that traffic.
for _proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_proxy, None)
os.environ["NO_PROXY"] = "127.0.0.1,localhost"

POSTGRES_ENV = "PHISHBOT_TEST_POSTGRES_URL"

# Distinctive credentials for the emulators: after every test, and over the whole run's log, none may appear
# where it does not belong (what the bot sent to Slack, the database, any log line).
BOT_TOKEN = "xoxb-d1st1nct1ve-b0t-t0ken-8c1f"
SIGNING_SECRET = "d1st1nct1ve-s1gn1ng-secret-77aa"
CLIENT_SECRET = "d1st1nct1ve-cl1ent-secret-5e2b"
APP_TOKEN = "xapp-1-A0PHISHBOT-d1st1nct1ve-app-t0ken-3f9c"
# The in-process bot's clock runs this many times faster than real time (poll gaps, verdict times, card-edit
# intervals): what a test waits for comes sooner, in the same order.
CLOCK_PACE = 4.0
ISSUED_TOKENS: set[str] = set()


def assert_no_secret(text: str, where: str) -> None:
    for secret in (BOT_TOKEN, SIGNING_SECRET, CLIENT_SECRET, APP_TOKEN, *ISSUED_TOKENS):
        assert secret not in text, f"a credential ({secret[:6]}…) appears in {where}"


def database_text(database_url: str) -> str:
    """Every row of every table, as text (to look for credentials in plain columns)."""
    from sqlalchemy import create_engine

    # The models' tables, not a reflection of the database, read through the driver's cursor, not SQLAlchemy's
    # typed results: this runs after every bot test, and reflecting and typing cost a sixth of a flow test's CPU.
    # tests/unit/store checks the models and the migrations agree.
    from bot.store.models import Base

    engine = create_engine(database_url)
    try:
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            rows = []
            for table in Base.metadata.sorted_tables:
                cursor.execute(f'SELECT * FROM "{table.name}"')
                rows.extend(repr(row) for row in cursor.fetchall())
            return "\n".join(rows)
        finally:
            connection.close()
    finally:
        engine.dispose()


class _LogCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:
            pass


@pytest.fixture(scope="session", autouse=True)
def no_credential_in_any_log_line():
    collector = _LogCollector()
    collector.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(collector)
    root.setLevel(min(previous, logging.INFO) if previous else logging.INFO)
    yield
    root.removeHandler(collector)
    root.setLevel(previous)
    assert_no_secret("\n".join(collector.lines), f"the log ({len(collector.lines)} lines)")


# The property tests' budget. `make test` (and so .ci/run, both passes) runs each with its full count of examples;
# `make test-fast` sets PHISHBOT_TEST_EXAMPLES=quick, a quarter of them (at least 20): the same properties, a
# shallower search, for the loop of editing and testing.
EXAMPLES_ENV = "PHISHBOT_TEST_EXAMPLES"


def examples(full: int) -> int:
    """How many examples a property test tries in this run: `full`, or a quarter of it in a quick run."""
    budget = os.environ.get(EXAMPLES_ENV, "full").strip().lower() or "full"
    if budget not in ("full", "quick"):
        raise pytest.UsageError(f"{EXAMPLES_ENV} must be full or quick, not {budget!r}")
    return full if budget == "full" else min(full, max(20, full // 4))


DATABASE_ENV = "PHISHBOT_TEST_DATABASE"


def suite_database() -> str:
    """The database this run of the suite uses: "sqlite" or "postgresql"."""
    kind = os.environ.get(DATABASE_ENV, "sqlite").strip().lower() or "sqlite"
    if kind not in ("sqlite", "postgresql"):
        raise pytest.UsageError(f"{DATABASE_ENV} must be sqlite or postgresql, not {kind!r}")
    if kind == "postgresql" and not os.environ.get(POSTGRES_ENV):
        raise pytest.UsageError(
            f"{DATABASE_ENV}=postgresql needs {POSTGRES_ENV}, e.g. postgresql+psycopg://postgres@127.0.0.1:54329/postgres"
            " (.ci/start-postgres starts a server and prints it)"
        )
    return kind


# The tiers (README, "Tests"): unit tests of one subpackage, in-process flows (the real app and runtime in this
# process against the emulators), and system tests of whole processes (subprocesses, kill -9, replicas, a
# PostgreSQL restart). A test's tier comes from its folder; `make test-fast` runs the first two.
TIERS = ("unit", "flow", "system")


def pytest_collection_modifyitems(config, items):
    # Longest first: whole processes, then flows, then the many short unit tests, so the workers finish
    # together instead of one of them starting a 10 s kill -9 test at the end.
    rank = {"system": 0, "flow": 1, "unit": 2}
    items.sort(key=lambda item: rank.get(_tier(config, item) or "unit", 2))
    for item in items:
        tier = _tier(config, item)
        if tier is not None:
            item.add_marker(getattr(pytest.mark, tier))
        # A test that uses no database says the same on SQLite and PostgreSQL: the PostgreSQL pass
        # (`make test PYTEST_ARGS="-m database"`) runs only the tests that do.
        if {"database_url", "postgres_url"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.database)


def _tier(config, item) -> str | None:
    parts = item.path.relative_to(config.rootpath).parts
    return parts[1] if len(parts) > 2 and parts[0] == "tests" and parts[1] in TIERS else None


def pytest_report_header(config):
    return f"database: {suite_database()}"


@pytest.fixture
def database_url(tmp_path):
    """A fresh, empty database of the suite's kind."""
    if suite_database() == "sqlite":
        yield f"sqlite:///{tmp_path / 'phishbot.db'}"
        return
    yield from _postgres_database()


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL database, for tests of several replicas; they run in the PostgreSQL pass only."""
    if suite_database() != "postgresql":
        pytest.skip(f"runs in the PostgreSQL pass ({DATABASE_ENV}=postgresql; .ci/run does both)")
    yield from _postgres_database()


def _postgres_database():
    name = "phishbot_test_" + uuid.uuid4().hex[:12]
    url = _create_postgres_database(name)
    try:
        yield url
    finally:
        _drop_postgres_database(name)


def _create_postgres_database(name: str) -> str:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    base = os.environ[POSTGRES_ENV]
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def _drop_postgres_database(name: str) -> None:
    from sqlalchemy import create_engine

    admin = create_engine(os.environ[POSTGRES_ENV], isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


# --- the emulators and the bot ----------------------------------------------------------------------------------

SOC = "C0SOC0001"
INTAKE = "C0INTAKE01"
ALICE = "U0ALICE01"
BOB = "U0BOB0001"
RESPONDER = "U0SAMSOC1"
OUTSIDER = "U0EVE0001"
RESPONDER_GROUP = "S0SECOPS01"
EMAILS = {
    ALICE: "alice@contoso.example",
    BOB: "bob@contoso.example",
    RESPONDER: "sam@contoso.example",
    OUTSIDER: "eve@contoso.example",
}


@pytest.fixture(scope="session")
def tls(tmp_path_factory):
    from bot.sandbox.tls import make_tls

    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def clock():
    """The bot's clock, which the Graph emulator's verdicts follow too: a test that skips a poll gap skips the
    wait for Microsoft with it. Real time flows underneath (the emulators and the bot's threads live in it); the
    Graph client's back-off and Retry-After waits move the clock instead of being waited out. It runs CLOCK_PACE
    times faster than real time: a first verdict check one clock second after the submission comes a quarter of
    a real second later, not a whole one."""
    return suite_clock()


def suite_clock():
    """The clock the `clock` fixture gives, for a RunningBot started without one."""
    from bot.sandbox.clock import FakeClock

    return FakeClock(following_real_time=True, skip_waits=True, pace=CLOCK_PACE)


@pytest.fixture
def graph_tenant(tls, clock):
    """The Graph emulator, and the Report button of its tenant's mail clients (as every Microsoft 365 tenant has)."""
    from graph_schema import validate_graph_request

    from bot.sandbox.graph_emulator import GraphEmulator
    from bot.sandbox.user_reports import ReportButton

    emulator = GraphEmulator(
        tls,
        verdict_after=0.3,
        request_validator=validate_graph_request,
        client_secret=CLIENT_SECRET,
        clock=clock.monotonic,
    ).start()
    button = ReportButton().attach(emulator)
    yield emulator, button
    emulator.stop()
    ISSUED_TOKENS.update(emulator.issued_tokens)
    assert emulator.validation_errors == [], "requests that do not match the Graph schema were sent"


@pytest.fixture
def graph(graph_tenant):
    return graph_tenant[0]


@pytest.fixture
def report_button(graph_tenant):
    """Employees press Report in Outlook: `report_button.press(mailbox, mime)` (bot.sandbox.user_reports)."""
    return graph_tenant[1]


@pytest.fixture
def slack():
    from bot.sandbox.slack_emulator import SlackEmulator

    emulator = SlackEmulator(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, app_token=APP_TOKEN).start()
    for user_id, email in EMAILS.items():
        emulator.add_user(user_id, name=email.split("@")[0], email=email)
    emulator.add_user("U0GUEST01", name="guest")
    emulator.add_usergroup(RESPONDER_GROUP, [RESPONDER])
    emulator.add_channel(SOC, "security-ops", members=[RESPONDER])
    emulator.add_channel(INTAKE, "phish-reports", members=[ALICE, BOB, OUTSIDER, "U0GUEST01"])
    yield emulator
    emulator.stop()
    assert emulator.invalid_block_errors == [], "blocks Slack would reject were sent"
    said = json.dumps(
        [c.args for c in emulator.calls] + emulator.responses + emulator.ephemerals, default=str
    )
    assert_no_secret(said, "what the bot sent to Slack")


def bot_environment(slack, graph, tls, database_url: str, **overrides: object) -> dict[str, str]:
    """The environment `phishbot run` needs to serve against the emulators (HTTP mode)."""
    values = {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "SLACK_API_URL": slack.api_url,
        "PHISHBOT_MODE": "http",
        "PORT": "0",
        "PHISHBOT_SOC_CHANNEL": SOC,
        "PHISHBOT_INTAKE_CHANNELS": INTAKE,
        "PHISHBOT_RESPONDERS": RESPONDER_GROUP,
        "MS_TENANT_ID": graph.tenant_id,
        "MS_CLIENT_ID": graph.client_id,
        "MS_CLIENT_SECRET": graph.client_secret,
        "MS_AUTHORITY_HOST": graph.base_url,
        "GRAPH_URL": graph.base_url,
        "DATABASE_URL": database_url,
        "PHISHBOT_POLL_SCHEDULE": "1,1,2",
        "PHISHBOT_POLL_GIVE_UP": "60",
        "SSL_CERT_FILE": str(tls.ca_file),
        "PHISHBOT_SWEEP_SECONDS": "0.2",
    }
    values.update(overrides)
    # None means "leave this variable unset" (e.g. no client secret when a certificate is configured).
    return {k: str(v) for k, v in values.items() if v is not None}


class RunningBot:
    """The real bot (Runtime = what `phishbot run` starts) in this process, serving HTTP on loopback, on a clock the
    test moves: `sweep(after=...)` runs one round of due work that many seconds later, `until(...)` skips poll
    gaps instead of waiting them out. The scheduler's own rounds keep running as in production."""

    # The clock runs ahead of real time in `until`; a give-up an hour away keeps a slow emulator from ending a case.
    GIVE_UP_SECONDS = 3600

    def __init__(self, slack, graph, tls, database_url: str, *, clock=None, **overrides: object) -> None:
        self._args = (slack, graph, tls, database_url)
        self._overrides = {"PHISHBOT_POLL_GIVE_UP": str(self.GIVE_UP_SECONDS), **overrides}
        # Real time flows underneath (the emulators and the bot's threads live in it); the test adds skips, and
        # the Graph client's back-off and Retry-After waits are skipped too (the `clock` fixture's, shared with
        # the Graph emulator, is the usual one).
        self.clock = clock if clock is not None else suite_clock()
        self.runtime = None
        self.start()

    def start(self) -> RunningBot:
        from bot.config import Settings
        from bot.runtime.process import Runtime

        slack, graph, tls, database_url = self._args
        migrate_first(database_url)
        settings = Settings(**bot_environment(slack, graph, tls, database_url, **self._overrides))
        self.runtime = Runtime(settings, host="127.0.0.1", clock=self.clock, freeze_heap=False).start()
        slack.app_url = f"http://127.0.0.1:{self.runtime.port}/slack/events"
        return self

    def stop(self) -> None:
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime = None

    def restart(self) -> RunningBot:
        self.stop()
        return self.start()

    def sweep(self, after: float = 0.0) -> None:
        """One round of due work, `after` seconds from now on the bot's clock (waits for a round under way)."""
        if after:
            self.clock.advance(after)
        self.runtime.services.sweep.run(wait=True)

    def until(self, condition, timeout: float = 20.0, gap: float = 1.0):
        """Rounds of due work, each `gap` seconds later on the bot's clock, until `condition()` is truthy (its value
        is returned): what is waited for is the emulators, never PHISHBOT_POLL_SCHEDULE."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                result = condition()
            except (LookupError, AttributeError, TypeError, ValueError):
                result = None
            if result:
                return result
            if time.monotonic() >= deadline:
                raise AssertionError(f"not true after {timeout} s of sweeps: {condition}")
            self.sweep(after=gap)
            # The emulators answer in real time (a verdict after 0.3 s): a round every 50 ms sees it soon
            # enough, and each round is a dozen queries, so rounds back to back would only burn the cores.
            time.sleep(0.05)

    @property
    def store(self):
        return self.runtime.services.store

    @property
    def port(self) -> int:
        return self.runtime.port


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'phishbot.db'}"


def migrate_first(database_url: str) -> None:
    """What an operator does before starting replicas (`phishbot migrate`): the test's new database is brought to
    the schema head. It becomes a copy of one database this worker migrated once (a migration costs 0.3 s of CPU,
    a copy next to nothing; tests/unit/store proves the migrations build the models). A database that already
    has a schema is migrated the real way, which leaves one at the head unchanged."""
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///")
        if not os.path.exists(path):
            shutil.copyfile(_schema_template("sqlite"), path)
            return
    elif _is_new_suite_postgres_database(database_url):
        _recreate_from_template(database_url)
        return
    from bot.store import open_store

    store = open_store(database_url)
    try:
        store.database.migrate()
    finally:
        store.database.close()


_TEMPLATES: dict[str, str] = {}


def _schema_template(kind: str) -> str:
    """This worker's database at the schema head: a SQLite file, or a PostgreSQL database to copy (TEMPLATE)."""
    if kind not in _TEMPLATES:
        from bot.store import open_store

        if kind == "sqlite":
            template = os.path.join(tempfile.mkdtemp(prefix="phishbot-schema-"), "template.db")
            url = f"sqlite:///{template}"
        else:
            template = "phishbot_template_" + uuid.uuid4().hex[:12]
            url = _create_postgres_database(template)
        store = open_store(url)
        try:
            store.database.migrate()
        finally:
            store.database.close()  # SQLite folds its WAL into the file; PostgreSQL copies only an idle template
        _TEMPLATES[kind] = template
    return _TEMPLATES[kind]


def _is_new_suite_postgres_database(database_url: str) -> bool:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = os.environ.get(POSTGRES_ENV)
    if not base or not database_url.startswith("postgresql"):
        return False
    url, server = make_url(database_url), make_url(base)
    if (url.host, url.port) != (server.host, server.port) or not (url.database or "").startswith(
        "phishbot_test_"
    ):
        return False  # another server (a test's own, to restart) has no template
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT to_regclass('alembic_version')")).scalar() is None
    finally:
        engine.dispose()


def _recreate_from_template(database_url: str) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    name = make_url(database_url).database
    template = _schema_template("postgresql")
    admin = create_engine(os.environ[POSTGRES_ENV], isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
            connection.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        admin.dispose()


@pytest.fixture(scope="session", autouse=True)
def _drop_schema_templates():
    yield
    if "sqlite" in _TEMPLATES:
        shutil.rmtree(os.path.dirname(_TEMPLATES.pop("sqlite")), ignore_errors=True)
    if "postgresql" in _TEMPLATES:
        _drop_postgres_database(_TEMPLATES.pop("postgresql"))


@pytest.fixture
def bot(slack, graph, tls, database_url, clock):
    running = RunningBot(slack, graph, tls, database_url, clock=clock)
    yield running
    running.stop()
    assert_no_secret(database_text(database_url), "the database")


# --- `phishbot setup`: the directory behind the Graph emulator, Slack's App Manifest API -----------------------

ADMIN = (
    "admin@contoso.example"  # Privileged Role Administrator: may register apps and grant Graph's app roles
)
APP_ADMIN = (
    "apps@contoso.example"  # Cloud Application Administrator: may register apps, not grant Graph's roles
)


@pytest.fixture
def entra(graph):
    from bot.sandbox.entra_emulator import (
        CLOUD_APPLICATION_ADMINISTRATOR,
        PRIVILEGED_ROLE_ADMINISTRATOR,
        EntraDirectory,
    )

    directory = EntraDirectory().attach(graph)
    directory.add_user(ADMIN, PRIVILEGED_ROLE_ADMINISTRATOR)
    directory.add_user(APP_ADMIN, CLOUD_APPLICATION_ADMINISTRATOR)
    return directory


@pytest.fixture
def slack_apps(slack):
    from pathlib import Path

    from bot.sandbox.slack_manifest_api import SlackManifestApi

    schema = Path(__file__).resolve().parent / "fixtures" / "slack" / "manifest.schema.json"
    return SlackManifestApi(schema).attach(slack)


def setup_endpoints(slack, graph, tls) -> dict[str, str]:
    """What `phishbot setup` reads to find the emulators."""
    return {
        "SLACK_API_URL": slack.api_url,
        "MS_AUTHORITY_HOST": graph.base_url,
        "GRAPH_URL": graph.base_url,
        "SSL_CERT_FILE": str(tls.ca_file),
    }
