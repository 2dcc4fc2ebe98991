"""Starting and stopping a whole phishbot process: services, Slack connection, web server, scheduler.

Start: on SQLite, take the process lock (one process per database file) and bring the schema up to date; on
PostgreSQL, refuse a schema that is not this code's (`phishbot migrate` is a deliberate step when several
replicas share the database). Then serve, and let the scheduler find out whether this replica leads.

Stop (SIGTERM): stop taking work (readiness fails, /slack/events answers 503 so Slack retries elsewhere, the
Socket Mode connection closes), wake every Graph retry wait so in-flight work finishes or is handed back to the
store, release the scheduler lock so another replica takes over at once, and close. `stop()` keeps within its
deadline; whatever still runs after it is covered by the store's leases.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.runtime.clock import Clock
from bot.runtime.leadership import ProcessLock, Role, is_sqlite, leadership_for
from bot.runtime.scheduler import Sweeper
from bot.runtime.slack_app import create_app
from bot.runtime.web import Health, WebServer, make_wsgi_app
from bot.services import Services, build_services
from bot.store import WORKER_HEARTBEAT_SECONDS

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.runtime.socket_mode import SocketModeConnections

GIL_SWITCH_SECONDS = 0.001
# Threads that hand Socket Mode envelopes to Bolt and send the acks (Bolt's listener threads do the rest).
SOCKET_ENVELOPE_THREADS = 16

log = logging.getLogger(__name__)

# SIGTERM to exit: Kubernetes' default grace period is 30 s; leave room for the interpreter to wind down.
STOP_DEADLINE_SECONDS = 25.0


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        host: str = "0.0.0.0",  # noqa: S104 - Slack must reach it
        clock: Clock | None = None,
        freeze_heap: bool = True,
    ) -> None:
        """`freeze_heap=False` is for a process that starts many runtimes (the test suite): a full collection
        at every start walks all the objects that process has, and there is no long life to freeze for."""
        self.settings = settings
        self._host = host
        self._freeze_heap = freeze_heap
        self._clock = clock  # every service's time (see build_services); None: the real one
        self.services: Services | None = None
        self._web: WebServer | None = None
        self._socket: SocketModeConnections | None = None
        self._socket_workers: ThreadPoolExecutor | None = None
        self._sweeper: Sweeper | None = None
        self.health: Health | None = None
        self._app: App | None = None
        self._process_lock: ProcessLock | None = None
        self._slack_verified = threading.Event()
        self._slack_checker: threading.Thread | None = None
        self.stopped_cleanly = True  # False when a shutdown step overran the deadline

    @property
    def port(self) -> int:
        if self._web is None:
            raise RuntimeError("not started")
        return self._web.port

    @property
    def scheduler_role(self) -> Role:
        return self._sweeper.role if self._sweeper is not None else "stopped"

    def start(self) -> Runtime:
        settings = self.settings
        # Acks must not wait behind the work done after earlier acks: hand the GIL over more often than
        # CPython's default 5 ms, so a thread that only has to answer Slack gets to run sooner.
        sys.setswitchinterval(GIL_SWITCH_SECONDS)
        leadership = leadership_for(settings.database_url)
        if is_sqlite(settings.database_url):
            self._process_lock = ProcessLock(settings.database_url).acquire()
        services = self.services = build_services(settings, clock=self._clock)
        # SQLite is one process and one file: migrating on start keeps a small install to one command.
        # PostgreSQL is shared by replicas: a schema change is `phishbot migrate`, run once, on purpose.
        services.database.ensure_schema(migrate=is_sqlite(settings.database_url))
        if self._process_lock is not None:
            # The process lock proves any earlier process on this file is dead: its claims are free now.
            services.store.workers.forget_other_workers()
        else:
            services.store.workers.heartbeat()
        app = self._app = create_app(services)
        metrics = services.metrics
        digest = None
        trigger = None
        if settings.digest_channel:
            from zoneinfo import ZoneInfo

            from apscheduler.triggers.cron import CronTrigger

            from bot.cases.digest import Digest

            digest = Digest(
                services.store.digests,
                services.store.idempotency,
                services.slack,
                channel=settings.digest_channel,
                timezone=settings.digest_timezone,
            ).post_scheduled
            trigger = CronTrigger.from_crontab(
                settings.digest_cron, timezone=ZoneInfo(settings.digest_timezone)
            )
        sweeper = self._sweeper = Sweeper(
            services.sweep.run,
            every_seconds=settings.sweep_seconds,
            leadership=leadership,
            digest=digest,
            digest_trigger=trigger,
            on_role=lambda role: metrics.scheduler_leader.set(1 if role == "leader" else 0),
            on_sweep=metrics.sweep_seconds.observe,
            on_lead=services.follow_up.take_over,
            keep_alive=services.store.workers.heartbeat,
            keep_alive_seconds=WORKER_HEARTBEAT_SECONDS,
        )
        self.health = Health(
            {
                "database": services.database.ping,
                "slack": self._slack_connected,
                "scheduler": lambda: sweeper.running,
            },
            {"scheduler": lambda: sweeper.role, "mode": lambda: settings.mode},
        )
        if settings.mode == "socket":
            self.health.add_state("socket_connections", self.socket_connections)
            self.health.add_state("socket_connections_wanted", lambda: settings.socket_connections)
            metrics.socket_connections.set_function(self.socket_connections)
        slack_handler = None
        if settings.mode == "http":
            from slack_bolt.adapter.wsgi import SlackRequestHandler

            from bot.slack.request_gate import SlackRequestGate

            assert settings.slack_signing_secret is not None
            slack_handler = SlackRequestGate(
                SlackRequestHandler(app, path="/slack/events"),
                settings.slack_signing_secret.get_secret_value(),
            )
        self._web = WebServer(
            make_wsgi_app(slack_handler, self.health, metrics.exposition), host=self._host, port=settings.port
        ).start()
        if settings.mode == "socket":
            self._socket = self._connect_socket_mode(app, services)
        else:
            self._slack_checker = threading.Thread(target=self._verify_slack, name="slack-check", daemon=True)
            self._slack_checker.start()
        sweeper.start()
        # Bolt, SQLAlchemy, slack_sdk and the rest leave about 125,000 long-lived objects. Every full collection
        # walked them all with the GIL held, stalling the threads that ack for tens of milliseconds (bench.ack:
        # slash-command p99 7× the bare app's at concurrency 1). Frozen, the collector walks only what came after.
        if self._freeze_heap:
            gc.collect()
            gc.freeze()
        log.info(
            "phishbot is serving (%s mode, port %s, SOC channel %s, %d intake channel(s), %s database)",
            settings.mode,
            self._web.port,
            settings.soc_channel,
            len(settings.intake_channels),
            "SQLite" if is_sqlite(settings.database_url) else "PostgreSQL",
        )
        return self

    def stop(self) -> None:
        deadline = time.monotonic() + STOP_DEADLINE_SECONDS
        if self.health is not None:
            self.health.serving = False  # readiness fails, Slack's HTTP requests get 503 and go elsewhere
        if self._socket is not None:
            try:
                # Envelopes already taken are acked first; then every connection closes.
                self._socket.close()
            except Exception:
                log.warning("socket mode connection did not close cleanly", exc_info=True)
        if self._socket_workers is not None:
            self._socket_workers.shutdown(wait=False, cancel_futures=True)
        if self.services is not None:
            # Retry waits end now; a sweep stops between items and releases what it claimed but did not do.
            self.services.stopping.set()
        sweeper = self._sweeper
        if sweeper is not None:
            self._bounded("the scheduler", lambda: sweeper.stop(wait=True), deadline)
        if self._web is not None:
            self._web.stop()
        if self.services is not None:
            services = self.services
            self._bounded("work after ack", lambda: services.handover.shutdown(wait=True), deadline)
            services.close()
        if self._freeze_heap:
            gc.unfreeze()  # what start() froze can be collected again
        if self._process_lock is not None:
            self._process_lock.release()
            self._process_lock = None
        log.info("phishbot stopped")

    def _connect_socket_mode(self, app: App, services: Services) -> SocketModeConnections:
        """PHISHBOT_SOCKET_CONNECTIONS connections, each replacing itself (bot/runtime/socket_mode.py); the
        envelopes go through the same Bolt app as HTTP requests."""
        from bot.runtime.socket_mode import SocketModeConnections, SocketSettings, bolt_dispatch
        from bot.services import tls_context

        settings = self.settings
        assert settings.slack_app_token is not None
        app_token = settings.slack_app_token.get_secret_value()
        slack = services.slack

        def open_url() -> str:
            return str(slack.apps_connections_open(app_token=app_token)["url"])

        workers = self._socket_workers = ThreadPoolExecutor(
            max_workers=SOCKET_ENVELOPE_THREADS, thread_name_prefix="socket-envelope"
        )
        return SocketModeConnections(
            open_url,
            bolt_dispatch(app),
            workers,
            SocketSettings(
                connections=settings.socket_connections,
                ping_seconds=settings.socket_ping_seconds,
                ssl_context=tls_context(settings),
                proxy=settings.https_proxy,
            ),
            on_reconnect=services.metrics.socket_reconnect,
        ).start()

    # --- readiness ----------------------------------------------------------------------------------------

    def socket_connections(self) -> int:
        """Socket Mode connections up now (0 in HTTP mode)."""
        return self._socket.connected() if self._socket is not None else 0

    def _slack_connected(self) -> bool:
        if self._socket is not None:
            return self._socket.connected() > 0
        return self._slack_verified.is_set()

    def _verify_slack(self) -> None:
        """HTTP mode has no connection to watch: Slack counts as connected once auth.test has succeeded."""
        assert self.services is not None
        stopping = self.services.stopping
        pause = 1.0
        while not stopping.is_set():
            try:
                self.services.slack.auth_test()
                self._slack_verified.set()
                return
            except Exception as exc:  # noqa: BLE001 - not ready yet; readiness says so
                log.warning("Slack auth.test failed (%s); not ready, trying again", type(exc).__name__)
            if stopping.wait(pause):
                return
            pause = min(pause * 2, 30.0)

    def _bounded(self, what: str, step: Callable[[], None], deadline: float) -> None:
        """Run a shutdown step in a thread and wait for it until the deadline, so a stuck call never holds
        the process; the store's leases cover whatever it leaves unfinished."""
        thread = threading.Thread(target=step, name=f"stop {what}", daemon=True)
        thread.start()
        thread.join(timeout=max(deadline - time.monotonic(), 0.1))
        if thread.is_alive():
            self.stopped_cleanly = False
            log.warning("shutdown: %s did not finish in time; leaving it to the store's leases", what)
