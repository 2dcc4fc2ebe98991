"""SQLite's writers take turns in the process: the next goes when the last is done, a transaction Slack waits for
(`ahead`) goes before the queued others, and a transaction inside a transaction of the same thread goes on."""

from __future__ import annotations

import threading
import time

from bot.store.database import _WriterTurns


def wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_a_transaction_slack_waits_for_goes_before_the_queued_ones():
    turns = _WriterTurns()
    order: list[str] = []
    release = threading.Event()

    def holder() -> None:
        with turns.turn():
            order.append("holder")
            release.wait(10)

    def queued(name: str, ahead: bool) -> None:
        with turns.turn(ahead=ahead):
            order.append(name)

    first = threading.Thread(target=holder)
    first.start()
    wait_until(lambda: order == ["holder"])
    background = threading.Thread(target=queued, args=("post-ack work", False))
    background.start()
    wait_until(lambda: len(turns._condition._waiters) == 1)  # type: ignore[attr-defined]
    request = threading.Thread(target=queued, args=("request", True))
    request.start()
    wait_until(lambda: len(turns._condition._waiters) == 2)  # type: ignore[attr-defined]
    release.set()
    for thread in (first, background, request):
        thread.join(10)
    assert order == ["holder", "request", "post-ack work"]


def test_a_turn_inside_a_turn_of_the_same_thread_goes_on_and_the_outer_one_still_holds():
    turns = _WriterTurns()
    taken = threading.Event()

    def other() -> None:
        with turns.turn():
            taken.set()

    with turns.turn():
        with turns.turn(ahead=True):
            pass
        thread = threading.Thread(target=other)
        thread.start()
        assert not taken.wait(0.2)  # the outer turn is still held
    thread.join(10)
    assert taken.is_set()
