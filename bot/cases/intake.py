"""Taking a report in, through every door, into one case.

The doors: `/report-phish <url>`; the report modal (an .eml/.msg upload, a link, or one of the reporter's
recent emails read through Graph); the "Report as phishing" message shortcut (on an emailed message, on a
message with .eml/.msg files, or on a message with links); an .eml/.msg uploaded into an intake channel; and an
email forwarded into an intake channel through Slack's Email app.

Every door ends in `_open`: the case is recorded (deduplicated by the store), the reporter hears at once what
happens next, in their language, the card appears in the SOC channel, and the submission is sent. If
Microsoft is not reachable, the submission stays queued in the store and the sweep sends it later: nothing is
lost.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from email.header import Header
from email.utils import formataddr, parseaddr
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot.cases.submissions import FollowUp
from bot.domain import CaseKind, CaseStatus, Category, Door
from bot.email import ParseError, find_forwarded_original, read_report
from bot.microsoft import GraphError, MailAccessDenied, ReporterMailboxes
from bot.runtime.logs import case_context
from bot.runtime.metrics import Metrics
from bot.slack import cards
from bot.slack import i18n as messages
from bot.slack.directory import SlackDirectory, is_slack_user, stand_in_id
from bot.slack.errors import ReportProblem, explain
from bot.slack.files import SlackFiles
from bot.slack.notifier import SlackNotifier
from bot.store import Cases, CommitUncertain, NewReport, OpenedCase, Reporters

log = logging.getLogger(__name__)

Reply = Callable[[str, list[dict]], None]

MAX_URL_LENGTH = 2048
MAX_NOTE_LENGTH = 2000
REPORTABLE_EXTENSIONS = (".eml", ".msg")
EMAIL_TYPES = frozenset({"message/rfc822", "application/vnd.ms-outlook"})
MAX_FILES_PER_MESSAGE = 5
MAX_LINKS_PER_SHORTCUT = 10
SLACKBOT = "USLACKBOT"
FINISHED = frozenset({CaseStatus.VERDICT, CaseStatus.GAVE_UP, CaseStatus.DISMISSED})
_MAX_PLAIN_TEXT = 1024 * 1024


@dataclass(frozen=True)
class Reporter:
    user_id: str
    channel_id: str | None


class Intake:
    def __init__(
        self,
        *,
        cases: Cases,
        reporters: Reporters,
        client: WebClient,
        notifier: SlackNotifier,
        follow_up: FollowUp,
        files: SlackFiles,
        intake_channels: frozenset[str],
        directory: SlackDirectory,
        mailboxes: ReporterMailboxes,
        max_upload_mb: int = 25,
        metrics: Metrics | None = None,
    ) -> None:
        self._cases = cases
        self._reporters = reporters
        self._client = client
        self._notifier = notifier
        self._follow_up = follow_up
        self._files = files
        self._intake_channels = intake_channels
        self._directory = directory
        self._mailboxes = mailboxes
        self._max_upload_mb = max_upload_mb
        self._metrics = metrics

    # --- doors ------------------------------------------------------------------------------------------------

    def report_url(
        self,
        reporter: Reporter,
        text: str,
        reply: Reply,
        *,
        category: Category = Category.PHISHING,
        note: str = "",
        door: Door = Door.SLASH_URL,
    ) -> OpenedCase | None:
        language = self._directory.language_of(reporter.user_id)
        try:
            url = normalize_reported_url(text)
        except ReportProblem as problem:
            reply(*cards.notice(problem.words(language)))
            return None
        report = NewReport(
            dedupe_key="url:" + url,
            kind=CaseKind.URL,
            category=category,
            door=door.value,
            reporter_id=reporter.user_id,
            reporter_email=self._email_if_any(reporter.user_id),
            channel_id=reporter.channel_id,
            subject=url[:500],
            note=note[:MAX_NOTE_LENGTH],
            url=url,
        )
        return self._open(report, reply, language)

    def report_email(
        self,
        reporter: Reporter,
        raw: bytes,
        reply: Reply,
        *,
        door: Door,
        category: Category = Category.PHISHING,
        note: str = "",
        recipient: str | None = None,
        provenance: str = "",
        notes: tuple[str, ...] = (),
    ) -> OpenedCase | None:
        """Report raw email bytes (.eml or .msg). `recipient`: whose mailbox received it, when that is not the
        reporter's own (an Email-app forward: the forwarder); `provenance`: for the card, how the bytes were
        found; `notes`: further sentences for the reporter's acknowledgement (in their language)."""
        language = self._directory.language_of(reporter.user_id)
        try:
            try:
                message, submitted = read_report(raw, max_bytes=self._files.max_bytes)
            except ParseError as exc:
                raise ReportProblem("email.unreadable", reason=_parse_reason(exc)) from None
            email = recipient or self._reporter_email(reporter.user_id)
        except ReportProblem as problem:
            log.info("report from %s refused: %s", reporter.user_id, problem)
            reply(*cards.notice(problem.words(language)))
            return None
        if provenance:
            message = replace(message, provenance=provenance)
        report = NewReport(
            dedupe_key=message.dedupe_key,
            kind=CaseKind.EMAIL,
            category=category,
            door=door.value,
            reporter_id=reporter.user_id,
            reporter_email=email,
            channel_id=reporter.channel_id,
            subject=message.original.subject[:500],
            note=note[:MAX_NOTE_LENGTH],
            message=message,
            # A report that wraps the phish (forwarded as an attachment): Microsoft gets the phish itself.
            raw=submitted,
        )
        return self._open(report, reply, language, notes=notes)

    def report_slack_file(
        self,
        reporter: Reporter,
        file: dict,
        reply: Reply,
        *,
        door: Door,
        category: Category = Category.PHISHING,
        note: str = "",
    ) -> OpenedCase | None:
        try:
            file = self._file_info(file)
            raw = self._files.download(file)
        except ReportProblem as problem:
            log.info("file from %s refused: %s", reporter.user_id, problem)
            reply(*cards.notice(problem.words(self._directory.language_of(reporter.user_id))))
            return None
        return self.report_email(reporter, raw, reply, door=door, category=category, note=note)

    def report_from_mailbox(
        self,
        reporter: Reporter,
        message_id: str,
        reply: Reply,
        *,
        category: Category = Category.PHISHING,
        note: str = "",
    ) -> OpenedCase | None:
        """One of the reporter's recent emails, picked in the report modal: its MIME from their mailbox."""
        language = self._directory.language_of(reporter.user_id)
        try:
            mailbox = self._reporter_email(reporter.user_id)
            try:
                raw = self._mailboxes.mime(mailbox, message_id)
            except MailAccessDenied:
                raise ReportProblem("mailbox.unavailable") from None
            except GraphError as exc:
                log.warning("could not fetch a picked email of %s: %s", reporter.user_id, exc)
                if exc.status in (400, 404):
                    raise ReportProblem("mailbox.gone") from None
                raise ReportProblem(explain(exc, language)) from None
        except ReportProblem as problem:
            reply(*cards.notice(problem.words(language)))
            return None
        return self.report_email(reporter, raw, reply, door=Door.MAILBOX, category=category, note=note)

    def report_from_message(self, reporter: Reporter, message: dict, reply: Reply) -> None:
        """The "Report as phishing" shortcut on a Slack message: the emails in it (an Email-app message, or
        .eml/.msg files), else each of its links (each once, at most MAX_LINKS_PER_SHORTCUT)."""
        files = [f for f in (message.get("files") or []) if isinstance(f, dict)]
        emailed = [f for f in files if _is_email_app_file(f)]
        uploads = [f for f in files if not _is_email_app_file(f) and _is_reportable_upload(f)]
        if emailed or uploads:
            for file in emailed[:MAX_FILES_PER_MESSAGE]:
                self._report_emailed_file(
                    file, channel_id=reporter.channel_id, thread_ts=None, runner=reporter, reply=reply
                )
            for file in uploads[:MAX_FILES_PER_MESSAGE]:
                self.report_slack_file(reporter, file, reply, door=Door.SHORTCUT)
            return
        language = self._directory.language_of(reporter.user_id)
        links = links_in_message(message)
        if not links:
            reply(*cards.notice(messages.text(language, "shortcut.nothing")))
            return
        # One answer for all the links, not one message per link.
        answers: list[dict] = []
        texts: list[str] = []

        def collect(text: str, blocks: list[dict]) -> None:
            texts.append(text)
            answers.extend(blocks)

        for link in links[:MAX_LINKS_PER_SHORTCUT]:
            self.report_url(reporter, link, collect, door=Door.SHORTCUT)
        if len(links) > MAX_LINKS_PER_SHORTCUT:
            text, blocks = cards.notice(
                messages.text(language, "ack.links_capped", shown=MAX_LINKS_PER_SHORTCUT, count=len(links))
            )
            collect(text, blocks)
        if answers:
            reply("\n".join(texts)[:3000], _numbered_blocks(answers))

    def on_message_with_files(self, event: dict) -> None:
        """A message with files in an intake channel: an email forwarded by Slack's Email app (reported by the
        Slack user behind the sender address), or .eml/.msg files (reported by the uploader)."""
        channel_id = event.get("channel")
        user_id = event.get("user")
        if channel_id not in self._intake_channels or not user_id:
            return
        files = [f for f in (event.get("files") or []) if isinstance(f, dict)]
        emailed = [f for f in files if _is_email_app_file(f)]
        if emailed:
            for file in emailed[:MAX_FILES_PER_MESSAGE]:
                self._report_emailed_file(
                    file, channel_id=channel_id, thread_ts=event.get("ts"), runner=None, reply=None
                )
            return
        if user_id == SLACKBOT:
            return
        reporter = Reporter(user_id=user_id, channel_id=channel_id)

        def reply(text: str, blocks: list[dict]) -> None:
            self._notifier.ephemeral(channel_id, user_id, text, blocks)

        for file in [f for f in files if _is_reportable_upload(f)][:MAX_FILES_PER_MESSAGE]:
            self.report_slack_file(reporter, file, reply, door=Door.UPLOAD)

    # --- the report modal -------------------------------------------------------------------------------------

    def language_of(self, user_id: str) -> str:
        return self._directory.language_of(user_id)

    @property
    def offers_recent_emails(self) -> bool:
        return self._mailboxes.available

    def report_form(self, *, channel_id: str | None, loading: bool) -> dict:
        """The report modal as it opens: with "Looking for your recent emails…" when `loading`."""
        return cards.report_modal(
            max_upload_mb=self._max_upload_mb,
            recent=cards.RECENT_LOADING if loading else None,
            metadata={"channel_id": channel_id},
        )

    def fill_report_form(
        self, user_id: str, view_id: str, view_hash: str | None, channel_id: str | None
    ) -> None:
        """After the modal opened: list the person's recent emails in it (or drop the choice when their
        mailbox cannot be read)."""
        recent = None
        tz_offset = 0
        try:
            person = self._directory.person(user_id)
            tz_offset = person.tz_offset
            if person.email and not person.is_bot:
                recent = self._mailboxes.recent(person.email)
        except MailAccessDenied:
            recent = None
        except (GraphError, SlackApiError) as exc:
            log.warning("recent emails of %s not listed: %s", user_id, type(exc).__name__)
            recent = None
        view = cards.report_modal(
            max_upload_mb=self._max_upload_mb,
            recent=recent,
            tz_offset=tz_offset,
            metadata={"channel_id": channel_id},
        )
        try:
            self._client.views_update(view_id=view_id, hash=view_hash, view=view)
        except SlackApiError as exc:
            # hash_conflict: the person moved on (submitted, closed); nothing to update.
            log.info("report modal not updated (%s)", exc.response.get("error"))

    # --- Slack's Email app ------------------------------------------------------------------------------------

    def _report_emailed_file(
        self,
        file: dict,
        *,
        channel_id: str | None,
        thread_ts: str | None,
        runner: Reporter | None,
        reply: Reply | None,
    ) -> OpenedCase | None:
        """An email that reached Slack through the Email app. Its reporter is the person who ran the shortcut,
        else the Slack user behind the sender address (the person who forwarded it)."""
        try:
            info = self._file_info(file, always=True)
        except ReportProblem as problem:
            log.warning("an emailed file could not be read: %s", problem)
            if runner is not None and reply is not None:
                reply(*cards.notice(problem.words(self._directory.language_of(runner.user_id))))
            return None
        forwarder = _first_address(info.get("from"))
        forwarder_id = None
        if forwarder:
            try:
                forwarder_id = self._directory.user_for_email(forwarder)
            except SlackApiError as exc:
                log.warning("users.lookupByEmail failed: %s", exc.response.get("error"))
        if runner is not None:
            reporter = runner
        elif forwarder_id is not None:
            reporter = Reporter(user_id=forwarder_id, channel_id=channel_id)
        else:
            reporter = Reporter(user_id=stand_in_id(forwarder), channel_id=channel_id)
            if channel_id:
                self._notifier.channel_notice(
                    channel_id,
                    f"phishbot reported this email, but no Slack user has the sender's address "
                    f"({forwarder or 'none given'}), so nobody will be told the outcome. Forward suspicious "
                    "email from the address you use in Slack.",
                    thread_ts=thread_ts,
                )
        language = self._directory.language_of(reporter.user_id)
        raw, provenance, notes = self._emailed_content(info, mailbox=forwarder, language=language)
        if reply is None:
            target_channel = channel_id

            def reply(text: str, blocks: list[dict]) -> None:
                if is_slack_user(reporter.user_id):  # not an unmatched address: someone to tell
                    self._notifier.ephemeral(target_channel, reporter.user_id, text, blocks)

        opened = self.report_email(
            reporter,
            raw,
            reply,
            door=Door.SHORTCUT if runner is not None else Door.EMAIL_APP,
            recipient=forwarder or None,
            provenance=provenance,
            notes=notes,
        )
        if opened is not None and not is_slack_user(reporter.user_id):
            self._store_outcome_told(opened.case_id, reporter.user_id)
        return opened

    def _emailed_content(
        self, info: dict, *, mailbox: str, language: str
    ) -> tuple[bytes, str, tuple[str, ...]]:
        """(bytes to report, provenance for the card, notes for the reporter) of an Email-app file."""
        # 1. Slack's own copy, should it be the raw message (undocumented; an HTML rendering is not used).
        copy = self._files.email_copy(info.get("url_private_download"))
        # 2. Forwarded as an attachment: the attached original is the report.
        for attachment in (info.get("attachments") or [])[:MAX_FILES_PER_MESSAGE]:
            if not isinstance(attachment, dict):
                continue
            name = str(attachment.get("filename") or attachment.get("name") or "").lower()
            kind = str(attachment.get("mimetype") or "").lower()
            if name.endswith(REPORTABLE_EXTENSIONS) or kind in EMAIL_TYPES:
                size = attachment.get("size")
                if isinstance(size, int) and size > self._files.max_bytes:
                    continue
                original = self._files.email_copy(attachment.get("url"))
                if original is not None:
                    return original, "Forwarded as an attachment; the attached original was submitted.", ()
        if copy is not None:
            try:
                if read_report(copy, max_bytes=self._files.max_bytes)[0].inner is not None:
                    return copy, "Forwarded as an attachment; the attached original was submitted.", ()
            except ParseError:
                copy = None
        # 3. Forwarded inline: find the original in the forwarder's mailbox by what the forward says of it.
        text = str(info.get("plain_text") or "")[:_MAX_PLAIN_TEXT]
        forwarded = find_forwarded_original(text)
        if forwarded is not None:
            found = None
            reason = "phishbot cannot read mailboxes (no Mail.Read permission)"
            if not mailbox:
                reason = "the forward names no sender address"
            elif not forwarded.searchable:
                reason = "the forward's header block gives no subject or sender and time to search by"
            elif self._mailboxes.available:
                found = self._mailboxes.find_original(mailbox, forwarded)
                sender = forwarded.sender_address or "that sender"
                reason = f"no message from {sender} with that subject around that time"
            if found is not None:
                return (
                    found,
                    f"Forwarded inline by {mailbox}; the original was found in their mailbox and submitted.",
                    (),
                )
            return (
                copy or _rebuild_forward(info),
                f"Forwarded inline by {mailbox or 'an unknown sender'}; the original was not found in their "
                f"mailbox ({reason}), so the forward as Slack received it was submitted: its headers are the "
                "forwarder's, not the attacker's.",
                (messages.text(language, "ack.original_not_found"),),
            )
        # 4. Sent to the channel directly: all there is, is Slack's copy.
        if copy is not None:
            return copy, "", ()
        return (
            _rebuild_forward(info),
            "Emailed to the channel; rebuilt from Slack's copy (Slack does not pass on the original headers).",
            (),
        )

    # --- shared ------------------------------------------------------------------------------------------------

    def _open(
        self, report: NewReport, reply: Reply, language: str, *, notes: tuple[str, ...] = ()
    ) -> OpenedCase | None:
        try:
            opened = self._cases.open_case(report)
        except (SQLAlchemyError, CommitUncertain) as exc:
            # The store already waited out a restart or fail-over (RECONNECT_SECONDS); past that, the reporter must
            # hear that nothing was recorded rather than nothing at all. Reported again, it joins the case if this
            # attempt did commit after all.
            log.error(
                "report from %s not recorded: database unavailable (%s)",
                report.reporter_id,
                type(exc).__name__,
            )
            reply(*cards.notice(messages.text(language, "error.database")))
            return None
        if self._metrics is not None:
            self._metrics.report(
                report.door, "new" if opened.created else "joined" if opened.joined else "repeat"
            )
        # Every line logged for this report, down to the card and the submission, names the case.
        with case_context(opened.case_id):
            if opened.created:
                log.info("case %s opened by %s (%s)", opened.case_id, report.reporter_id, report.door)
                view = self._cases.case_view(opened.case_id)
                reply(*cards.reporter_ack(view, joined=False, language=language, notes=notes))
                self._notifier.sync_card(opened.case_id)
                assert opened.submission_id is not None  # a new case always has its submission queued
                self._follow_up.send(opened.submission_id)
            elif opened.joined:
                log.info("case %s joined by %s", opened.case_id, report.reporter_id)
                view = self._cases.case_view(opened.case_id)
                if view.status in FINISHED:
                    # The acknowledgement carries the outcome: the reporter is not told it a second time.
                    self._store_outcome_told(opened.case_id, report.reporter_id)
                reply(*cards.reporter_ack(view, joined=True, language=language, notes=notes))
                self._notifier.sync_card(opened.case_id)
            else:
                reply(*cards.notice(messages.text(language, "ack.already")))
        return opened

    def _store_outcome_told(self, case_id: int, user_id: str) -> None:
        for reporter in self._reporters.reporters_to_tell(case_id):
            if reporter.user_id == user_id:
                self._reporters.claim_reporter_outcome(reporter.reporter_row_id)

    def _reporter_email(self, user_id: str) -> str:
        """The reporter's mailbox address, or ReportProblem (a guest or bot has none)."""
        try:
            person = self._directory.person(user_id)
        except SlackApiError as exc:
            log.warning("users.info failed for %s: %s", user_id, exc.response.get("error"))
            raise ReportProblem("error.slack") from None
        if not person.email or person.is_bot:
            raise ReportProblem("reporter.no_email")
        return person.email

    def _email_if_any(self, user_id: str) -> str | None:
        try:
            return self._reporter_email(user_id)
        except ReportProblem:
            return None

    def _file_info(self, file: dict, *, always: bool = False) -> dict:
        """The authoritative file object: events and view states may carry a stub (Slack Connect, file_input);
        an Email-app file's fields (from, plain_text, attachments) are only trusted from files.info."""
        if (
            not always
            and file.get("url_private_download")
            and file.get("mode") not in {"file_access", "tombstone"}
        ):
            return file
        try:
            return self._client.files_info(file=file["id"])["file"]
        except (SlackApiError, KeyError, TypeError):
            raise ReportProblem("file.not_visible") from None


# --- helpers ------------------------------------------------------------------------------------------------


def _is_email_app_file(file: dict) -> bool:
    return file.get("mode") == "email" or file.get("filetype") == "email"


def _is_reportable_upload(file: dict) -> bool:
    name = str(file.get("name") or "").lower()
    return name.endswith(REPORTABLE_EXTENSIONS)


def _first_address(addresses: Any) -> str:
    if not isinstance(addresses, list):
        return ""
    for item in addresses:
        if isinstance(item, dict):
            address = str(item.get("address") or "").strip().lower()
            if "@" in address and len(address) <= 320 and not re.search(r"[\s<>,;]", address):
                return address
    return ""


def _parse_reason(exc: ParseError) -> messages.Phrase:
    if exc.reason == "too_large":
        return messages.Phrase(
            "parse.too_large", {"size": _size_words(exc.size), "limit": _size_words(exc.limit)}
        )
    return messages.Phrase(f"parse.{exc.reason}")


def _size_words(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _numbered_blocks(blocks: list[dict]) -> list[dict]:
    """Answers collected from several reports, as one message: block ids made unique, at most 50 blocks."""
    out = []
    for index, block in enumerate(blocks[:50]):
        block = dict(block)
        if "block_id" in block:
            block["block_id"] = f"{block['block_id']}_{index}"
        out.append(block)
    return out


def _header_line(name: str, value: str) -> str | None:
    value = re.sub(r"[\x00-\x1f\x7f]+", " ", value).strip()[:998]
    if not value:
        return None
    if not value.isascii():
        value = Header(value, "utf-8").encode(maxlinelen=998)
    return f"{name}: {value}"


def _address_header(addresses: Any) -> str:
    shown = []
    for item in (addresses if isinstance(addresses, list) else [])[:50]:
        if not isinstance(item, dict):
            continue
        original = str(item.get("original") or "")
        name, address = parseaddr(original) if original else ("", "")
        address = address or str(item.get("address") or "")
        name = name or str(item.get("name") or "")
        if not address and not name:
            continue
        name = re.sub(r"[\x00-\x1f\x7f]+", " ", name).strip()
        address = re.sub(r"[\x00-\x1f\x7f\s<>,;]+", "", address)
        try:
            shown.append(formataddr((name, address), charset="utf-8") if name else address)
        except (UnicodeError, ValueError):
            shown.append(address)
    return ", ".join(shown)


def _rebuild_forward(info: dict) -> bytes:
    """An RFC 822 message from what Slack's files.info tells of an email it received: its sender, recipients,
    subject, date, Message-ID and plain text. Every value came from the mail (attacker text): each header is
    made one line and encoded, so none can add a header or a MIME part."""
    given = info.get("headers")
    headers = given if isinstance(given, dict) else {}
    lines = [
        _header_line("From", _address_header(info.get("from"))),
        _header_line("To", _address_header(info.get("to"))),
        _header_line("Cc", _address_header(info.get("cc"))),
        _header_line("Subject", str(info.get("subject") or info.get("title") or "")),
        _header_line("Date", str(headers.get("date") or "")),
    ]
    message_id = str(headers.get("message_id") or "").strip()
    if re.fullmatch(r"<?[^<>\s@]{1,500}@[^<>\s@]{1,255}>?", message_id):
        lines.append("Message-ID: <" + message_id.strip("<>") + ">")
    text = str(info.get("plain_text") or "")[:_MAX_PLAIN_TEXT]
    head = "".join(line + "\r\n" for line in lines if line)
    body = base64.encodebytes(text.encode("utf-8")).replace(b"\n", b"\r\n")
    return (
        head
        + "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ).encode("ascii", "replace") + body


_SLACK_LINK = re.compile(r"^<([^|>]+)(?:\|[^>]*)?>$")
_SLACK_LINKS = re.compile(r"<(https?://[^|>\s]+)(?:\|[^>]*)?>", re.IGNORECASE)
_BARE_LINKS = re.compile(r"(?<![<|\w])https?://[^\s<>|]+", re.IGNORECASE)


def _slack_unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def links_in_message(message: dict) -> list[str]:
    """The web links in a Slack message (its text and rich-text blocks), normalised, each once, in order."""
    found: list[str] = []

    def add(candidate: str) -> None:
        try:
            url = normalize_reported_url(_slack_unescape(candidate))
        except ReportProblem:
            return
        if url not in found:
            found.append(url)

    text = str(message.get("text") or "")[:40_000]
    for match in _SLACK_LINKS.finditer(text):
        add(match.group(1))
    for match in _BARE_LINKS.finditer(_SLACK_LINKS.sub(" ", text)):
        add(match.group(0).rstrip(".,;:!?)"))
    for url in _block_links(message.get("blocks"), depth=0):
        add(url)
    return found


def _block_links(node: Any, depth: int) -> Iterator[str]:
    if depth > 12:
        return
    if isinstance(node, dict):
        if node.get("type") == "link" and isinstance(node.get("url"), str):
            yield node["url"]
        for value in node.values():
            if isinstance(value, dict | list):
                yield from _block_links(value, depth + 1)
    elif isinstance(node, list):
        for item in node[:200]:
            yield from _block_links(item, depth + 1)


def normalize_reported_url(text: str) -> str:
    """The URL a person reported, checked and normalised for deduplication. Never fetched."""
    candidate = text.strip()
    match = _SLACK_LINK.match(candidate)
    if match:
        candidate = match.group(1)
    if any(ch.isspace() for ch in candidate):
        raise ReportProblem("url.one_at_a_time")
    if len(candidate) > MAX_URL_LENGTH:
        raise ReportProblem("url.too_long", limit=MAX_URL_LENGTH)
    try:
        parts = urlsplit(candidate)
        hostname = parts.hostname
    except ValueError:
        raise ReportProblem("url.not_web") from None
    if parts.scheme.lower() not in {"http", "https"} or not hostname:
        raise ReportProblem("url.not_web")
    netloc = parts.netloc.lower() if "@" not in parts.netloc else parts.netloc
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))
