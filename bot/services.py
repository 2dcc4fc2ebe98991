"""The service factory: builds every service once; bot.runtime.slack_app injects them into the listeners.

Nothing here talks to Slack, Microsoft or the database: `build_services` only constructs clients;
the first I/O happens when `phishbot run` starts serving.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass
from datetime import timedelta

import httpx
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler

from bot.cases.app_home import AppHome
from bot.cases.block_list import BlockList
from bot.cases.intake import Intake
from bot.cases.remediation import Remediations
from bot.cases.remediation_runner import RemediationRunner
from bot.cases.reporter_requests import ReporterRequests
from bot.cases.responder_actions import CaseActions
from bot.cases.reviews import Reviews
from bot.cases.slack_requests import SlackRequests
from bot.cases.submissions import FollowUp
from bot.cases.sweep import Sweep, periodic_steps
from bot.cases.user_reports import UserReportFollower
from bot.config import Endpoints, Settings
from bot.microsoft import GraphClient, ReporterMailboxes
from bot.runtime.clock import Clock, SystemClock
from bot.runtime.handover import HandoverPool
from bot.runtime.lifecycle import Stopping
from bot.runtime.metrics import Metrics
from bot.slack.authz import Authorizer
from bot.slack.directory import SlackDirectory
from bot.slack.files import SlackFiles
from bot.slack.notifier import SlackNotifier
from bot.slack.rate_limits import RateLimitedClient, SlackRateLimits
from bot.store import Database, Repositories, open_store

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    database: Database  # the schema, readiness and shutdown
    store: Repositories  # every repository, each also handed to the services that use it
    slack: WebClient
    rate_limits: SlackRateLimits  # Slack's, for every call `slack` makes (bot/slack/rate_limits.py)
    graph: GraphClient
    notifier: SlackNotifier
    authorizer: Authorizer
    follow_up: FollowUp
    intake: Intake
    actions: CaseActions
    http: httpx.Client
    metrics: Metrics
    stopping: Stopping
    handover: HandoverPool
    requests: SlackRequests
    remediations: Remediations
    block_list: BlockList
    reporter_requests: ReporterRequests
    user_reports: UserReportFollower
    reviews: Reviews
    app_home: AppHome
    clock: Clock
    sweep: Sweep

    def close(self) -> None:
        self.graph.close()
        self.http.close()
        self.database.close()


def tls_context(settings: Endpoints) -> ssl.SSLContext:
    """One trust setting for every outbound HTTPS call: SSL_CERT_FILE when set, else the system's."""
    if settings.ssl_cert_file is not None:
        return ssl.create_default_context(cafile=str(settings.ssl_cert_file))
    return ssl.create_default_context()


def slack_client(
    settings: Settings, metrics: Metrics | None = None, rate_limits: SlackRateLimits | None = None
) -> RateLimitedClient:
    assert settings.slack_bot_token is not None
    # The call counter goes first: slack-sdk asks the handlers in order and stops at the first that retries.
    counting = [metrics.slack_retry_handler()] if metrics is not None else []
    return web_client(
        settings, settings.slack_bot_token.get_secret_value(), counting, rate_limits=rate_limits
    )


def web_client(
    endpoints: Endpoints,
    token: str | None,
    handlers: list[RetryHandler] | None = None,
    *,
    logger: logging.Logger | None = None,
    rate_limits: SlackRateLimits | None = None,
) -> RateLimitedClient:
    """A Slack WebClient for SLACK_API_URL with phishbot's retry policy for Slack: the bot's (`slack_client`),
    and `phishbot setup slack`'s with an app configuration token. `rate_limits` (bot/slack/rate_limits.py) is the
    one owner of Slack's rate limits for everything that shares it: the bot's services share one."""
    limits = rate_limits if rate_limits is not None else SlackRateLimits()
    return RateLimitedClient(
        rate_limits=limits,
        token=token,
        logger=logger,
        base_url=endpoints.slack_api_url,
        ssl=tls_context(endpoints) if endpoints.slack_api_url.startswith("https") else None,
        proxy=endpoints.https_proxy,
        timeout=30,
        # slack-sdk retries only connection errors by default; 429 and 5xx retries are opt-in. Bolt copies
        # these handlers into every per-request client, so listeners get them too. A 429 is the rate limits'
        # alone: they remember it for every caller of the method, not just this call.
        retry_handlers=[
            *(handlers or []),
            ConnectionErrorRetryHandler(max_retry_count=2),
            limits.retry_handler(),
            ServerErrorRetryHandler(max_retry_count=2),
        ],
    )


def build_services(settings: Settings, *, clock: Clock | None = None) -> Services:
    """`clock` is the time of every service: due work (`now()`) and the in-process caches (`monotonic()`:
    responder groups, people, a refused Mail.Read). A test moves it forward instead of waiting."""
    clock = clock if clock is not None else SystemClock()
    store = open_store(settings.database_url, now=clock.now)
    metrics = Metrics()
    metrics.watch_open_checks(store.submissions.open_check_count)
    stopping = Stopping()
    # Slack's Retry-After, like Graph's, is waited out on the clock and ended by SIGTERM (then nothing is retried).
    rate_limits = SlackRateLimits(
        clock=clock.monotonic,
        sleep=lambda seconds: stopping.wait(clock.real_wait(seconds)),
        stopping=stopping.is_set,
    )
    slack = slack_client(settings, metrics, rate_limits)
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
        # Retry waits end at SIGTERM, so a shutdown never waits out a two-minute Retry-After; they are spent on
        # the clock, so a test's clock skips them.
        sleep=lambda seconds: stopping.sleep(clock.real_wait(seconds)),
    )
    http = httpx.Client(verify=context, proxy=settings.https_proxy, timeout=60, trust_env=False)
    directory = SlackDirectory(slack, clock=clock.monotonic)
    notifier = SlackNotifier(
        slack,
        store.card_posts,
        store.cases,
        store.reporters,
        settings.soc_channel or "",
        now=clock.now,
        language_of=directory.language_of,
        rate_limits=rate_limits,
    )
    authorizer = Authorizer(slack, settings.responders, clock=clock.monotonic)
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
        clock=clock,
    )
    assert settings.slack_bot_token is not None
    files = SlackFiles(
        token=settings.slack_bot_token.get_secret_value(),
        api_url=settings.slack_api_url,
        http=http,
        max_bytes=settings.max_upload_mb * 1024 * 1024,
    )
    mailboxes = ReporterMailboxes(graph, max_bytes=files.max_bytes, clock=clock.monotonic)
    intake = Intake(
        cases=store.cases,
        reporters=store.reporters,
        client=slack,
        notifier=notifier,
        follow_up=follow_up,
        files=files,
        intake_channels=frozenset(settings.intake_channels),
        directory=directory,
        mailboxes=mailboxes,
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
        clock=clock,
    )
    remediation_runner = RemediationRunner(
        remediations=store.remediations,
        cases=store.cases,
        audit=store.audit,
        graph=graph,
        notifier=notifier,
        purge_method=settings.purge_method,
        poll_schedule=settings.poll_schedule,
        give_up_seconds=settings.poll_give_up,
        metrics=metrics,
        stopping=stopping,
        clock=clock,
    )
    remediations = Remediations(
        remediations=store.remediations,
        cases=store.cases,
        card_posts=store.card_posts,
        audit=store.audit,
        graph=graph,
        slack=slack,
        runner=remediation_runner,
        purge_method=settings.purge_method,
    )
    block_list = BlockList(
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
        clock=clock,
    )
    handover = HandoverPool()
    requests = SlackRequests(inbox=store.inbox, handover=handover, clock=clock)
    reporter_requests = ReporterRequests(
        reporters=store.reporters,
        slack=slack,
        intake=intake,
        submit=handover.submit,
    )
    user_reports = UserReportFollower(
        user_reports=store.user_reports,
        cases=store.cases,
        graph=graph,
        mailboxes=mailboxes,
        directory=directory,
        notifier=notifier,
        enabled=settings.user_reports == "on",
        poll_seconds=settings.user_reports_poll,
        poll_schedule=settings.poll_schedule,
        max_bytes=files.max_bytes,
        metrics=metrics,
        stopping=stopping,
        clock=clock,
    )
    reviews = Reviews(
        user_reports=store.user_reports,
        cases=store.cases,
        audit=store.audit,
        graph=graph,
        notifier=notifier,
        directory=directory,
        slack=slack,
    )
    app_home = AppHome(
        homes=store.app_homes, authorizer=authorizer, directory=directory, slack=slack, clock=clock
    )
    sweep = Sweep(
        periodic_steps(requests, follow_up, remediation_runner, block_list, user_reports, app_home),
        clock=clock,
        stopping=stopping,
    )
    return Services(
        settings=settings,
        database=store.database,
        store=store,
        slack=slack,
        rate_limits=rate_limits,
        graph=graph,
        notifier=notifier,
        authorizer=authorizer,
        follow_up=follow_up,
        intake=intake,
        actions=actions,
        http=http,
        metrics=metrics,
        stopping=stopping,
        handover=handover,
        requests=requests,
        remediations=remediations,
        block_list=block_list,
        reporter_requests=reporter_requests,
        user_reports=user_reports,
        reviews=reviews,
        app_home=app_home,
        clock=clock,
        sweep=sweep,
    )
