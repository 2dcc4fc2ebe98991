"""Taking a report in: from a URL, an uploaded .eml, or the report modal — into one case.

Every door ends in `_open`: the case is recorded (deduplicated by the store), the reporter hears at once what
happens next, the card appears in the SOC channel, and the submission is sent. If Microsoft is not
reachable, the submission stays queued in the store and the sweep sends it later: nothing is lost.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import cards
from bot.domain import CaseKind, Category, Door
from bot.errors import ReportProblem, explain
from bot.follow_up import FollowUp
from bot.notify import SlackNotifier
from bot.parsing import ParseError, original_message_bytes, parse_message
from bot.slack_files import SlackFiles
from bot.store import NewReport, OpenedCase, Store

log = logging.getLogger(__name__)

Reply = Callable[[str, list[dict]], None]

MAX_URL_LENGTH = 2048
MAX_NOTE_LENGTH = 2000
REPORTABLE_EXTENSIONS = (".eml",)


@dataclass(frozen=True)
class Reporter:
    user_id: str
    channel_id: str | None


class Intake:
    def __init__(
        self,
        *,
        store: Store,
        client: WebClient,
        notifier: SlackNotifier,
        follow_up: FollowUp,
        files: SlackFiles,
        intake_channels: frozenset[str],
    ) -> None:
        self._store = store
        self._client = client
        self._notifier = notifier
        self._follow_up = follow_up
        self._files = files
        self._intake_channels = intake_channels

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
        try:
            url = normalize_reported_url(text)
            email = self._reporter_email(reporter.user_id, required=False)
        except ReportProblem as problem:
            reply(*cards.notice(str(problem)))
            return None
        report = NewReport(
            dedupe_key="url:" + url,
            kind=CaseKind.URL,
            category=category,
            door=door.value,
            reporter_id=reporter.user_id,
            reporter_email=email,
            channel_id=reporter.channel_id,
            subject=url[:500],
            note=note[:MAX_NOTE_LENGTH],
            url=url,
        )
        return self._open(report, reply)

    def report_email(
        self,
        reporter: Reporter,
        raw: bytes,
        reply: Reply,
        *,
        door: Door,
        category: Category = Category.PHISHING,
        note: str = "",
    ) -> OpenedCase | None:
        try:
            try:
                message = parse_message(raw, max_bytes=self._files.max_bytes)
                # A report that wraps the phish (forwarded as an attachment): Microsoft gets the phish itself.
                submitted = original_message_bytes(raw, max_bytes=self._files.max_bytes)
            except ParseError as exc:
                raise ReportProblem(f"That file is not an email phishbot can read: {exc}") from None
            email = self._reporter_email(reporter.user_id, required=True)
        except ReportProblem as problem:
            log.info("report from %s refused: %s", reporter.user_id, problem)
            reply(*cards.notice(str(problem)))
            return None
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
            raw=submitted,
        )
        return self._open(report, reply)

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
            reply(*cards.notice(str(problem)))
            return None
        return self.report_email(reporter, raw, reply, door=door, category=category, note=note)

    def on_message_with_files(self, event: dict) -> None:
        """An upload into an intake channel: every .eml in it becomes a report by the uploader."""
        channel_id = event.get("channel")
        user_id = event.get("user")
        if channel_id not in self._intake_channels or not user_id:
            return
        reporter = Reporter(user_id=user_id, channel_id=channel_id)

        def reply(text: str, blocks: list[dict]) -> None:
            self._notifier.ephemeral(channel_id, user_id, text, blocks)

        for file in event.get("files") or []:
            name = str(file.get("name") or "").lower()
            if not name.endswith(REPORTABLE_EXTENSIONS):
                continue
            self.report_slack_file(reporter, file, reply, door=Door.UPLOAD)

    # --- shared ------------------------------------------------------------------------------------------------

    def _open(self, report: NewReport, reply: Reply) -> OpenedCase:
        opened = self._store.open_case(report)
        view = self._store.case_view(opened.case_id)
        if opened.created:
            log.info("case %s opened by %s (%s)", opened.case_id, report.reporter_id, report.door)
            reply(*cards.reporter_ack(view, joined=False))
            self._notifier.sync_card(opened.case_id)
            self._follow_up.send(opened.submission_id)
        elif opened.joined:
            log.info("case %s joined by %s", opened.case_id, report.reporter_id)
            reply(*cards.reporter_ack(view, joined=True))
            self._notifier.sync_card(opened.case_id)
            # A reporter who joins a finished case hears its outcome now.
            self._notifier.tell_outcome(opened.case_id)
        else:
            reply(
                *cards.notice(
                    "You have already reported this. Security has it; you'll hear the outcome here."
                )
            )
        return opened

    def _reporter_email(self, user_id: str, *, required: bool) -> str | None:
        try:
            user = self._client.users_info(user=user_id)["user"]
        except SlackApiError as exc:
            log.warning("users.info failed for %s: %s", user_id, exc.response.get("error"))
            if required:
                raise ReportProblem(explain(exc)) from None
            return None
        email = ((user.get("profile") or {}).get("email") or "").strip()
        if not email and required:
            raise ReportProblem(
                "phishbot needs your work email address to send this to Microsoft, and Slack has none for you"
                " (guest and bot accounts have none). Ask Security to report it for you."
            )
        return email or None

    def _file_info(self, file: dict) -> dict:
        """The authoritative file object: events and view states may carry a stub (Slack Connect, file_input)."""
        if file.get("url_private_download") and file.get("mode") not in {"file_access", "tombstone"}:
            return file
        try:
            return self._client.files_info(file=file["id"])["file"]
        except (SlackApiError, KeyError):
            raise ReportProblem(
                "phishbot could not read that file from Slack (is the app in this channel?)."
            ) from None


_SLACK_LINK = re.compile(r"^<([^|>]+)(?:\|[^>]*)?>$")


def normalize_reported_url(text: str) -> str:
    """The URL a person reported, checked and normalised for deduplication. Never fetched."""
    candidate = text.strip()
    match = _SLACK_LINK.match(candidate)
    if match:
        candidate = match.group(1)
    if any(ch.isspace() for ch in candidate):
        raise ReportProblem("Send one URL at a time, e.g. `/report-phish https://suspicious.example/login`.")
    if len(candidate) > MAX_URL_LENGTH:
        raise ReportProblem(
            f"That URL is longer than {MAX_URL_LENGTH} characters; Microsoft will not take it."
        )
    parts = urlsplit(candidate)
    if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
        raise ReportProblem(
            "That does not look like a web address. Use `/report-phish https://…`, or `/report-phish` alone to"
            " upload an email."
        )
    netloc = parts.netloc.lower() if "@" not in parts.netloc else parts.netloc
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))
