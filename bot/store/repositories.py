"""The store: one repository per aggregate over one database, built once (`open_store`) and handed to each
service as the few repositories it uses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.store.app_homes import AppHomes
from bot.store.audit import AuditLog
from bot.store.block_requests import BlockRequests
from bot.store.card_posts import CardPosts
from bot.store.cases import Cases
from bot.store.database import Database, utcnow
from bot.store.digests import Digests
from bot.store.idempotency import Idempotency
from bot.store.inbox import Inbox
from bot.store.remediations import RemediationRecords
from bot.store.reporters import Reporters
from bot.store.submissions import Submissions
from bot.store.user_reports import UserReports
from bot.store.workers import Workers


@dataclass(frozen=True)
class Repositories:
    database: Database
    cases: Cases
    reporters: Reporters
    submissions: Submissions
    card_posts: CardPosts
    remediations: RemediationRecords
    block_requests: BlockRequests
    audit: AuditLog
    digests: Digests
    workers: Workers
    idempotency: Idempotency
    inbox: Inbox
    user_reports: UserReports
    app_homes: AppHomes

    @classmethod
    def over(cls, database: Database) -> Repositories:
        return cls(
            database=database,
            cases=Cases(database),
            reporters=Reporters(database),
            submissions=Submissions(database),
            card_posts=CardPosts(database),
            remediations=RemediationRecords(database),
            block_requests=BlockRequests(database),
            audit=AuditLog(database),
            digests=Digests(database),
            workers=Workers(database),
            idempotency=Idempotency(database),
            inbox=Inbox(database),
            user_reports=UserReports(database),
            app_homes=AppHomes(database),
        )


def open_store(database_url: str, *, now: Callable[[], datetime] = utcnow) -> Repositories:
    """Connect lazily (no I/O until the first call) and build every repository over that one database. `now` is
    the time they stamp and compare due work with (the services' clock)."""
    return Repositories.over(Database(database_url, now=now))
