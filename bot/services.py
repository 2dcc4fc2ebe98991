"""The app factory: builds every service once, injects them into the listeners, and builds the Bolt app.

Nothing here talks to Slack, Microsoft or the database: `build_services` only constructs clients;
the first I/O happens when `phishbot run` starts serving.
"""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

import httpx
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.cases.block_list import Blocks
from bot.cases.intake import Intake
from bot.cases.remediation import Remediations
from bot.cases.responder_actions import CaseActions
from bot.cases.submissions import FollowUp
from bot.config import Settings
from bot.microsoft.graph import GraphClient
from bot.microsoft.mailbox import ReporterMailboxes
from bot.runtime.handover import Worker
from bot.runtime.lifecycle import Stopping
from bot.runtime.metrics import Metrics
from bot.slack.authz import Authorizer
from bot.slack.directory import SlackDirectory
from bot.slack.files import SlackFiles
from bot.slack.notifier import SlackNotifier
from bot.store import Database, Repositories, open_store

log = logging.getLogger(__name__)

# Listener threads: Graph submissions run in them after ack(); Bolt's default of 5 is too few for a busy SOC.
LISTENER_THREADS = 16


@dataclass
class Services:
    settings: Settings
    database: Database  # the schema, readiness and shutdown
    store: Repositories  # every repository, each also handed to the services that use it
    slack: WebClient
    graph: GraphClient
    notifier: SlackNotifier
    authorizer: Authorizer
    follow_up: FollowUp
    intake: Intake
    actions: CaseActions
    http: httpx.Client
    metrics: Metrics
    stopping: Stopping
    worker: Worker
    remediations: Remediations
    blocks: Blocks

    def close(self) -> None:
        self.graph.close()
        self.http.close()
        self.database.close()


def tls_context(settings: Settings) -> ssl.SSLContext:
    """One trust setting for every outbound HTTPS call: SSL_CERT_FILE when set, else the system's."""
    if settings.ssl_cert_file is not None:
        return ssl.create_default_context(cafile=str(settings.ssl_cert_file))
    return ssl.create_default_context()


def slack_client(settings: Settings, metrics: Metrics | None = None) -> WebClient:
    assert settings.slack_bot_token is not None
    # The call counter goes first: slack-sdk asks the handlers in order and stops at the first that retries.
    counting = [metrics.slack_retry_handler()] if metrics is not None else []
    return WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        ssl=tls_context(settings) if settings.slack_api_url.startswith("https") else None,
        proxy=settings.https_proxy,
        timeout=30,
        # slack-sdk retries only connection errors by default; 429 and 5xx retries are opt-in. Bolt copies
        # these handlers into every per-request client, so listeners get them too.
        retry_handlers=[
            *counting,
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=3),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def build_services(settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> Services:
    """`clock` is the monotonic clock of the in-process caches (responder groups, people, a refused Mail.Read):
    a test moves it forward instead of waiting out a cache."""
    store = open_store(settings.database_url)
    metrics = Metrics()
    metrics.watch_open_checks(store.submissions.open_check_count)
    stopping = Stopping()
    slack = slack_client(settings, metrics)
    context = tls_context(settings)
    graph = GraphClient(
        tenant_id=settings.ms_tenant_id or "",
        client_id=settings.ms_client_id or "",
        client_secret=settings.ms_client_secret.get_secret_value() if settings.ms_client_secret else None,
        client_certificate_pem=settings.client_certificate_pem(),
        authority_host=settings.ms_authority_host,
        graph_url=settings.graph_url,
        verify=context,
        proxy=settings.https_proxy,
        on_request=metrics.graph_request,
        # Retry waits end at SIGTERM, so a shutdown never waits out a two-minute Retry-After.
        sleep=stopping.sleep,
    )
    http = httpx.Client(verify=context, proxy=settings.https_proxy, timeout=60, trust_env=False)
    directory = SlackDirectory(slack, clock=clock)
    notifier = SlackNotifier(
        slack,
        store.card_posts,
        store.cases,
        store.reporters,
        settings.soc_channel or "",
        language_of=directory.language_of,
    )
    authorizer = Authorizer(slack, settings.responders, clock=clock)
    follow_up = FollowUp(
        store.submissions,
        store.cases,
        store.reporters,
        store.card_posts,
        graph,
        notifier,
        poll_schedule=settings.poll_schedule,
        give_up_seconds=settings.poll_give_up,
        metrics=metrics,
        stopping=stopping,
    )
    assert settings.slack_bot_token is not None
    files = SlackFiles(
        token=settings.slack_bot_token.get_secret_value(),
        api_url=settings.slack_api_url,
        http=http,
        max_bytes=settings.max_upload_mb * 1024 * 1024,
    )
    intake = Intake(
        cases=store.cases,
        reporters=store.reporters,
        client=slack,
        notifier=notifier,
        follow_up=follow_up,
        files=files,
        intake_channels=frozenset(settings.intake_channels),
        directory=directory,
        mailboxes=ReporterMailboxes(graph, max_bytes=settings.max_upload_mb * 1024 * 1024, clock=clock),
        max_upload_mb=settings.max_upload_mb,
        metrics=metrics,
    )
    actions = CaseActions(
        cases=store.cases,
        submissions=store.submissions,
        audit=store.audit,
        authorizer=authorizer,
        notifier=notifier,
        follow_up=follow_up,
    )
    remediations = Remediations(
        remediations=store.remediations,
        cases=store.cases,
        card_posts=store.card_posts,
        audit=store.audit,
        graph=graph,
        notifier=notifier,
        slack=slack,
        purge_method=settings.purge_method,
        poll_schedule=settings.poll_schedule,
        give_up_seconds=settings.poll_give_up,
        metrics=metrics,
        stopping=stopping,
    )
    blocks = Blocks(
        block_requests=store.block_requests,
        cases=store.cases,
        audit=store.audit,
        graph=graph,
        notifier=notifier,
        slack=slack,
        poll_schedule=settings.poll_schedule,
        give_up_seconds=settings.poll_give_up,
        auto_block=settings.auto_block,
        same_item_gap=timedelta(seconds=settings.same_item_gap_seconds),
        stopping=stopping,
    )
    follow_up.add_step(remediations.sweep)
    follow_up.add_step(blocks.sweep)
    return Services(
        settings=settings,
        database=store.database,
        store=store,
        slack=slack,
        graph=graph,
        notifier=notifier,
        authorizer=authorizer,
        follow_up=follow_up,
        intake=intake,
        actions=actions,
        http=http,
        metrics=metrics,
        stopping=stopping,
        worker=Worker(),
        remediations=remediations,
        blocks=blocks,
    )


def create_app(services: Services) -> App:
    import handlers

    settings = services.settings
    http_mode = settings.mode == "http"
    app = App(
        client=services.slack,
        signing_secret=settings.slack_signing_secret.get_secret_value()
        if settings.slack_signing_secret
        else None,
        # auth.test would be a Slack call at construction time; Bolt makes it lazily on the first request.
        token_verification_enabled=False,
        request_verification_enabled=http_mode,
        process_before_response=False,
        listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="listener"),
    )
    handlers.register_all(app, services)

    @app.error
    def on_error(error: Exception, body: dict, logger: logging.Logger) -> None:
        logger.error("unhandled error in a listener: %s", type(error).__name__, exc_info=error)

    return app
