"""Sending cases to Microsoft and following their verdicts — driven by due work stored in the database.

`sweep()` is what the scheduler runs: send what is due, read every due verdict in `$batch` requests of 20,
redraw cards that changed, tell reporters outcomes not yet delivered. Because the due work is in the store,
a restart (kill -9 included) resumes exactly where the last one stopped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from bot.domain import CaseKind, Verdict
from bot.graph import GraphClient, GraphError
from bot.notify import SlackNotifier
from bot.store import CheckWork, Store

log = logging.getLogger(__name__)

# Sending a case again after a retryable failure: quick first, then slower; a permanent failure is shown.
SEND_RETRY_DELAYS = (30, 60, 300, 900, 1800)


class FollowUp:
    def __init__(
        self,
        store: Store,
        graph: GraphClient,
        notifier: SlackNotifier,
        *,
        poll_schedule: Sequence[int],
        give_up_seconds: int,
    ) -> None:
        self._store = store
        self._graph = graph
        self._notifier = notifier
        self._schedule = tuple(poll_schedule)
        self._give_up = timedelta(seconds=give_up_seconds)
        self._sweep_lock = threading.Lock()

    # --- sending ----------------------------------------------------------------------------------------------

    def send(self, submission_id: int) -> None:
        """Send one queued submission to Microsoft, if nobody else has claimed it."""
        work = self._store.claim_send(submission_id)
        if work is None:
            return
        try:
            if work.kind is CaseKind.URL:
                created = self._graph.submit_url(url=work.url or "", category=work.category)
            else:
                created = self._graph.submit_email(
                    raw_mime=work.raw or b"", recipient=work.recipient or "", category=work.category
                )
        except GraphError as exc:
            retry_at = None
            if exc.retryable and work.attempts <= len(SEND_RETRY_DELAYS):
                retry_at = _now() + timedelta(seconds=SEND_RETRY_DELAYS[work.attempts - 1])
            log.warning(
                "case %s: submission failed (%s)%s", work.case_id, exc, " — will retry" if retry_at else ""
            )
            self._store.record_send_failure(work.submission_id, _failure_words(exc), retry_at)
            self._notifier.sync_card(work.case_id)
            return
        microsoft_id = str(created.get("id") or "")
        verdict = Verdict.from_graph(created)
        self._store.record_sent(
            work.submission_id, microsoft_id, _now() + timedelta(seconds=self._schedule[0]), verdict
        )
        log.info("case %s: submitted to Microsoft as %s", work.case_id, microsoft_id)
        if work.scheduled_by:
            self._store.mark_resubmission_sent(work.case_id, scheduled_by=work.scheduled_by)
        self._notifier.sync_card(work.case_id)

    # --- the sweep --------------------------------------------------------------------------------------------

    def sweep(self) -> None:
        """One round of due work. Safe to call from several threads: one round runs at a time per process."""
        if not self._sweep_lock.acquire(blocking=False):
            return
        try:
            for submission_id in self._store.due_to_send():
                self.send(submission_id)
            self.check_due()
            for case_id in self._store.dirty_cards():
                self._notifier.sync_card(case_id)
            for case_id in self._store.cases_with_untold_reporters():
                self._notifier.tell_outcome(case_id)
        finally:
            self._sweep_lock.release()

    def check_due(self) -> int:
        """Read the verdict of every due submission; returns how many were read."""
        work = self._store.claim_due_checks()
        if not work:
            return 0
        try:
            answers = self._graph.read_submissions([(w.kind.value, w.microsoft_id) for w in work])
        except GraphError as exc:
            log.warning("verdict round failed for %d submissions: %s", len(work), exc)
            answers = {w.microsoft_id: exc for w in work}
        for item in work:
            answer = answers.get(item.microsoft_id)
            if isinstance(answer, dict):
                self._record(item, Verdict.from_graph(answer), error=None)
            else:
                error = str(answer) if answer is not None else "no answer for this submission"
                self._record(item, None, error=error)
        return len(work)

    def _record(self, item: CheckWork, verdict: Verdict | None, *, error: str | None) -> None:
        now = _now()
        give_up_at = item.sent_at + self._give_up
        gap = self._schedule[min(item.checks_done + 1, len(self._schedule) - 1)]
        next_check = min(now + timedelta(seconds=gap), give_up_at)
        gave_up = now >= give_up_at
        ended = self._store.record_check(
            item.submission_id, verdict, next_check_at=next_check, gave_up=gave_up, error=error
        )
        if ended:
            log.info("case %s: verdict %s", item.case_id, verdict.category if verdict else "none (gave up)")
        self._notifier.sync_card(item.case_id)
        if ended:
            self._notifier.tell_outcome(item.case_id)


def _failure_words(exc: GraphError) -> str:
    return f"Microsoft Defender did not accept the submission: {exc}"


def _now() -> datetime:
    return datetime.now(UTC)
