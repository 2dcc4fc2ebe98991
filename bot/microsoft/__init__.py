"""The Microsoft side: the one Graph client, advanced hunting, mailboxes, Graph's enums in words.

Other layers import from here only. Inside: `graph` (the GraphClient facade) over `transport` (httpx and the
one retry policy, `retry`), `auth` (MSAL and the app token), `batch` ($batch envelopes) and the endpoint
groups `threat_submissions`, `defender` and `outlook`; `hunting` builds KQL and reads its rows; `mailbox` is
the reporter's own mailbox; `vocabulary` puts Graph's enum members into words.
"""

from bot.microsoft import hunting, vocabulary
from bot.microsoft.batch import BATCH_LIMIT
from bot.microsoft.errors import AuthError, GraphError, ShuttingDown
from bot.microsoft.graph import GraphClient
from bot.microsoft.hunting import Click, Copy, KqlValueError, kql_string
from bot.microsoft.mailbox import MailAccessDenied, ReporterMailboxes
from bot.microsoft.outlook import (
    OUTLOOK_CONCURRENCY_PER_MAILBOX,
    PERMANENT_DELETE,
    MailboxMessage,
    odata_string,
)
from bot.microsoft.retry import RetryPolicy, parse_retry_after
from bot.microsoft.vocabulary import VerdictKind, verdict_kind

__all__ = [
    "BATCH_LIMIT",
    "OUTLOOK_CONCURRENCY_PER_MAILBOX",
    "PERMANENT_DELETE",
    "AuthError",
    "Click",
    "Copy",
    "GraphClient",
    "GraphError",
    "KqlValueError",
    "MailAccessDenied",
    "MailboxMessage",
    "ReporterMailboxes",
    "RetryPolicy",
    "ShuttingDown",
    "VerdictKind",
    "hunting",
    "kql_string",
    "odata_string",
    "parse_retry_after",
    "verdict_kind",
    "vocabulary",
]
