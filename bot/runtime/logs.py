"""Logging: one configuration for every process, JSON lines when nobody is watching a terminal, and the case id
on every line written while a case's work runs.

The case id travels in a context variable, set with `case_context(case_id)` where a case's work starts (a
submission, a verdict check, a card edit, a responder's action) and read by a filter on the handler, so the
modules that log need not pass it along. Context variables are per thread, so threads of a pool never see
another thread's case.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, TextIO, TypeVar

P = ParamSpec("P")
R = TypeVar("R")

_case_id: ContextVar[int | None] = ContextVar("phishbot_case_id", default=None)

# Client libraries log request details at DEBUG and INFO; keep them quiet so nothing sensitive is ever printed.
QUIET_LOGGERS = (
    "slack_sdk",
    "slack_bolt",
    "urllib3",
    "httpx",
    "httpcore",
    "msal",
    "waitress",
    "alembic.runtime.plugins",
)


@contextmanager
def case_context(case_id: int | None) -> Iterator[None]:
    """Every log line written inside carries `case_id`."""
    token = _case_id.set(case_id)
    try:
        yield
    finally:
        _case_id.reset(token)


def current_case_id() -> int | None:
    return _case_id.get()


def in_case(method: Callable[Concatenate[Any, int, P], R]) -> Callable[Concatenate[Any, int, P], R]:
    """For a method whose first argument is a case id: its log lines (and those of what it calls) carry it."""

    @functools.wraps(method)
    def wrapper(self: Any, case_id: int, *args: P.args, **kwargs: P.kwargs) -> R:
        with case_context(case_id):
            return method(self, case_id, *args, **kwargs)

    return wrapper


class CaseIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "case_id"):
            record.case_id = _case_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, case_id (when set), and the exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        case_id = getattr(record, "case_id", None)
        if case_id is not None:
            entry["case_id"] = case_id
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["error"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(case_prefix)s%(message)s")

    def format(self, record: logging.LogRecord) -> str:
        case_id = getattr(record, "case_id", None)
        record.case_prefix = f"[case {case_id}] " if case_id is not None else ""
        return super().format(record)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is when a line is logged (not when configured), so a caller that swaps
    stderr (a test harness capturing output) never leaves this handler writing to a closed file."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure_logging(
    level: int = logging.INFO, *, stream: TextIO | None = None, json_lines: bool | None = None
) -> None:
    """Log to stderr: JSON lines unless stderr is a terminal (then readable text).

    Called again, it replaces the handler it installed before; handlers someone else installed stay."""
    probe = stream if stream is not None else sys.stderr
    if json_lines is None:
        json_lines = not (hasattr(probe, "isatty") and probe.isatty())
    handler: logging.Handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.addFilter(CaseIdFilter())
    handler.setFormatter(JsonFormatter() if json_lines else TextFormatter())
    handler.phishbot = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "phishbot", False):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # "skipped: maximum number of running instances reached" is how a long sweep is meant to coalesce.
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
