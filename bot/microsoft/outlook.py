"""Outlook mailboxes through Graph (``/users/{id}/messages``): finding the copies of a phish and moving or
deleting them (many mailboxes at once, in ``$batch``), and the reporter's own recent emails, a search among
them, and one of them as MIME.

Every value that enters an OData ``$filter`` passes through `odata_string`; every mailbox address and message
id that enters a path is encoded, so none can turn into another Graph path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

from bot.microsoft.batch import BatchCall
from bot.microsoft.errors import GraphError, short
from bot.microsoft.transport import GraphTransport, path_segment

_MAIL_PERMISSION = "Mail.ReadWrite"
MAIL_READ_PERMISSION = "Mail.Read"  # the reporter's own mailbox: recent emails, the original of a forward
_MESSAGE_FIELDS = "id,subject,from,receivedDateTime,internetMessageId,isDraft"
# Outlook serves at most four concurrent requests per app and mailbox, $batch included (throttling limits).
OUTLOOK_CONCURRENCY_PER_MAILBOX = 4
PERMANENT_DELETE = "permanentDelete"  # the "destination" that means POST .../permanentDelete


@dataclass(frozen=True)
class MailboxMessage:
    """One message of a person's mailbox, as listed (no body)."""

    id: str
    subject: str
    sender_name: str
    sender_address: str
    received_at: datetime | None
    internet_message_id: str | None
    is_draft: bool = False


class OutlookMail:
    """The mailbox endpoints of GraphClient."""

    _transport: GraphTransport

    def find_mailbox_messages(
        self, wanted: Sequence[tuple[str, str, str]], *, permission: str = _MAIL_PERMISSION
    ) -> dict[str, list[dict] | GraphError]:
        """For each (key, mailbox, Internet-Message-ID): the messages with that id in the mailbox (whole mailbox,
        Deleted Items included), in ``$batch`` envelopes with at most four requests per mailbox. `permission` is
        the one a refusal names (finding to purge needs Mail.ReadWrite; finding to read, Mail.Read)."""
        calls = []
        for key, mailbox, internet_message_id in wanted:
            query = f"$filter={quote('internetMessageId eq ' + odata_string(internet_message_id), safe='')}"
            query += "&$select=id,internetMessageId,parentFolderId"
            calls.append(
                BatchCall(
                    key=key,
                    method="GET",
                    url=f"/users/{_mailbox(mailbox)}/messages?{query}",
                    group=mailbox.lower(),
                    operation=f"GET messages of {short(mailbox)} in $batch",
                )
            )
        answers = self._transport.batch(
            calls, permission=permission, per_group=OUTLOOK_CONCURRENCY_PER_MAILBOX
        )
        found: dict[str, list[dict] | GraphError] = {}
        for key, answer in answers.items():
            if isinstance(answer, GraphError):
                found[key] = answer
            else:
                found[key] = [m for m in answer.get("value") or [] if isinstance(m, dict) and m.get("id")]
        return found

    def act_on_mailbox_messages(
        self, actions: Sequence[tuple[str, str, str, str]]
    ) -> dict[str, dict | GraphError]:
        """For each (key, mailbox, message id, destination): move the message to a well-known folder
        (``deleteditems``, ``junkemail``, ``recoverableitemsdeletions``, ``inbox``), or permanently delete it
        when the destination is ``PERMANENT_DELETE``. A move answers the moved message (with its new id)."""
        calls = []
        for key, mailbox, message_id, destination in actions:
            base = f"/users/{_mailbox(mailbox)}/messages/{path_segment(message_id)}"
            if destination == PERMANENT_DELETE:
                calls.append(
                    BatchCall(
                        key=key,
                        method="POST",
                        url=f"{base}/permanentDelete",
                        group=mailbox.lower(),
                        operation=f"POST permanentDelete in {short(mailbox)} in $batch",
                    )
                )
            else:
                calls.append(
                    BatchCall(
                        key=key,
                        method="POST",
                        url=f"{base}/move",
                        body={"destinationId": destination},
                        group=mailbox.lower(),
                        operation=f"POST move to {destination} in {short(mailbox)} in $batch",
                    )
                )
        return self._transport.batch(
            calls, permission=_MAIL_PERMISSION, per_group=OUTLOOK_CONCURRENCY_PER_MAILBOX
        )

    def recent_messages(self, mailbox: str, *, count: int = 15) -> list[MailboxMessage]:
        """The newest messages the person received (drafts and what they sent themselves left out)."""
        path = f"/v1.0/users/{_mailbox(mailbox)}/messages"
        answer = self._transport.send(
            "GET",
            path,
            params={
                "$top": str(min(max(count, 1) * 2, 50)),
                "$orderby": "receivedDateTime desc",
                "$select": _MESSAGE_FIELDS,
            },
            label="GET /v1.0/users/{id}/messages",
            permission=MAIL_READ_PERMISSION,
        )
        own = mailbox.strip().lower()
        found = [
            message
            for message in _mailbox_messages(answer)
            if not message.is_draft and message.sender_address.lower() != own
        ]
        return found[:count]

    def search_messages(
        self,
        mailbox: str,
        *,
        received_after: datetime,
        received_before: datetime,
        subject: str | None = None,
        sender: str | None = None,
        count: int = 10,
    ) -> list[MailboxMessage]:
        """Messages in the mailbox received in the interval, with exactly this subject and/or sender."""
        clauses = [
            f"receivedDateTime ge {_odata_datetime(received_after)}",
            f"receivedDateTime le {_odata_datetime(received_before)}",
        ]
        if subject:
            clauses.append(f"subject eq {odata_string(subject)}")
        if sender:
            clauses.append(f"from/emailAddress/address eq {odata_string(sender)}")
        path = f"/v1.0/users/{_mailbox(mailbox)}/messages"
        answer = self._transport.send(
            "GET",
            path,
            params={
                "$filter": " and ".join(clauses),
                "$top": str(min(max(count, 1), 50)),
                "$select": _MESSAGE_FIELDS,
            },
            label="GET /v1.0/users/{id}/messages",
            permission=MAIL_READ_PERMISSION,
        )
        return _mailbox_messages(answer)

    def message_mime(self, mailbox: str, message_id: str, *, max_bytes: int) -> bytes:
        """The message as Exchange holds it, in MIME (``$value``): what a threat submission takes."""
        path = f"/v1.0/users/{_mailbox(mailbox)}/messages/{path_segment(message_id)}/$value"
        received: list[bytes] = []
        self._transport.send(
            "GET",
            path,
            headers={"Accept": "*/*"},
            label="GET /v1.0/users/{id}/messages/{id}/$value",
            permission=MAIL_READ_PERMISSION,
            raw_content=received,
        )
        content = received[0] if received else b""
        if len(content) > max_bytes:
            raise GraphError(
                f"the message in the mailbox is larger than {max_bytes // (1024 * 1024)} MB",
                code="messageTooLarge",
                operation="GET message $value",
            )
        return content


def odata_string(value: str) -> str:
    """An OData string literal: in single quotes, each quote inside doubled. The one place any value (an
    attacker's subject, an Internet-Message-ID) enters a $filter; the query string is URL-encoded by httpx."""
    return "'" + str(value).replace("'", "''") + "'"


def _odata_datetime(moment: datetime) -> str:
    moment = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _mailbox_messages(answer: dict) -> list[MailboxMessage]:
    messages = []
    for item in answer.get("value") or []:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            continue
        sender = (
            ((item.get("from") or {}).get("emailAddress") or {}) if isinstance(item.get("from"), dict) else {}
        )
        received = None
        if isinstance(item.get("receivedDateTime"), str):
            try:
                received = datetime.fromisoformat(item["receivedDateTime"].replace("Z", "+00:00"))
            except ValueError:
                received = None
        messages.append(
            MailboxMessage(
                id=item["id"],
                subject=str(item.get("subject") or ""),
                sender_name=str(sender.get("name") or "") if isinstance(sender, dict) else "",
                sender_address=str(sender.get("address") or "") if isinstance(sender, dict) else "",
                received_at=received,
                internet_message_id=item.get("internetMessageId")
                if isinstance(item.get("internetMessageId"), str)
                else None,
                is_draft=item.get("isDraft") is True,
            )
        )
    return messages


def _mailbox(address: str) -> str:
    if not address or not address.strip():
        raise ValueError("mailbox address is empty")
    # Recipient addresses come from Microsoft's own data, but are encoded all the same: an address must never
    # turn into another Graph path.
    return quote(address.strip(), safe="@")
