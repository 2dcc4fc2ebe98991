"""Messages employees report with Outlook's (or Teams') Report button, followed from Microsoft: one case per
message, whatever the door.

Microsoft keeps each such report as a *user-reported* email submission (`source: user`). Every
PHISHBOT_USER_REPORTS_POLL seconds the sweep lists the ones created since the watermark kept in the store (one
replica at a time: the listing is claimed like any due work), and each new one opens a case or joins the open
case of the same Internet-Message-ID (a message someone also reported in Slack; a later Slack report of it joins
this case the same way). Its card says who reported it and how, and shows Microsoft's result *of the employee's
submission*: phishbot follows that submission like one of its own and never submits the message again (Microsoft
throttles the same item; Resubmit stays a responder's choice). Where Mail.Read allows, the original is read from
the reporter's mailbox by its Internet-Message-ID, so the card has the sections of any reported email.

Neither missed nor repeated: the watermark moves only after a listing was taken whole, and a submission already
followed is refused by the store (`submissions.microsoft_id` is unique), so a crash mid-listing, a restart or a
second replica repeats reads, never cards. A 403 (the permission is missing) turns the feature off with one log
line until a later listing succeeds; it is asked again every DENIED_RETRY.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot.cases.schedule import poll_gap
from bot.domain import (
    Address,
    CaseKind,
    Category,
    Door,
    ReportedMessage,
    UserReportedEmail,
    message_id_key,
)
from bot.email import ParseError, read_report
from bot.microsoft import GraphClient, GraphError, MailAccessDenied, ReporterMailboxes, ShuttingDown
from bot.runtime.clock import Clock, SystemClock
from bot.runtime.lifecycle import Stopping
from bot.runtime.logs import case_context
from bot.runtime.metrics import Metrics
from bot.slack.directory import SlackDirectory, stand_in_id
from bot.slack.notifier import SlackNotifier
from bot.store import Cases, CommitUncertain, FollowedSubmission, NewReport, PollWork, UserReports

log = logging.getLogger(__name__)

LISTING = "email"
# The first listing ever (a new install, the feature just turned on) reaches back this far.
FIRST_LOOKBACK = timedelta(hours=1)
# Each listing reaches back this far before the newest submission seen, in case Microsoft shows a submission a
# little after its creation time; what it lists twice is known already and costs nothing but the read.
OVERLAP = timedelta(minutes=10)
# After a 403, the listing is asked again this often (granting the permission needs no restart).
DENIED_RETRY = timedelta(hours=1)
# New user reports taken in one listing; more are taken by the next one, at once.
MAX_PER_POLL = 500


class UserReportFollower:
    def __init__(
        self,
        *,
        user_reports: UserReports,
        cases: Cases,
        graph: GraphClient,
        mailboxes: ReporterMailboxes,
        directory: SlackDirectory,
        notifier: SlackNotifier,
        enabled: bool,
        poll_seconds: int,
        poll_schedule: Sequence[int],
        max_bytes: int,
        metrics: Metrics | None = None,
        stopping: Stopping | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._user_reports = user_reports
        self._cases = cases
        self._graph = graph
        self._mailboxes = mailboxes
        self._directory = directory
        self._notifier = notifier
        self._enabled = enabled
        self._every = timedelta(seconds=poll_seconds)
        self._schedule = tuple(poll_schedule)
        self._max_bytes = max_bytes
        self._metrics = metrics
        self._stopping = stopping if stopping is not None else Stopping()
        self._clock = clock if clock is not None else SystemClock()

    # --- the sweep's step ---------------------------------------------------------------------------------

    def due(self, now: datetime) -> list[PollWork]:
        """The listing, claimed, when it is due (PHISHBOT_USER_REPORTS=on)."""
        if not self._enabled:
            return []
        work = self._user_reports.claim_poll(
            LISTING, now=now, every=self._every, first_watermark=now - FIRST_LOOKBACK
        )
        return [work] if work is not None else []

    def hand_back(self, work: PollWork, now: datetime) -> None:
        """A stopping round: the listing is due again at once, for whoever sweeps next."""
        self._user_reports.poll_failed(work.name, "handed back at shutdown", retry_at=now)

    def poll(self, work: PollWork) -> int:
        """List the user reports created since the watermark and take in the new ones; returns how many."""
        now = self._clock.now()
        try:
            listed, complete = self._graph.user_reported_since(work.watermark)
        except ShuttingDown:
            self.hand_back(work, now)
            return 0
        except GraphError as exc:
            self._listing_failed(work, exc, now)
            return 0
        reports = [r for r in (UserReportedEmail.from_graph(obj) for obj in listed) if r is not None]
        known = self._user_reports.known_submissions(r.submission_id for r in reports)
        new = sorted((r for r in reports if r.submission_id not in known), key=lambda r: r.created_at)
        bounded = len(new) > MAX_PER_POLL
        new = new[:MAX_PER_POLL]
        originals = self._originals(new)
        untaken = 0
        for report in new:
            if self._stopping.is_set():
                # The watermark stays: what this listing did not take, the next one lists again.
                self.hand_back(work, now)
                return 0
            untaken += 0 if self._take(report, originals.get(report.submission_id)) else 1
        if not complete or untaken:
            # Pages left unread may hold older submissions, a report not recorded must be listed again: the next
            # listing starts from the same point.
            watermark = None
        elif bounded:
            watermark = new[-1].created_at - OVERLAP  # the ones not taken are all newer
        else:
            watermark = max((r.created_at for r in reports), default=None)
            watermark = watermark - OVERLAP if watermark is not None else None
        was_denied = self._user_reports.finish_poll(
            work.name,
            watermark=watermark,
            taken=len(new) - untaken,
            again_at=now if (bounded or not complete) else None,
        )
        if was_denied:
            log.info("user-reported submissions can be read again: following the Report button's reports")
        if new:
            log.info("took in %d message(s) reported with the Report button", len(new) - untaken)
        return len(new) - untaken

    def _listing_failed(self, work: PollWork, exc: GraphError, now: datetime) -> None:
        if exc.status == 403:
            first = self._user_reports.poll_failed(
                work.name, str(exc), retry_at=now + DENIED_RETRY, denied=True
            )
            if first:
                log.warning(
                    "Microsoft refused the list of user-reported submissions (%s): messages reported with the "
                    "Report button are not followed; phishbot asks again every %d min. Grant the application "
                    "permission ThreatSubmission.Read.All (phishbot doctor checks it).",
                    exc.code or "403",
                    int(DENIED_RETRY.total_seconds() // 60),
                )
            return
        log.warning("user-reported submissions not listed (%s); trying again at the next poll", exc)
        self._user_reports.poll_failed(work.name, str(exc), retry_at=now + self._every)

    # --- one report -----------------------------------------------------------------------------------------

    def _originals(self, reports: Sequence[UserReportedEmail]) -> dict[str, bytes]:
        """The reported messages' MIME from the reporters' mailboxes, where Mail.Read allows."""
        wanted = [
            (r.submission_id, r.mailbox, r.internet_message_id)
            for r in reports
            if r.internet_message_id and r.mailbox
        ]
        if not wanted or not self._mailboxes.available:
            return {}
        try:
            return self._mailboxes.originals(wanted)
        except MailAccessDenied:
            return {}
        except GraphError as exc:
            log.warning("the originals of %d user report(s) were not read: %s", len(wanted), exc)
            return {}

    def _take(self, report: UserReportedEmail, raw: bytes | None) -> bool:
        """Open or join the case of one new user report; False when it could not be recorded."""
        reporter_id = self._reporter_id(report.reporter)
        message, submitted = self._message(report, raw)
        new_report = NewReport(
            dedupe_key=(
                message_id_key(report.internet_message_id)
                if report.internet_message_id
                else "user:" + report.submission_id
            ),
            kind=CaseKind.EMAIL,
            category=Category(report.category),
            door=Door.REPORT_BUTTON.value,
            reporter_id=reporter_id,
            reporter_email=report.reporter or None,
            channel_id=None,
            subject=message.original.subject[:500],
            message=message,
            raw=submitted,
        )
        now = self._clock.now()
        followed = FollowedSubmission(
            microsoft_id=report.submission_id,
            created_at=report.created_at,
            recipient=report.mailbox,
            category=report.category,
            verdict=report.verdict,
            next_check_at=(
                None
                if report.verdict.is_final
                else now + timedelta(seconds=poll_gap(self._schedule, checks_made=0))
            ),
        )
        try:
            opened = self._cases.open_user_report(new_report, followed)
        except (SQLAlchemyError, CommitUncertain) as exc:
            # Not taken: the watermark has not moved past it, so the next listing brings it again.
            log.error("a user report was not recorded: database unavailable (%s)", type(exc).__name__)
            return False
        if opened is None:
            return True
        if self._metrics is not None:
            self._metrics.report(
                Door.REPORT_BUTTON.value, "new" if opened.created else "joined" if opened.joined else "repeat"
            )
        with case_context(opened.case_id):
            if opened.created:
                log.info(
                    "case %s opened by the Report button (submission %s)",
                    opened.case_id,
                    report.submission_id,
                )
            else:
                log.info(
                    "case %s joined by the Report button (submission %s)",
                    opened.case_id,
                    report.submission_id,
                )
            self._notifier.sync_card(opened.case_id)
        return True

    def _reporter_id(self, address: str) -> str:
        """The Slack user behind the reporter's address (mentioned on the card), else a stand-in for it."""
        if not address:
            return stand_in_id("unknown")
        try:
            user_id = self._directory.user_for_email(address)
        except SlackApiError as exc:
            log.warning("users.lookupByEmail failed for a user report: %s", exc.response.get("error"))
            user_id = None
        return user_id or stand_in_id(address)

    def _message(self, report: UserReportedEmail, raw: bytes | None) -> tuple[ReportedMessage, bytes | None]:
        """The message as the card shows it: parsed from the reporter's mailbox copy, else what Microsoft's
        submission says of it (and the card says that is all it shows)."""
        if raw is not None:
            try:
                message, submitted = read_report(raw, max_bytes=self._max_bytes)
                provenance = (
                    f"Reported with the Report button by {report.reporter}; phishbot read the original from "
                    f"{report.mailbox}'s mailbox and follows Microsoft's analysis of the employee's submission."
                )
                return replace(message, provenance=provenance), submitted
            except ParseError as exc:
                log.warning(
                    "the mailbox copy of a user report is not readable (%s); using Microsoft's", exc.reason
                )
        sender = Address(name="", address=report.sender) if report.sender else None
        stub = ReportedMessage(
            message_id=report.internet_message_id,
            subject=report.subject,
            from_=(sender,) if sender else (),
            date=report.received,
            provenance=(
                f"Reported with the Report button by {report.reporter}. phishbot could not read the original "
                f"from {report.mailbox}'s mailbox (it needs Mail.Read, and the message must still be there), so "
                "this card shows what Microsoft's submission says: subject, sender and time; no headers, sender "
                "authentication, links or attachments."
                + (f" Sender IP: {report.sender_ip}." if report.sender_ip else "")
            ),
        )
        return stub, None
