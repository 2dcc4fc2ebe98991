"""Several replicas on one PostgreSQL: the database makes every piece of work happen once, exactly one replica
runs the scheduler, and when it dies (SIGKILL) another takes over with nothing lost or done twice.

These run in the PostgreSQL pass of the suite (`.ci/run` starts the server)."""

from __future__ import annotations

import os
import random
import threading
import time
from datetime import UTC
from importlib import resources

import httpx
import pytest
from apscheduler.triggers.cron import CronTrigger
from conftest import ALICE, BOB, INTAKE, SOC, bot_environment, migrate_first
from processes import BotProcess
from sqlalchemy import create_engine, text
from test_crash import BURST, BURST_RATE, assert_acked_submitted_once, send_burst, settled, submitted

from bot.cases.digest import Digest
from bot.config import Settings
from bot.domain import CaseStatus
from bot.runtime.leadership import AdvisoryLockLeader
from bot.runtime.scheduler import Sweeper
from bot.services import slack_client
from bot.store import open_store

SAMPLE = (resources.files("bot.sandbox") / "samples" / "credential-phish.eml").read_bytes()
REPORTS = 20
REPLICA_KILL_SEEDS = int(os.environ.get("PHISHBOT_KILL_SEEDS", "1"))


def email(number: int) -> bytes:
    return SAMPLE.replace(b"Message-ID: <", f"Message-ID: <replica-{number}-".encode())


def deliver_everywhere(slack, number: int, replicas: list[BotProcess]) -> None:
    """One report, delivered to every replica, then redelivered as Slack's retries (same event id) to each."""
    reporter = (ALICE, BOB)[number % 2]
    alive = [r for r in replicas if r.process.poll() is None]
    if number % 4 == 3:
        # A slash command (Slack never retries those): the person sends it to both, as a double submit would.
        for replica in replicas:
            slack.app_url = replica.events_url
            try:
                slack.slash_command(reporter, f"https://login-micros0ft.example/r{number}", channel_id=INTAKE)
            except httpx.HTTPError:
                pass  # a dead replica; Slack would show the person an error and they would try again
        return
    slack.app_url = alive[0].events_url
    slack.upload_file(reporter, INTAKE, f"report-{number}.eml", email(number))
    for retry, replica in enumerate([*replicas[1:], replicas[0]], start=1):
        slack.app_url = replica.events_url
        try:
            slack.redeliver_last_event(retry_num=retry)
        except httpx.HTTPError:
            pass  # the killed replica: Slack retries elsewhere, which the loop does


def count(database_url: str, sql: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text(sql)).scalar() or 0)
    finally:
        engine.dispose()


def wait_for_roles(slack, replicas: list[BotProcess]) -> tuple[BotProcess, BotProcess]:
    def roles():
        found = {r.role(): r for r in replicas}
        return found if set(found) == {"leader", "follower"} else None

    found = slack.wait_for(roles, timeout=20)
    return found["leader"], found["follower"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_two_replicas_twenty_reports_and_the_leader_killed_mid_way(
    slack, graph, tls, postgres_url, tmp_path, record_property
):
    migrate_first(postgres_url)
    environment = bot_environment(slack, graph, tls, postgres_url)
    graph.verdict_after = 8.0  # the first half is still waiting for Microsoft when the leader dies
    replicas = [
        BotProcess(environment, tmp_path / "a.log").wait_ready(),
        BotProcess(environment, tmp_path / "b.log").wait_ready(),
    ]
    store = open_store(postgres_url)
    try:
        leader, follower = wait_for_roles(slack, replicas)
        for number in range(REPORTS // 2):
            deliver_everywhere(slack, number, replicas)
        slack.wait_for(
            lambda: (
                count(postgres_url, "SELECT count(*) FROM cases WHERE card_ts IS NOT NULL") == REPORTS // 2
                and count(postgres_url, "SELECT count(*) FROM submissions WHERE state = 'checking'")
                == REPORTS // 2
            ),
            timeout=30,
        )
        assert count(postgres_url, "SELECT count(*) FROM verdicts WHERE is_final") == 0

        leader.kill()
        killed_at = time.monotonic()
        slack.wait_for(lambda: follower.role() == "leader", timeout=60)
        failover = time.monotonic() - killed_at
        record_property("scheduler_failover_seconds", round(failover, 2))
        print(f"\nscheduler fail-over after SIGKILL: {failover:.2f} s")

        for number in range(REPORTS // 2, REPORTS):
            deliver_everywhere(slack, number, [follower, leader])

        def all_done():
            return (
                count(postgres_url, "SELECT count(*) FROM cases WHERE status = 'verdict'") == REPORTS
                and count(postgres_url, "SELECT count(*) FROM cases WHERE card_dirty") == 0
                and len(slack.dms(ALICE)) + len(slack.dms(BOB)) == REPORTS
            )

        # Checks the dead leader had claimed are brought forward by the new leader (their lease is the backstop).
        slack.wait_for(all_done, timeout=90)
    finally:
        for replica in replicas:
            replica.stop_quietly()

    # One case per report, one submission per case (none sent twice), one card per case showing the verdict.
    assert count(postgres_url, "SELECT count(*) FROM cases") == REPORTS
    assert count(postgres_url, "SELECT count(*) FROM submissions") == REPORTS
    assert count(postgres_url, "SELECT count(DISTINCT case_id) FROM submissions") == REPORTS
    assert len(graph.submissions) == REPORTS
    soc_posts = [c for c in slack.calls_to("chat.postMessage") if c.args.get("channel") == SOC]
    assert len(soc_posts) == REPORTS
    cards = slack.messages(SOC)
    assert len(cards) == REPORTS
    assert all("Microsoft is analysing" not in card.text for card in cards)
    # Each reporter heard each outcome once.
    assert len(slack.dms(ALICE)) == REPORTS // 2 and len(slack.dms(BOB)) == REPORTS // 2
    with store.database.engine.connect() as connection:
        case_ids = [row[0] for row in connection.execute(text("SELECT id FROM cases"))]
    for case_id in case_ids:
        assert store.cases.case_view(case_id).status is CaseStatus.VERDICT
    store.database.close()


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("seed", range(REPLICA_KILL_SEEDS))
def test_two_replicas_a_burst_and_one_killed_at_a_random_moment_loses_no_acknowledged_report(
    slack, graph, tls, postgres_url, tmp_path, seed
):
    migrate_first(postgres_url)
    environment = bot_environment(slack, graph, tls, postgres_url)
    replicas = [
        BotProcess(environment, tmp_path / "a.log").wait_ready(),
        BotProcess(environment, tmp_path / "b.log").wait_ready(),
    ]
    victim = replicas[seed % 2]
    store = open_store(postgres_url)

    def target(number: int) -> str:
        # Slack spreads requests over the app's replicas; the dead one's share goes to the other.
        alive = [r for r in replicas if r.process.poll() is None]
        return (alive[number % len(alive)] if alive else replicas[0]).events_url

    try:
        killer = threading.Timer(random.Random(seed).uniform(0.1, BURST / BURST_RATE), victim.kill)
        killer.start()
        acked = send_burst(slack, f"replicas{seed}", target)
        killer.join()
        assert victim.process.returncode == -9
        # The survivor takes over the dead one's requests once its heartbeat is WORKER_TIMEOUT old.
        slack.wait_for(
            lambda: settled(store) and set(submitted(graph)) >= {m for m, ok in acked.items() if ok},
            timeout=90,
        )
    finally:
        for replica in replicas:
            replica.stop_quietly()
        store.database.close()
    assert_acked_submitted_once(acked, submitted(graph))


def test_the_advisory_lock_has_one_holder_and_a_lost_connection_is_lost_leadership(postgres_url):
    first, second = AdvisoryLockLeader(postgres_url), AdvisoryLockLeader(postgres_url)
    try:
        assert first.refresh() is True and first.role == "leader"
        assert second.refresh() is False and second.role == "follower"
        assert second.refresh() is False
        # The leader's session ends (a network cut, a server restart): it must stop leading, and the other can lead.
        count(
            postgres_url,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = 'phishbot scheduler lock' AND pid IN"
            " (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)",
        )
        assert first.refresh() is False and first.role == "follower"
        assert second.refresh() is True
        assert first.refresh() is False  # reconnected, but the lock is taken
        second.release()
        assert second.role == "stopped" and second.refresh() is False
        assert first.refresh() is True  # handed over at once on a clean stop
    finally:
        first.release()
        second.release()


def test_only_the_leader_posts_the_digest_and_each_fire_time_once(slack, graph, tls, postgres_url):
    migrate_first(postgres_url)
    settings = Settings(**bot_environment(slack, graph, tls, postgres_url))
    slack.add_channel("C0DIGESTA1", "digest-a")
    slack.add_channel("C0DIGESTB1", "digest-b")
    every_second = CronTrigger(second="*", timezone=UTC)
    stores = [open_store(postgres_url), open_store(postgres_url)]
    sweepers = [
        Sweeper(
            lambda: None,
            every_seconds=0.2,
            leadership=AdvisoryLockLeader(postgres_url),
            digest=Digest(
                store.digests, store.idempotency, slack_client(settings), channel=channel
            ).post_scheduled,
            digest_trigger=every_second,
        )
        for store, channel in zip(stores, ("C0DIGESTA1", "C0DIGESTB1"), strict=True)
    ]
    try:
        sweepers[0].start()
        slack.wait_for(lambda: sweepers[0].role == "leader")
        sweepers[1].start()
        slack.wait_for(lambda: len(slack.messages("C0DIGESTA1")) >= 2, timeout=15)
        assert sweepers[1].role == "follower" and slack.messages("C0DIGESTB1") == []

        sweepers[0].stop()  # releases the lock: the other replica leads from its next heartbeat
        slack.wait_for(lambda: sweepers[1].role == "leader")
        slack.wait_for(lambda: len(slack.messages("C0DIGESTB1")) >= 2, timeout=15)
    finally:
        for sweeper in sweepers:
            sweeper.stop()
        for store in stores:
            store.database.close()
    posted = len(slack.messages("C0DIGESTA1")) + len(slack.messages("C0DIGESTB1"))
    assert count(postgres_url, "SELECT count(*) FROM seen_events WHERE key LIKE 'digest:%'") == posted
