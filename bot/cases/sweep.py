"""The sweep: every periodic step of phishbot, in one list, in the order a round runs them.

Due work lives in the store (design §7), so a round is, for each kind of work: ask what is due now, then do it one
item at a time. The scheduler's leader runs a round every few seconds (bot/runtime/scheduler.py); a test moves its
clock and runs one round itself. Around every step, once: one lock (one round at a time per process), one stop
check between items (shutdown ends the round; what a step had claimed is handed back), one clock reading per
step, and isolation — one failing kind of work (Graph refusing hunting, say) is logged and the next still runs.

A new kind of periodic work is one more line in `periodic_steps`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from bot.cases.app_home import AppHome
from bot.cases.block_list import BlockList
from bot.cases.remediation_runner import RemediationRunner
from bot.cases.slack_requests import SlackRequests
from bot.cases.submissions import FollowUp
from bot.cases.user_reports import UserReportFollower
from bot.runtime.clock import Clock
from bot.runtime.lifecycle import Stopping

log = logging.getLogger(__name__)

Item = TypeVar("Item")


@dataclass(frozen=True)
class Step(Generic[Item]):
    """One kind of periodic work: `due(now)` says what is due, `do(item)` does one of it. When `due` claims what it
    returns (a lease), `hand_back(item, now)` gives back what a stopping round leaves undone."""

    name: str
    due: Callable[[datetime], Iterable[Item]]
    do: Callable[[Item], object]
    hand_back: Callable[[Item, datetime], object] | None = None


def whole(name: str, run: Callable[[datetime], object]) -> Step[datetime]:
    """A step that is one call: it claims and batches its own work (verdict reads go 20 to a `$batch`)."""
    return Step(name, lambda now: (now,), run)


def periodic_steps(
    requests: SlackRequests,
    follow_up: FollowUp,
    remediations: RemediationRunner,
    block_list: BlockList,
    user_reports: UserReportFollower,
    app_home: AppHome,
) -> list[Step[Any]]:
    """Every round, in order: Slack requests a dead process left undone first (they open cases), then
    Microsoft's answers, so the cards drawn at the end show them."""
    return [
        Step("requests taken in", requests.due, requests.take_over, hand_back=requests.hand_back),
        Step("sends due", follow_up.due_sends, follow_up.send),
        Step("user reports", user_reports.due, user_reports.poll, hand_back=user_reports.hand_back),
        whole("verdict checks", follow_up.check_due),
        Step("remediations to carry on", remediations.due, remediations.run),
        Step(
            "purge verifications",
            remediations.due_verifications,
            remediations.verify,
            hand_back=remediations.verify_later,
        ),
        whole("automatic blocks", block_list.auto_block),
        Step("blocks due", block_list.due, block_list.send),
        whole("block results", block_list.check_due),
        Step("card redraws", follow_up.cards_to_redraw, follow_up.redraw_card),
        Step("outcome messages", follow_up.untold_cases, follow_up.tell_outcome),
        Step("app homes", app_home.stale, app_home.publish),
    ]


class Sweep:
    def __init__(self, steps: Sequence[Step[Any]], *, clock: Clock, stopping: Stopping) -> None:
        self._steps = tuple(steps)
        self._clock = clock
        self._stopping = stopping
        self._lock = threading.Lock()

    def run(self, *, wait: bool = False) -> None:
        """One round of due work. Safe from several threads: a round already running makes this one return at
        once, or, with `wait` (a test's explicit round), wait for it and then run."""
        if not self._lock.acquire(blocking=wait):
            return
        try:
            for step in self._steps:
                if self._stopping.is_set():
                    return
                try:
                    self._run_step(step)
                except Exception:
                    log.exception("sweep step %s failed; the next round will try again", step.name)
        finally:
            self._lock.release()

    def _run_step(self, step: Step[Any]) -> None:
        due = iter(step.due(self._clock.now()))
        for item in due:
            if self._stopping.is_set():
                if step.hand_back is not None:
                    now = self._clock.now()
                    for undone in (item, *due):
                        step.hand_back(undone, now)
                return
            step.do(item)
