"""PHISHBOT_POLL_SCHEDULE turned into the wait before the next look at Microsoft: one function for every kind of
follow-up (verdict checks, block results, purge verifications).

The schedule is a list of gaps; the first follows the send, each later one follows one more look, and the last
repeats. Where we are in the list is known two ways, hence the two keyword parameters: submissions and blocks
count their checks in the store (`checks_made`); a remediation's verification rounds are not counted (the table
has no such column, and the schema keeps its meaning), so its place in the list is read from the time since it
was submitted (`elapsed_seconds`), the gaps summed until they pass it.
"""

from __future__ import annotations

from collections.abc import Sequence


def poll_gap(
    schedule: Sequence[int], *, checks_made: int | None = None, elapsed_seconds: float | None = None
) -> int:
    """Seconds until the next look, after `checks_made` looks (0: just sent), or `elapsed_seconds` after the
    start; exactly one of the two."""
    if (checks_made is None) == (elapsed_seconds is None):
        raise TypeError("poll_gap needs exactly one of checks_made and elapsed_seconds")
    if checks_made is not None:
        return schedule[min(checks_made, len(schedule) - 1)]
    assert elapsed_seconds is not None
    total = 0
    for gap in schedule:
        total += gap
        if elapsed_seconds < total:
            return gap
    return schedule[-1]
