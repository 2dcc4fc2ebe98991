"""Defender for Office 365 and Exchange mailboxes, for the loopback Graph emulator (demo, tests, bench).

`DefenderTenant().attach(graph_emulator)` serves, through the emulator's `add_route` (so its token check, request
validation, `fail_next` and `$batch` apply unchanged):

* `POST /v1.0/security/runHuntingQuery` over seeded EmailEvents, EmailUrlInfo and UrlClickEvents rows. The query
  is read by a tiny KQL interpreter for exactly the shapes phishbot sends: `let name = <tabular>;` statements,
  then a table or let name piped through `where`, `project`, `distinct`, `take`/`limit`. Predicates: `and`/`or`
  with parentheses, `==`, `=~`, `!=`, `<`, `>`, `<=`, `>=`, `in (literals)`, `in (letName)`, `ago(Nd|h|m|s)`.
  String literals are read with exactly the escapes Kusto documents (\\ \" \' \n \t); anything else in the
  query text (an unknown operator, table, column, function or escape) is a 400 "Syntax error", as Microsoft
  answers. Nothing is evaluated by Python's eval.
* `POST /v1.0/security/collaboration/analyzedEmails/remediate`: 202 with an Action center `Location`; the action
  reaches the mailboxes and EmailEvents.LatestDeliveryLocation `remediation_after` seconds later (Microsoft gives
  no status resource, so a client must look again).
* The mailbox API: `GET /v1.0/users/{id}/messages?$filter=internetMessageId eq '…'`, `POST …/messages/{id}/move`
  (201, the moved message with a new id), `POST …/messages/{id}/permanentDelete` (204).

Seed with `deliver(...)` (one message to many recipients: EmailEvents rows, EmailUrlInfo rows, a copy in every
recipient's Inbox) and `add_click(...)`.
"""

from __future__ import annotations

import copy
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from bot.sandbox.graph_emulator import GraphEmulator, RecordedRequest, graph_error

REMEDIATION_LIMIT = 50_000  # "remediation should be done in batches of 50,000 or fewer"
ACTION_CENTER = "https://security.microsoft.com/action-center/history"
WELL_KNOWN_FOLDERS = ("inbox", "junkemail", "deleteditems", "recoverableitemsdeletions", "sentitems")
# Where a remediation leaves a copy, as EmailEvents.LatestDeliveryLocation words it.
_LOCATION_AFTER = {
    "moveToInbox": "Inbox/folder",
    "moveToJunk": "Junk folder",
    "moveToDeletedItems": "Deleted items",
    "softDelete": "Deleted items",
    "hardDelete": "Deleted items",
}
_FOLDER_AFTER = {
    "moveToInbox": "inbox",
    "moveToJunk": "junkemail",
    "moveToDeletedItems": "deleteditems",
    "softDelete": "recoverableitemsdeletions",
    "hardDelete": None,  # purged
}
_LOCATION_OF_FOLDER = {
    "inbox": "Inbox/folder",
    "junkemail": "Junk folder",
    "deleteditems": "Deleted items",
    "recoverableitemsdeletions": "Deleted items",
}
_COLUMN_TYPES = {"Timestamp": "DateTime", "IsClickedThrough": "Boolean"}


@dataclass
class MailboxMessage:
    id: str
    internet_message_id: str
    network_message_id: str
    folder: str
    subject: str


@dataclass
class Remediation:
    bulk_id: str
    action: str
    pairs: list[tuple[str, str]]
    due: float
    applied: bool = False


@dataclass
class DefenderTenant:
    """The tenant's mail as Defender sees it. Thread-safe; every public method may be called from a test."""

    remediation_after: float = 0.5
    tenant_id: str = "sandbox-tenant"
    events: list[dict[str, Any]] = field(default_factory=list)  # EmailEvents
    url_info: list[dict[str, Any]] = field(default_factory=list)  # EmailUrlInfo
    clicks: list[dict[str, Any]] = field(default_factory=list)  # UrlClickEvents
    remediations: list[Remediation] = field(default_factory=list)
    hunting_queries: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._mailboxes: dict[str, dict[str, MailboxMessage]] = {}
        self._clock: Callable[[], float] = time.monotonic  # the emulator's, once attached

    # -- wiring ------------------------------------------------------------------------------------------------

    def attach(self, emulator: GraphEmulator) -> DefenderTenant:
        self.tenant_id = emulator.tenant_id
        self._clock = emulator.clock
        emulator.add_route("POST /v1.0/security/runHuntingQuery", self._hunting)
        for path in (
            "/v1.0/security/collaboration/analyzedEmails/remediate",
            "/v1.0/security/collaboration/analyzedEmails/microsoft.graph.security.remediate",
        ):
            emulator.add_route(f"POST {path}", self._remediate)
        emulator.add_route("GET /v1.0/users/{id}/messages", self._list_messages)
        emulator.add_route("POST /v1.0/users/{id}/messages/{mid}/move", self._move)
        emulator.add_route("POST /v1.0/users/{id}/messages/{mid}/microsoft.graph.move", self._move)
        emulator.add_route("POST /v1.0/users/{id}/messages/{mid}/permanentDelete", self._permanent_delete)
        emulator.add_route(
            "POST /v1.0/users/{id}/messages/{mid}/microsoft.graph.permanentDelete", self._permanent_delete
        )
        return self

    # -- seeding -----------------------------------------------------------------------------------------------

    def deliver(
        self,
        internet_message_id: str,
        *,
        sender: str,
        subject: str,
        recipients: Sequence[str],
        urls: Sequence[str] = (),
        received: datetime | None = None,
        location: str = "Inbox/folder",
        network_message_id: str | None = None,
    ) -> str:
        """One message delivered to `recipients`: returns its NetworkMessageId."""
        network_message_id = network_message_id or str(uuid.uuid4())
        when = received or datetime.now(UTC) - timedelta(hours=1)
        folder = {"Inbox/folder": "inbox", "Junk folder": "junkemail", "Deleted items": "deleteditems"}.get(
            location
        )
        with self._lock:
            for recipient in recipients:
                self.events.append(
                    {
                        "Timestamp": when,
                        "NetworkMessageId": network_message_id,
                        "InternetMessageId": internet_message_id,
                        "SenderFromAddress": sender,
                        "SenderFromDomain": sender.rpartition("@")[2],
                        "RecipientEmailAddress": recipient,
                        "Subject": subject,
                        "EmailDirection": "Inbound",
                        "DeliveryAction": "Delivered" if folder else "Blocked",
                        "DeliveryLocation": location,
                        "LatestDeliveryLocation": location,
                    }
                )
                if folder:
                    message = MailboxMessage(
                        id=_message_id(),
                        internet_message_id=internet_message_id,
                        network_message_id=network_message_id,
                        folder=folder,
                        subject=subject,
                    )
                    self._mailboxes.setdefault(recipient.lower(), {})[message.id] = message
            for url in urls:
                self.url_info.append(
                    {
                        "Timestamp": when,
                        "NetworkMessageId": network_message_id,
                        "Url": url,
                        "UrlDomain": re.sub(r"^[a-z]+://([^/]+).*$", r"\1", url, flags=re.I),
                        "UrlLocation": "Body",
                    }
                )
        return network_message_id

    def add_click(
        self,
        user: str,
        url: str,
        *,
        network_message_id: str = "",
        clicked_through: bool = False,
        action_type: str = "ClickAllowed",
        at: datetime | None = None,
    ) -> None:
        with self._lock:
            self.clicks.append(
                {
                    "Timestamp": at or datetime.now(UTC) - timedelta(minutes=30),
                    "AccountUpn": user,
                    "Url": url,
                    "ActionType": action_type,
                    "IsClickedThrough": clicked_through,
                    "Workload": "Email",
                    "IPAddress": "203.0.113.50",
                    "NetworkMessageId": network_message_id,
                }
            )

    # -- observations ------------------------------------------------------------------------------------------

    def copies(self, internet_message_id: str) -> dict[str, list[str]]:
        """Recipient -> folders of the copies of this message still in the mailbox (hard-deleted ones are gone)."""
        with self._lock:
            self._apply_due()
            found: dict[str, list[str]] = {}
            for mailbox, messages in self._mailboxes.items():
                for message in messages.values():
                    if message.internet_message_id == internet_message_id:
                        found.setdefault(mailbox, []).append(message.folder)
            return found

    def remediated_pairs(self) -> list[tuple[str, str, str]]:
        """(action, NetworkMessageId, recipient) for every pair in every remediate call, in order."""
        with self._lock:
            return [(r.action, n, rcpt) for r in self.remediations for n, rcpt in r.pairs]

    def settle(self) -> None:
        """Apply every accepted remediation now."""
        with self._lock:
            for remediation in self.remediations:
                remediation.due = 0.0
            self._apply_due()

    # -- advanced hunting --------------------------------------------------------------------------------------

    def _hunting(self, request: RecordedRequest) -> tuple[Any, ...]:
        body = request.body if isinstance(request.body, dict) else {}
        query = next((v for k, v in body.items() if k.lower() == "query"), None)
        if not isinstance(query, str) or not query.strip():
            return 400, graph_error(400, "Query is required.", "BadRequest")
        with self._lock:
            self.hunting_queries.append(query)
            self._apply_due()
            tables = {
                "EmailEvents": copy.deepcopy(self.events),
                "EmailUrlInfo": copy.deepcopy(self.url_info),
                "UrlClickEvents": copy.deepcopy(self.clicks),
            }
        try:
            rows, columns = run_kql(query, tables, now=datetime.now(UTC))
        except KqlError as error:
            return 400, graph_error(400, f"Syntax error: {error}", "BadRequest")
        return 200, {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.security.huntingQueryResults",
            "schema": [{"name": c, "type": _COLUMN_TYPES.get(c, "String")} for c in columns],
            "results": [{k: _json_value(v) for k, v in row.items()} for row in rows],
        }

    # -- remediate ---------------------------------------------------------------------------------------------

    def _remediate(self, request: RecordedRequest) -> tuple[Any, ...]:
        body = request.body if isinstance(request.body, dict) else {}
        emails = body.get("analyzedEmails")
        action = body.get("action")
        if action not in _LOCATION_AFTER:
            return 400, graph_error(400, f"Unsupported remediation action {action!r}.")
        if not isinstance(emails, list) or not emails:
            return 400, graph_error(400, "analyzedEmails must list the messages to remediate.")
        if len(emails) > REMEDIATION_LIMIT:
            return 400, graph_error(
                400, f"At most {REMEDIATION_LIMIT} emails can be remediated in one request."
            )
        pairs = []
        for item in emails:
            if (
                not isinstance(item, dict)
                or not item.get("networkMessageId")
                or not item.get("recipientEmailAddress")
            ):
                return 400, graph_error(
                    400, "Each analyzed email needs networkMessageId and recipientEmailAddress."
                )
            pairs.append((str(item["networkMessageId"]), str(item["recipientEmailAddress"])))
        bulk_id = str(uuid.uuid4())
        with self._lock:
            self.remediations.append(
                Remediation(bulk_id, action, pairs, self._clock() + self.remediation_after)
            )
        location = f'{ACTION_CENTER}?filters={{"bulkId":["{bulk_id}"]}}&tid={self.tenant_id}'
        return 202, None, {"Location": location}

    def _apply_due(self) -> None:
        """Caller holds the lock."""
        now = self._clock()
        for remediation in self.remediations:
            if remediation.applied or remediation.due > now:
                continue
            remediation.applied = True
            wanted = {(n.lower(), r.lower()) for n, r in remediation.pairs}
            for row in self.events:
                key = (row["NetworkMessageId"].lower(), row["RecipientEmailAddress"].lower())
                if key in wanted and row["LatestDeliveryLocation"] in _LOCATION_OF_FOLDER.values():
                    row["LatestDeliveryLocation"] = _LOCATION_AFTER[remediation.action]
            for network_message_id, recipient in remediation.pairs:
                messages = self._mailboxes.get(recipient.lower(), {})
                for message in list(messages.values()):
                    if message.network_message_id.lower() != network_message_id.lower():
                        continue
                    destination = _FOLDER_AFTER[remediation.action]
                    if destination is None:
                        del messages[message.id]
                    else:
                        message.folder = destination

    # -- mailbox API -------------------------------------------------------------------------------------------

    def _list_messages(self, request: RecordedRequest) -> tuple[Any, ...] | None:
        mailbox = request.path.split("/")[3].lower()
        query = {k.lower(): v for k, v in request.query.items()}
        match = re.fullmatch(r"\s*internetMessageId\s+eq\s+'((?:[^']|'')*)'\s*", query.get("$filter", ""))
        if match is None:
            return None  # not a look-up by Internet-Message-ID: the emulator's own mailboxes answer it
        wanted = match.group(1).replace("''", "'")
        with self._lock:
            self._apply_due()
            messages = self._mailboxes.get(mailbox)
            if messages is None:
                return 404, graph_error(404, f"The mailbox {mailbox} was not found.", "ErrorInvalidUser")
            found = [
                {
                    "id": m.id,
                    "internetMessageId": m.internet_message_id,
                    "parentFolderId": _folder_id(mailbox, m.folder),
                    "subject": m.subject,
                }
                for m in messages.values()
                if m.internet_message_id == wanted
            ]
        return 200, {
            "@odata.context": f"https://graph.microsoft.com/v1.0/$metadata#users('{quote(mailbox)}')/messages",
            "value": found,
        }

    def _move(self, request: RecordedRequest) -> tuple[Any, ...]:
        parts = request.path.split("/")
        mailbox, message_id = parts[3].lower(), parts[5]
        body = request.body if isinstance(request.body, dict) else {}
        destination = next((v for k, v in body.items() if k.lower() == "destinationid"), None)
        if not isinstance(destination, str) or destination.lower() not in WELL_KNOWN_FOLDERS:
            return 400, graph_error(
                400, "destinationId must be a folder the sandbox knows.", "ErrorInvalidIdMalformed"
            )
        with self._lock:
            self._apply_due()
            message = self._mailboxes.get(mailbox, {}).pop(message_id, None)
            if message is None:
                return 404, graph_error(
                    404, "The specified object was not found in the store.", "ErrorItemNotFound"
                )
            message.id = _message_id()  # a move gives the message a new id
            message.folder = destination.lower()
            self._mailboxes[mailbox][message.id] = message
            self._follow_in_events(
                mailbox, message.network_message_id, _LOCATION_OF_FOLDER.get(message.folder, "Unknown")
            )
        return 201, {
            "id": message.id,
            "internetMessageId": message.internet_message_id,
            "parentFolderId": _folder_id(mailbox, message.folder),
            "subject": message.subject,
        }

    def _permanent_delete(self, request: RecordedRequest) -> tuple[Any, ...]:
        parts = request.path.split("/")
        mailbox, message_id = parts[3].lower(), parts[5]
        with self._lock:
            self._apply_due()
            message = self._mailboxes.get(mailbox, {}).pop(message_id, None)
            if message is None:
                return 404, graph_error(
                    404, "The specified object was not found in the store.", "ErrorItemNotFound"
                )
            self._follow_in_events(mailbox, message.network_message_id, "Deleted items")
        return 204, None

    def _follow_in_events(self, mailbox: str, network_message_id: str, location: str) -> None:
        # Admin moves show in LatestDeliveryLocation too (the Email entity page: "admin actions on the message").
        for row in self.events:
            if (
                row["RecipientEmailAddress"].lower() == mailbox
                and row["NetworkMessageId"] == network_message_id
            ):
                row["LatestDeliveryLocation"] = location


def _message_id() -> str:
    return "AAMkAGI2" + uuid.uuid4().hex.upper()


def _folder_id(mailbox: str, folder: str) -> str:
    return "AQMkAD" + uuid.uuid5(uuid.NAMESPACE_URL, f"{mailbox}/{folder}").hex


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    return value


# --- the KQL interpreter ------------------------------------------------------------------------------------------


class KqlError(ValueError):
    pass


_TOKEN = re.compile(
    r"""
    (?P<space>\s+|//[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<timespan>\d+(?:d|h|m|s)\b)
  | (?P<number>\d+\b)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|=~|!=|<=|>=|[|(),;=<>])
    """,
    re.VERBOSE,
)
_STRING_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t"}
_KEYWORDS = frozenset({"let", "where", "project", "distinct", "take", "limit", "and", "or", "in", "ago"})


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    value: Any = None


def tokenize(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(query):
        match = _TOKEN.match(query, position)
        if match is None:
            raise KqlError(f"unexpected character {query[position]!r} at offset {position}")
        kind = match.lastgroup or ""
        text = match.group(0)
        position = match.end()
        if kind == "space":
            continue
        if kind == "string":
            tokens.append(_Token("string", text, _unescape(text)))
        elif kind == "timespan":
            amount, unit = int(text[:-1]), text[-1]
            tokens.append(
                _Token(
                    "timespan",
                    text,
                    timedelta(**{{"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}[unit]: amount}),
                )
            )
        elif kind == "number":
            tokens.append(_Token("number", text, int(text)))
        else:
            tokens.append(_Token(kind, text))
    return tokens


def _unescape(literal: str) -> str:
    out = []
    body = literal[1:-1]
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\":
            escaped = body[index + 1]
            if escaped not in _STRING_ESCAPES:
                raise KqlError(f"unknown escape \\{escaped} in a string literal")
            out.append(_STRING_ESCAPES[escaped])
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


class _Parser:
    def __init__(self, tokens: list[_Token], tables: dict[str, list[dict[str, Any]]], now: datetime) -> None:
        self.tokens = tokens
        self.position = 0
        self.tables = tables
        self.now = now
        self.lets: dict[str, tuple[list[dict[str, Any]], list[str]]] = {}

    # token helpers
    def peek(self, text: str | None = None, kind: str | None = None) -> bool:
        if self.position >= len(self.tokens):
            return False
        token = self.tokens[self.position]
        return (text is None or token.text == text) and (kind is None or token.kind == kind)

    def take(self, text: str | None = None, kind: str | None = None) -> _Token:
        if not self.peek(text, kind):
            found = self.tokens[self.position].text if self.position < len(self.tokens) else "end of query"
            raise KqlError(f"expected {text or kind}, found {found!r}")
        token = self.tokens[self.position]
        self.position += 1
        return token

    # statements
    def query(self) -> tuple[list[dict[str, Any]], list[str]]:
        while self.peek("let"):
            self.take("let")
            name = self.take(kind="name").text
            if name in _KEYWORDS or name in self.tables:
                raise KqlError(f"{name!r} cannot be a let name")
            self.take("=")
            self.lets[name] = self.tabular()
            self.take(";")
        result = self.tabular()
        if self.peek(";"):
            self.take(";")
        if self.position != len(self.tokens):
            raise KqlError(f"unexpected {self.tokens[self.position].text!r} after the query")
        return result

    def tabular(self) -> tuple[list[dict[str, Any]], list[str]]:
        source = self.take(kind="name").text
        if source in self.tables:
            rows = list(self.tables[source])
            columns = list(rows[0]) if rows else _KNOWN_COLUMNS.get(source, [])
            columns = list(dict.fromkeys([*_KNOWN_COLUMNS.get(source, []), *columns]))
        elif source in self.lets:
            rows, columns = self.lets[source]
        else:
            raise KqlError(f"failed to resolve table or variable {source!r}")
        while self.peek("|"):
            self.take("|")
            operator = self.take(kind="name").text
            if operator == "where":
                predicate = self.expression(columns)
                rows = [row for row in rows if predicate(row)]
            elif operator in ("project", "distinct"):
                selected = self.column_list(columns)
                rows = [{c: row.get(c) for c in selected} for row in rows]
                if operator == "distinct":
                    unique: dict[tuple, dict[str, Any]] = {}
                    for row in rows:
                        unique.setdefault(tuple(_hashable(row[c]) for c in selected), row)
                    rows = list(unique.values())
                columns = selected
            elif operator in ("take", "limit"):
                rows = rows[: self.take(kind="number").value]
            else:
                raise KqlError(f"the sandbox does not know the operator {operator!r}")
        return rows, columns

    def column_list(self, columns: list[str]) -> list[str]:
        selected = [self.column(columns)]
        while self.peek(","):
            self.take(",")
            selected.append(self.column(columns))
        return selected

    def column(self, columns: list[str]) -> str:
        name = self.take(kind="name").text
        if name not in columns:
            raise KqlError(f"failed to resolve column {name!r}")
        return name

    # predicates
    def expression(self, columns: list[str]):
        terms = [self.conjunction(columns)]
        while self.peek("or"):
            self.take("or")
            terms.append(self.conjunction(columns))
        return lambda row: any(term(row) for term in terms)

    def conjunction(self, columns: list[str]):
        terms = [self.atom(columns)]
        while self.peek("and"):
            self.take("and")
            terms.append(self.atom(columns))
        return lambda row: all(term(row) for term in terms)

    def atom(self, columns: list[str]):
        if self.peek("("):
            self.take("(")
            inner = self.expression(columns)
            self.take(")")
            return inner
        name = self.column(columns)
        if self.peek("in"):
            self.take("in")
            self.take("(")
            if self.peek(kind="name"):
                source = self.take(kind="name").text
                if source not in self.lets:
                    raise KqlError(f"failed to resolve variable {source!r}")
                rows, let_columns = self.lets[source]
                values = {_hashable(row.get(let_columns[0])) for row in rows} if let_columns else set()
            else:
                values = {self.literal()}
                while self.peek(","):
                    self.take(",")
                    values.add(self.literal())
            self.take(")")
            return lambda row: _hashable(row.get(name)) in values
        operator = self.take(kind="op").text
        if operator not in ("==", "=~", "!=", "<", ">", "<=", ">="):
            raise KqlError(f"unexpected {operator!r}")
        value = self.literal()
        return lambda row: _compare(row.get(name), operator, value)

    def literal(self) -> Any:
        if self.peek(kind="string"):
            return self.take(kind="string").value
        if self.peek(kind="number"):
            return self.take(kind="number").value
        if self.peek("ago"):
            self.take("ago")
            self.take("(")
            span = self.take(kind="timespan").value
            self.take(")")
            return self.now - span
        found = self.tokens[self.position].text if self.position < len(self.tokens) else "end of query"
        raise KqlError(f"expected a literal, found {found!r}")


_KNOWN_COLUMNS = {
    "EmailEvents": [
        "Timestamp",
        "NetworkMessageId",
        "InternetMessageId",
        "SenderFromAddress",
        "SenderFromDomain",
        "RecipientEmailAddress",
        "Subject",
        "EmailDirection",
        "DeliveryAction",
        "DeliveryLocation",
        "LatestDeliveryLocation",
    ],
    "EmailUrlInfo": ["Timestamp", "NetworkMessageId", "Url", "UrlDomain", "UrlLocation"],
    "UrlClickEvents": [
        "Timestamp",
        "AccountUpn",
        "Url",
        "ActionType",
        "IsClickedThrough",
        "Workload",
        "IPAddress",
        "NetworkMessageId",
    ],
}


def _hashable(value: Any) -> Any:
    return value if not isinstance(value, list | dict) else repr(value)


def _compare(left: Any, operator: str, right: Any) -> bool:
    if operator == "=~":
        return isinstance(left, str) and isinstance(right, str) and left.lower() == right.lower()
    if operator == "==":
        return left == right
    if operator == "!=":
        return left != right
    try:
        return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[operator]
    except TypeError:
        return False


def run_kql(
    query: str, tables: dict[str, list[dict[str, Any]]], *, now: datetime
) -> tuple[list[dict], list[str]]:
    """Rows and column names of `query` over `tables` (name -> rows)."""
    return _Parser(tokenize(query), tables, now).query()


def string_literals(query: str) -> list[str]:
    """The decoded string literals of a query, in order (for tests that check what reached the endpoint)."""
    return [token.value for token in tokenize(query) if token.kind == "string"]
