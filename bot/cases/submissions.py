"""Sending cases to Microsoft and following their verdicts — driven by due work stored in the database.

The sweep (bot/cases/sweep.py) runs this module's share of each round: send what is due, read every due verdict
in `$batch` requests of 20, redraw cards that changed, tell reporters outcomes not yet delivered. Because the due
work is in the store, a restart (kill -9 included) resumes exactly where the last one stopped.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32

from bot.cases.schedule import poll_gap
from bot.domain import CaseKind, Verdict
from bot.microsoft import BATCH_LIMIT, GraphClient, GraphError, ShuttingDown
from bot.runtime.clock import Clock, SystemClock
from bot.runtime.lifecycle import Stopping
from bot.runtime.logs import case_context
from bot.runtime.metrics import Metrics
from bot.slack.notifier import SlackNotifier
from bot.store import CardPosts, Cases, CheckWork, Reporters, SendWork, Submissions

log = logging.getLogger(__name__)

# Sending a case again after a retryable failure: quick first, then slower; a permanent failure is shown.
SEND_RETRY_DELAYS = (30, 60, 300, 900, 1800)
# Looking for a submission a dead worker may have made: from when the case was queued, less this much clock skew.
CLOCK_SKEW = timedelta(seconds=30)
_MAX_HEADER_BYTES = 256 * 1024


class FollowUp:
    def __init__(
        self,
        submissions: Submissions,
        cases: Cases,
        reporters: Reporters,
        card_posts: CardPosts,
        graph: GraphClient,
        notifier: SlackNotifier,
        *,
        poll_schedule: Sequence[int],
        give_up_seconds: int,
        metrics: Metrics | None = None,
        stopping: Stopping | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._submissions = submissions
        self._cases = cases
        self._reporters = reporters
        self._card_posts = card_posts
        self._graph = graph
        self._notifier = notifier
        self._schedule = tuple(poll_schedule)
        self._give_up = timedelta(seconds=give_up_seconds)
        self._metrics = metrics
        self._stopping = stopping if stopping is not None else Stopping()
        self._clock = clock if clock is not None else SystemClock()

    # --- sending ----------------------------------------------------------------------------------------------

    def send(self, submission_id: int) -> None:
        """Send one queued submission to Microsoft, if nobody else has claimed it."""
        work = self._submissions.claim_send(submission_id, now=self._clock.now())
        if work is None:
            return
        with case_context(work.case_id):
            self._send_claimed(work)

    def _send_claimed(self, work: SendWork) -> None:
        if self._stopping.is_set():
            # Claimed as the process began to stop (a sweep that had just looked, waiting on the database):
            # queued again at once for whoever runs next, rather than sent from a process on its way out.
            log.info("case %s: not sent: phishbot is stopping", work.case_id)
            if work.resumed:
                self._submissions.retry_unsure_send(
                    work.submission_id, self._clock.now(), "handed back at shutdown"
                )
            else:
                self._submissions.record_send_failure(
                    work.submission_id, "handed back at shutdown", self._clock.now()
                )
            return
        if work.resumed:
            # The last attempt's worker died mid-send: Microsoft may have its submission. Sending again would
            # make a second one, so look first.
            try:
                made = self._made_by_lost_attempt(work)
            except GraphError as exc:
                log.warning(
                    "case %s: not sent: could not check what Microsoft already has (%s)", work.case_id, exc
                )
                look_again_at = self._clock.now() + timedelta(
                    seconds=0 if isinstance(exc, ShuttingDown) else SEND_RETRY_DELAYS[0]
                )
                self._submissions.retry_unsure_send(work.submission_id, look_again_at, str(exc))
                return
            if made is not None:
                log.info(
                    "case %s: Microsoft already had it, from an attempt whose answer was lost", work.case_id
                )
                self._record_created(work, made)
                return
        try:
            if work.kind is CaseKind.URL:
                created = self._graph.submit_url(url=work.url or "", category=work.category)
            else:
                created = self._graph.submit_email(
                    raw_mime=work.raw or b"", recipient=work.recipient or "", category=work.category
                )
        except ShuttingDown:
            # Not sent (the retry policy was waiting): queued again, for this replica after its restart or
            # for another one now.
            log.info("case %s: submission handed back at shutdown", work.case_id)
            self._submissions.record_send_failure(
                work.submission_id, "handed back at shutdown", self._clock.now()
            )
            return
        except GraphError as exc:
            retry_at: datetime | None = None
            if exc.retryable and work.attempts <= len(SEND_RETRY_DELAYS):
                retry_at = self._clock.now() + timedelta(seconds=SEND_RETRY_DELAYS[work.attempts - 1])
            log.warning(
                "case %s: submission failed (%s)%s", work.case_id, exc, " — will retry" if retry_at else ""
            )
            self._submissions.record_send_failure(work.submission_id, _failure_words(exc), retry_at)
            if retry_at is None and self._metrics is not None:
                self._metrics.submission_ended("failed", None)
            self._notifier.sync_card(work.case_id)
            return
        self._record_created(work, created)

    def _record_created(self, work: SendWork, created: dict) -> None:
        microsoft_id = str(created.get("id") or "")
        verdict = Verdict.from_graph(created)
        self._submissions.record_sent(
            work.submission_id,
            microsoft_id,
            self._clock.now() + timedelta(seconds=poll_gap(self._schedule, checks_made=0)),
            verdict,
        )
        log.info("case %s: submitted to Microsoft as %s", work.case_id, microsoft_id)
        if work.scheduled_by:
            self._submissions.mark_resubmission_sent(work.case_id, scheduled_by=work.scheduled_by)
        self._notifier.sync_card(work.case_id)

    def _made_by_lost_attempt(self, work: SendWork) -> dict | None:
        """The submission Microsoft made for this case since it was queued, that we do not know of yet."""
        kind = "url" if work.kind is CaseKind.URL else "email"
        message_id = _message_id(work.raw) if kind == "email" else None
        if kind == "email" and not message_id:
            log.warning("case %s: the email has no Message-ID to look for; sending it again", work.case_id)
            return None
        for made in self._graph.submissions_created_since(kind, work.queued_at - CLOCK_SKEW):
            # An employee's own (the Report button's) is not phishbot's, whatever message and mailbox it names.
            if str(made.get("id") or "") in work.known_ids or made.get("source") == "user":
                continue
            if kind == "url":
                if str(made.get("webUrl") or "").strip() == (work.url or "").strip():
                    return made
            elif (
                str(made.get("recipientEmailAddress") or "").strip().casefold()
                == (work.recipient or "").strip().casefold()
                and _bare_message_id(made.get("internetMessageId")) == message_id
            ):
                return made
        return None

    # --- the sweep's share (bot/cases/sweep.py lists the steps) ---------------------------------------------

    def due_sends(self, now: datetime) -> list[int]:
        return self._submissions.due_to_send(now=now)

    def cards_to_redraw(self, now: datetime) -> list[int]:
        # A changed card is due once its edit interval has passed (the notifier's rule); `now` keeps the steps' shape.
        return self._notifier.cards_to_draw()

    def redraw_card(self, case_id: int) -> None:
        with case_context(case_id):
            self._notifier.sync_card(case_id)

    def untold_cases(self, now: datetime) -> list[int]:
        # Like a changed card, an untold outcome is due at once.
        return self._reporters.cases_with_untold_reporters()

    def tell_outcome(self, case_id: int) -> None:
        with case_context(case_id):
            self._notifier.tell_outcome(case_id)

    def take_over(self) -> None:
        """This replica just became the scheduler's leader: pick up at once what a dead leader left claimed."""
        released = self._submissions.release_leased_checks()
        if released:
            log.info("took over the scheduler: %d verdict check(s) brought forward", released)

    def check_due(self, now: datetime | None = None) -> int:
        """Read the verdict of every due submission; returns how many were read."""
        work = self._submissions.claim_due_checks(now=now or self._clock.now())
        read = 0
        # A $batch (20) at a time, so that a shutdown between two of them hands the rest back unread (the
        # sweep's own stop check is between steps and items; this one is inside a claimed batch).
        for start in range(0, len(work), BATCH_LIMIT):
            chunk = work[start : start + BATCH_LIMIT]
            if self._stopping.is_set():
                self._submissions.release_checks([w.submission_id for w in work[start:]])
                break
            try:
                answers = self._graph.read_submissions([(w.kind.value, w.microsoft_id) for w in chunk])
            except ShuttingDown:
                self._submissions.release_checks([w.submission_id for w in work[start:]])
                break
            except GraphError as exc:
                log.warning("verdict round failed for %d submissions: %s", len(chunk), exc)
                answers = {w.microsoft_id: exc for w in chunk}
            for item in chunk:
                answer = answers.get(item.microsoft_id)
                if isinstance(answer, ShuttingDown):
                    self._submissions.release_checks([item.submission_id])
                    continue
                if isinstance(answer, dict):
                    self._record(item, Verdict.from_graph(answer), error=None)
                else:
                    error = str(answer) if answer is not None else "no answer for this submission"
                    self._record(item, None, error=error)
                read += 1
        return read

    def _record(self, item: CheckWork, verdict: Verdict | None, *, error: str | None) -> None:
        with case_context(item.case_id):
            self._record_in_case(item, verdict, error=error)

    def _record_in_case(self, item: CheckWork, verdict: Verdict | None, *, error: str | None) -> None:
        now = self._clock.now()
        give_up_at = item.sent_at + self._give_up
        gap = poll_gap(self._schedule, checks_made=item.checks_done + 1)
        next_check = min(now + timedelta(seconds=gap), give_up_at)
        gave_up = now >= give_up_at
        ended = self._submissions.record_check(
            item.submission_id, verdict, next_check_at=next_check, gave_up=gave_up, error=error
        )
        if ended:
            log.info("case %s: verdict %s", item.case_id, verdict.category if verdict else "none (gave up)")
            self._count_ended(item.case_id, verdict)
            # A finished case is drawn (the edit interval does not hold back its end) and told at once.
            self._notifier.sync_card(item.case_id, at_once=True)
            self._notifier.tell_outcome(item.case_id)

    def _count_ended(self, case_id: int, verdict: Verdict | None) -> None:
        if self._metrics is None:
            return
        if verdict is None or not verdict.is_final:
            self._metrics.submission_ended("gave_up", None)
            return
        reported_at = self._cases.case_view(case_id).created_at
        self._metrics.submission_ended(verdict.category, (self._clock.now() - reported_at).total_seconds())


def _message_id(raw: bytes | None) -> str | None:
    """The Message-ID of the submitted bytes (attacker text: only ever compared)."""
    if not raw:
        return None
    head = raw[:_MAX_HEADER_BYTES]
    ends = [i for i in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if i >= 0]
    headers = BytesHeaderParser(policy=compat32).parsebytes(head[: min(ends)] if ends else head)
    return _bare_message_id(headers.get("Message-ID"))


def _bare_message_id(value: object) -> str | None:
    text = str(value or "").strip().strip("<>").strip()
    return text or None


def _failure_words(exc: GraphError) -> str:
    return f"Microsoft Defender did not accept the submission: {exc}"
