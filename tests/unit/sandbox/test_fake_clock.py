"""The sandbox's clock: moved by hand, or following real time at a pace, never backwards."""

from __future__ import annotations

import time

import pytest

from bot.sandbox.clock import FakeClock


def test_a_clock_at_pace_4_runs_at_least_four_times_real_time():
    clock = FakeClock(following_real_time=True, pace=4.0)
    start = clock.monotonic()
    time.sleep(0.05)
    # A lower bound only (a sleep lasts at least what it was asked): at pace 1 the clock would show 0.05 s.
    assert clock.monotonic() - start >= 4.0 * 0.05


def test_a_clock_that_does_not_follow_real_time_ignores_its_pace():
    clock = FakeClock(pace=4.0)
    before = clock.monotonic()
    time.sleep(0.01)
    assert clock.monotonic() == before
    clock.advance(2.5)
    assert clock.monotonic() == before + 2.5


def test_skipped_waits_add_to_the_paced_time_at_their_own_length():
    clock = FakeClock(following_real_time=True, skip_waits=True, pace=4.0)
    start = clock.monotonic()
    assert clock.real_wait(30.0) == 0.0
    assert clock.monotonic() - start >= 30.0


@pytest.mark.parametrize("pace", [0.0, -1.0])
def test_a_pace_that_is_not_positive_is_refused(pace):
    with pytest.raises(ValueError, match="pace is positive"):
        FakeClock(pace=pace)
