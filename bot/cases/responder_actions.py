"""What a responder does from a card: Resubmit and Dismiss (Purge, Restore, Who clicked come later).

Every action passes `run()`: the server checks who clicked (fail-closed), records the attempt in the audit log
whatever the outcome, and only then acts. A button's value is a case id and nothing more; the state is ours.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.cases.submissions import FollowUp
from bot.runtime.clock import Clock, SystemClock
from bot.runtime.logs import case_context
from bot.slack import cards
from bot.slack.authz import Authorizer
from bot.slack.notifier import SlackNotifier
from bot.store import AuditLog, Cases, Submissions

log = logging.getLogger(__name__)

Reply = Callable[[str, list[dict]], None]

# Microsoft advises waiting a day before resubmitting a disputed verdict (and accepts the same item at most
# three times in 24 hours).
RESUBMIT_WAIT = timedelta(hours=24)


class CaseActions:
    def __init__(
        self,
        *,
        cases: Cases,
        submissions: Submissions,
        audit: AuditLog,
        authorizer: Authorizer,
        notifier: SlackNotifier,
        follow_up: FollowUp,
        clock: Clock | None = None,
    ) -> None:
        self._cases = cases
        self._submissions = submissions
        self._audit_log = audit
        self._authorizer = authorizer
        self._notifier = notifier
        self._follow_up = follow_up
        self._clock = clock if clock is not None else SystemClock()

    def run(
        self, action: str, user_id: str, value: object, reply: Reply, work: Callable[[int], None]
    ) -> None:
        """Authorize `user_id` for `action` on the case named by `value`, audit, then do `work(case_id)`."""
        case_id = _case_id(value)
        if case_id is None or not self._cases.case_exists(case_id):
            self._audit_log.record(
                user_id, action, "refused", details={"reason": f"no such case: {str(value)[:100]!r}"}
            )
            reply(*cards.notice("That case does not exist (any more)."))
            return
        decision = self._authorizer.check(user_id)
        if not decision.allowed:
            log.info("refused %s on case %s for %s: %s", action, case_id, user_id, decision.reason)
            self._audit_log.record(
                user_id, action, "refused", case_id=case_id, details={"reason": decision.reason}
            )
            reply(*cards.notice(f"Only Security responders can do that. {decision.reason}"))
            return
        self._audit_log.record(
            user_id, action, "allowed", case_id=case_id, details={"reason": decision.reason}
        )
        with case_context(case_id):
            work(case_id)

    # --- the actions -------------------------------------------------------------------------------------------

    def resubmit(self, user_id: str, case_id: int, reply: Reply) -> None:
        last_sent = self._submissions.last_sent_at(case_id)
        now = self._clock.now()
        if last_sent is not None and now - last_sent < RESUBMIT_WAIT:
            reply(*cards.resubmit_choice(case_id, last_sent + RESUBMIT_WAIT))
            return
        self._queue(user_id, case_id, now, reply)

    def resubmit_now(self, user_id: str, case_id: int, reply: Reply) -> None:
        self._queue(user_id, case_id, self._clock.now(), reply)

    def resubmit_later(self, user_id: str, case_id: int, reply: Reply) -> None:
        last_sent = self._submissions.last_sent_at(case_id)
        due = (last_sent + RESUBMIT_WAIT) if last_sent else self._clock.now()
        self._queue(user_id, case_id, max(due, self._clock.now()), reply)

    def dismiss(self, user_id: str, case_id: int, reply: Reply) -> None:
        if not self._cases.dismiss(case_id, user_id):
            reply(*cards.notice("This case was already dismissed."))
            return
        self._audit_log.record(user_id, "dismiss", "done", case_id=case_id)
        self._notifier.sync_card(case_id)
        self._notifier.tell_outcome(case_id)

    def _queue(self, user_id: str, case_id: int, not_before: datetime, reply: Reply) -> None:
        submission_id = self._submissions.queue_resubmission(
            case_id, user_id, not_before, now=self._clock.now()
        )
        if submission_id is None:
            waiting = self._submissions.pending_resubmission(case_id)
            reply(
                *cards.notice(
                    "A submission of this case is already waiting or being checked"
                    + (f" (due {waiting:%Y-%m-%d %H:%M} UTC)." if waiting else ".")
                    if self._cases.case_view(case_id).status.value != "dismissed"
                    else "This case was dismissed; it is not sent again."
                )
            )
            return
        later = not_before > self._clock.now() + timedelta(seconds=5)
        self._audit_log.record(
            user_id,
            "resubmit",
            "scheduled" if later else "done",
            case_id=case_id,
            details={"not_before": not_before.isoformat()},
        )
        self._notifier.sync_card(case_id)
        if not later:
            self._follow_up.send(submission_id)


# Case ids are the database's INTEGER: a larger number names no case (PostgreSQL would refuse to compare it).
MAX_CASE_ID = 2**31 - 1


def _case_id(value: object) -> int | None:
    text = str(value or "").strip()
    # ASCII only: "²" is a digit to str.isdigit() but not to int().
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_CASE_ID)):
        return None
    case_id = int(text)
    return case_id if 0 < case_id <= MAX_CASE_ID else None
