"""The sweep's own rules, on steps made up for the test: the order, one failing kind of work not starving the
others, the stop check handing back what was claimed, one round at a time; and the poll schedule's gaps."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta

import pytest

from bot.cases.schedule import poll_gap
from bot.cases.sweep import Step, Sweep, whole
from bot.runtime.lifecycle import Stopping
from bot.sandbox.clock import FakeClock

START = datetime(2026, 5, 14, 8, 0, tzinfo=UTC)


def test_steps_run_in_order_each_with_the_clocks_time():
    clock, done = FakeClock(START), []
    steps = [
        Step("first", lambda now: [("a", now), ("b", now)], done.append),
        whole("second", lambda now: done.append(("whole", now))),
    ]
    Sweep(steps, clock=clock, stopping=Stopping()).run()
    clock.advance(60)
    Sweep(steps[1:], clock=clock, stopping=Stopping()).run()
    later = START + timedelta(seconds=60)
    assert done == [("a", START), ("b", START), ("whole", START), ("whole", later)]


def test_a_failing_step_is_logged_and_the_next_one_still_runs(caplog):
    done = []

    def broken(now):
        raise RuntimeError("hunting refused")

    steps = [whole("broken", broken), Step("cards", lambda now: [1, 2], done.append)]
    with caplog.at_level(logging.ERROR, logger="bot.cases.sweep"):
        Sweep(steps, clock=FakeClock(START), stopping=Stopping()).run()
    assert done == [1, 2]
    assert [r.getMessage() for r in caplog.records] == [
        "sweep step broken failed; the next round will try again"
    ]


def test_stopping_ends_the_round_and_hands_back_what_was_claimed():
    stopping = Stopping()
    done, handed_back, later = [], [], []

    def do(item):
        done.append(item)
        stopping.set()  # SIGTERM arrives while the first item is done

    steps = [
        Step(
            "claimed", lambda now: [1, 2, 3], do, hand_back=lambda item, now: handed_back.append((item, now))
        ),
        Step("later", lambda now: [9], later.append),
    ]
    Sweep(steps, clock=FakeClock(START), stopping=stopping).run()
    assert done == [1]
    assert handed_back == [(2, START), (3, START)]
    assert later == []


def test_one_round_at_a_time_a_second_caller_returns_or_waits():
    inside, release, rounds = threading.Event(), threading.Event(), []

    def slow(now):
        rounds.append(now)
        inside.set()
        release.wait(5)

    sweep = Sweep([whole("slow", slow)], clock=FakeClock(START), stopping=Stopping())
    first = threading.Thread(target=sweep.run)
    first.start()
    assert inside.wait(5)
    sweep.run()  # a round is under way: returns at once
    assert len(rounds) == 1
    waiting = threading.Thread(target=lambda: sweep.run(wait=True))
    waiting.start()
    release.set()
    first.join(5)
    waiting.join(5)
    assert len(rounds) == 2


@pytest.mark.parametrize(("checks_made", "gap"), [(0, 60), (1, 120), (2, 300), (3, 300), (40, 300)])
def test_the_gap_after_n_checks_is_the_nth_and_the_last_repeats(checks_made, gap):
    assert poll_gap((60, 120, 300), checks_made=checks_made) == gap


@pytest.mark.parametrize(
    ("elapsed", "gap"), [(0, 60), (59.9, 60), (60, 120), (179, 120), (180, 300), (10**6, 300)]
)
def test_the_gap_by_time_since_the_start_sums_the_gaps_until_they_pass_it(elapsed, gap):
    assert poll_gap((60, 120, 300), elapsed_seconds=elapsed) == gap


def test_a_gap_needs_exactly_one_position():
    with pytest.raises(TypeError):
        poll_gap((60,))
    with pytest.raises(TypeError):
        poll_gap((60,), checks_made=1, elapsed_seconds=1)


def test_the_fake_clock_moves_only_when_told_and_can_skip_waits():
    clock = FakeClock(START, skip_waits=True)
    assert clock.now() == START and clock.now() == START
    assert clock.real_wait(30) == 0.0
    assert clock.now() == START + timedelta(seconds=30)
    with pytest.raises(ValueError):
        clock.advance(-1)
    assert FakeClock(START).real_wait(2) == 2
