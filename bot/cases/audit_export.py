"""`phishbot audit`: the audit log, every attempt of every action (refused ones too), as CSV or JSON on stdout."""

from __future__ import annotations

import csv
import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

# "detail" is the entry's details as one readable line (`count=30 method=defender`, or a refusal's reason).
COLUMNS = ("at", "actor", "action", "case_id", "outcome", "detail")
# A spreadsheet runs a cell that starts with one of these as a formula; the detail can hold attacker text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class SinceError(ValueError):
    pass


def parse_since(text: str | None) -> datetime | None:
    """A date (2026-11-01) or a date and time (2026-11-01T08:00, UTC unless an offset is given)."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise SinceError(f"--since {text!r} is not a date like 2026-11-01 or 2026-11-01T08:00") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def write_audit(entries: list[dict[str, Any]], fmt: str, out: TextIO) -> None:
    rows = [{**entry, "at": entry["at"].astimezone(UTC).isoformat()} for entry in entries]
    if fmt == "json":
        json.dump([{c: row[c] for c in COLUMNS} for row in rows], out, ensure_ascii=False, indent=1)
        out.write("\n")
        return
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([_cell(row[c]) for c in COLUMNS])


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def run_audit(database_url: str, *, since: str | None, fmt: str, out: TextIO | None = None) -> int:
    from bot.store import open_store

    try:
        start = parse_since(since)
    except SinceError as exc:
        print(f"phishbot: {exc}", file=sys.stderr)
        return 2
    store = open_store(database_url)
    try:
        problem = store.database.schema_problem()
        if problem is not None:
            print(f"phishbot: {problem[1]}", file=sys.stderr)
            return 1
        write_audit(store.audit.entries(since=start), fmt, out or sys.stdout)
        return 0
    finally:
        store.database.close()
