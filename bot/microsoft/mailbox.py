"""The reporter's own mailbox, through Microsoft Graph (application permission Mail.Read): their recent emails
for the report modal, one of them as MIME, the original of an email they forwarded inline, and the originals of
messages reported with Outlook's Report button (found by Internet-Message-ID).

Mail.Read is optional. When Graph answers 403 for it, phishbot remembers that for an hour and offers neither
the recent-emails choice nor the search for originals (a forward is then submitted as it arrived, a
Report-button card shows what Microsoft's submission says); after an hour it asks again, so granting the
permission takes effect without a restart.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import NoReturn, TypeVar

from bot.email import ForwardedOriginal, is_outlook_msg, looks_like_email
from bot.microsoft.errors import GraphError
from bot.microsoft.graph import GraphClient
from bot.microsoft.outlook import MAIL_READ_PERMISSION, MailboxMessage

log = logging.getLogger(__name__)

FORGET_DENIAL_AFTER = 3600.0

_Answer = TypeVar("_Answer")


class MailAccessDenied(Exception):
    """Graph refused mailbox access (no Mail.Read for the app, or the mailbox is out of its scope)."""


class ReporterMailboxes:
    def __init__(
        self,
        graph: GraphClient,
        *,
        max_bytes: int,
        clock: Callable[[], float] = time.monotonic,
        forget_denial_after: float = FORGET_DENIAL_AFTER,
    ) -> None:
        self._graph = graph
        self._max_bytes = max_bytes
        self._clock = clock
        self._forget_after = forget_denial_after
        self._denied_until = 0.0
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        """False while a 403 for Mail.Read is remembered."""
        with self._lock:
            return self._clock() >= self._denied_until

    def _call(self, work: Callable[[], _Answer]) -> _Answer:
        if not self.available:
            raise MailAccessDenied("mailbox access was refused recently")
        try:
            return work()
        except GraphError as exc:
            if exc.status == 403:
                self._refused(exc)
            raise

    def _refused(self, exc: GraphError) -> NoReturn:
        with self._lock:
            self._denied_until = self._clock() + self._forget_after
        log.warning(
            "Graph refused mailbox access (%s); the recent-emails choice, the search for forwarded originals and "
            "reading the originals of Report-button reports are off for %d min. Grant the application permission "
            "Mail.Read to use them.",
            exc.code or "403",
            int(self._forget_after // 60),
        )
        raise MailAccessDenied(str(exc)) from None

    def recent(self, mailbox: str, count: int = 15) -> list[MailboxMessage]:
        """The newest emails the person received. Raises MailAccessDenied or GraphError."""
        return self._call(lambda: self._graph.recent_messages(mailbox, count=count))

    def mime(self, mailbox: str, message_id: str) -> bytes:
        """One message of the person's mailbox as MIME. Raises MailAccessDenied or GraphError."""
        return self._call(lambda: self._graph.message_mime(mailbox, message_id, max_bytes=self._max_bytes))

    def originals(self, wanted: Sequence[tuple[str, str, str]]) -> dict[str, bytes]:
        """For each (key, mailbox, Internet-Message-ID): the message's MIME from that mailbox, where it is found
        (messages reported with the Report button, read back for the card). The look-ups go 20 to a ``$batch``;
        a key missing from the answer was not found or not readable (MailAccessDenied: none can be read)."""
        if not wanted:
            return {}
        found = self._call(lambda: self._graph.find_mailbox_messages(wanted, permission=MAIL_READ_PERMISSION))
        if any(isinstance(answer, GraphError) and answer.status == 403 for answer in found.values()):
            self._refused(next(a for a in found.values() if isinstance(a, GraphError)))
        mailboxes = {key: mailbox for key, mailbox, _ in wanted}
        originals: dict[str, bytes] = {}
        for key, answer in found.items():
            if isinstance(answer, GraphError):
                log.info("an original was not looked up in its mailbox: %s", answer)
                continue
            if not answer:
                continue
            try:
                raw = self.mime(mailboxes[key], str(answer[0]["id"]))
            except GraphError as exc:
                log.info("an original was found but not read from its mailbox: %s", exc)
                continue
            if looks_like_email(raw) or is_outlook_msg(raw):
                originals[key] = raw
        return originals

    def find_original(self, mailbox: str, forwarded: ForwardedOriginal) -> bytes | None:
        """The MIME of the message a forward's header block describes, from the forwarder's mailbox; None when
        it cannot be searched for or found (or Graph cannot be asked)."""
        window = forwarded.window()
        if window is None or not (forwarded.subject or forwarded.sender_address):
            return None
        searches: list[tuple[str | None, str | None]] = []  # (subject, sender)
        if forwarded.subject and forwarded.sender_address:
            searches.append((forwarded.subject, forwarded.sender_address))
        if forwarded.subject:
            searches.append((forwarded.subject, None))
        else:
            searches.append((None, forwarded.sender_address))
        try:
            for subject, sender in searches:
                found = self._call(
                    partial(
                        self._graph.search_messages,
                        mailbox,
                        received_after=window[0],
                        received_before=window[1],
                        subject=subject,
                        sender=sender,
                    )
                )
                best = _closest(found, forwarded)
                if best is None:
                    continue
                raw = self.mime(mailbox, best.id)
                if looks_like_email(raw) or is_outlook_msg(raw):
                    return raw
                log.warning("the mailbox copy of a forwarded original is not MIME; not used")
                return None
        except MailAccessDenied:
            return None
        except GraphError as exc:
            log.warning("could not search the mailbox for a forwarded original: %s", exc)
            return None
        return None


def _closest(candidates: list[MailboxMessage], forwarded: ForwardedOriginal) -> MailboxMessage | None:
    """The candidate received nearest the forward's stated time (a naive time is read as UTC: the window
    allowed a day either way)."""
    if not candidates:
        return None
    sent = forwarded.sent_at
    if sent is None:
        return candidates[0]
    sent = sent.replace(tzinfo=UTC) if sent.tzinfo is None else sent.astimezone(UTC)

    def distance(message: MailboxMessage) -> float:
        received = message.received_at or datetime.max.replace(tzinfo=UTC)
        return abs((received - sent).total_seconds())

    return min(candidates, key=distance)
