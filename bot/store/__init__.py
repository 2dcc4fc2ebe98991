"""Persistence: the database, one repository per aggregate, the records they exchange, tables and migrations."""

from bot.store.app_homes import AppHomes
from bot.store.audit import OLD_TEXT, AuditDetails, AuditLog, AuditNote, AuditValue, describe, read_details
from bot.store.block_requests import BlockRequests
from bot.store.card_posts import CardPosts
from bot.store.cases import Cases
from bot.store.database import RECONNECT_SECONDS, CommitUncertain, Database, SchemaError
from bot.store.digests import Digests
from bot.store.idempotency import Idempotency
from bot.store.inbox import Inbox, InboxItem
from bot.store.records import (
    BlockCheckWork,
    BlockSendWork,
    BlockState,
    CaseSummary,
    CheckWork,
    DigestCase,
    DigestFacts,
    FollowedSubmission,
    ItemState,
    ItemUpdate,
    ItemWork,
    NewReport,
    OpenCaseGroup,
    OpenCaseLine,
    OpenedCase,
    PollState,
    PollWork,
    RemediationWork,
    ReporterToTell,
    ReviewWork,
    SendWork,
)
from bot.store.remediations import RemediationRecords
from bot.store.reporters import Reporters
from bot.store.repositories import Repositories, open_store
from bot.store.repository import WORKER_HEARTBEAT_SECONDS, WORKER_TIMEOUT
from bot.store.submissions import Submissions
from bot.store.user_reports import UserReports
from bot.store.workers import Workers

__all__ = [
    "OLD_TEXT",
    "RECONNECT_SECONDS",
    "WORKER_HEARTBEAT_SECONDS",
    "WORKER_TIMEOUT",
    "AppHomes",
    "AuditDetails",
    "AuditLog",
    "AuditNote",
    "AuditValue",
    "BlockCheckWork",
    "BlockRequests",
    "BlockSendWork",
    "BlockState",
    "CardPosts",
    "CaseSummary",
    "Cases",
    "CheckWork",
    "CommitUncertain",
    "Database",
    "DigestCase",
    "DigestFacts",
    "Digests",
    "FollowedSubmission",
    "Idempotency",
    "Inbox",
    "InboxItem",
    "ItemState",
    "ItemUpdate",
    "ItemWork",
    "NewReport",
    "OpenCaseGroup",
    "OpenCaseLine",
    "OpenedCase",
    "PollState",
    "PollWork",
    "RemediationRecords",
    "RemediationWork",
    "Repositories",
    "ReporterToTell",
    "Reporters",
    "ReviewWork",
    "SchemaError",
    "SendWork",
    "Submissions",
    "UserReports",
    "Workers",
    "describe",
    "open_store",
    "read_details",
]
