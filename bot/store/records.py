"""The records the repositories take and give: what a service reads or hands in, never a database row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain import CaseKind, CaseStatus, Category, RemediationState, ReportedMessage, Verdict


@dataclass(frozen=True)
class NewReport:
    dedupe_key: str
    kind: CaseKind
    category: Category
    door: str
    reporter_id: str
    reporter_email: str | None
    channel_id: str | None
    subject: str = ""
    note: str = ""
    message: ReportedMessage | None = None
    url: str | None = None
    raw: bytes | None = None


@dataclass(frozen=True)
class OpenedCase:
    case_id: int
    created: bool  # a new case (and a queued submission) was made
    joined: bool  # the reporter was added to an existing case
    submission_id: int | None  # the queued submission of a new case


@dataclass(frozen=True)
class SendWork:
    submission_id: int
    case_id: int
    kind: CaseKind
    category: str
    recipient: str | None
    url: str | None
    raw: bytes | None
    attempts: int
    scheduled_by: str | None  # the responder who scheduled this resubmission for later, if it was one
    queued_at: datetime
    # The last attempt's outcome is unknown (its worker died mid-send): Microsoft may have the submission
    # already, under an id that is none of these (the case's submissions we know of).
    resumed: bool = False
    known_ids: frozenset[str] = frozenset()


@dataclass(frozen=True)
class CheckWork:
    submission_id: int
    case_id: int
    kind: CaseKind
    microsoft_id: str
    sent_at: datetime
    checks_done: int


@dataclass(frozen=True)
class ReporterToTell:
    reporter_row_id: int
    user_id: str
    channel_id: str | None


@dataclass(frozen=True)
class CaseSummary:
    case_id: int
    status: CaseStatus
    subject: str
    created_at: datetime
    verdict: Verdict | None
    kind: CaseKind = CaseKind.EMAIL
    url: str | None = None
    door: str = ""  # how this person reported it
    reviewed_as: str | None = None  # a responder's Mark as … and notify (a Category value), if any


@dataclass(frozen=True)
class FollowedSubmission:
    """An employee's own submission (the Report button) that a case follows instead of sending one."""

    microsoft_id: str
    created_at: datetime
    recipient: str  # the mailbox it was reported from
    category: str
    verdict: Verdict
    next_check_at: datetime | None  # None: Microsoft's result is final already


@dataclass(frozen=True)
class PollWork:
    """A claimed listing of user-reported submissions: list what Microsoft created since `watermark`."""

    name: str
    watermark: datetime
    denied_at: datetime | None  # Microsoft refused the last listing (403) at this time


@dataclass(frozen=True)
class PollState:
    name: str
    watermark: datetime
    next_poll_at: datetime
    polled_at: datetime | None
    denied_at: datetime | None
    last_error: str | None
    taken: int


@dataclass(frozen=True)
class ReviewWork:
    """One user-reported submission a Mark as … and notify has claimed."""

    review_id: int
    submission_id: int
    microsoft_id: str
    reporter: str | None


@dataclass(frozen=True)
class OpenCaseLine:
    """One open case as a responder's App Home lists it."""

    case_id: int
    kind: CaseKind
    status: CaseStatus
    subject: str
    url: str | None
    created_at: datetime
    verdict: Verdict | None
    card: tuple[str, str] | None  # (channel, ts) of its card, once posted


@dataclass(frozen=True)
class OpenCaseGroup:
    name: str  # waiting, to_act, running
    count: int
    cases: list[OpenCaseLine]


@dataclass(frozen=True)
class DigestCase:
    case_id: int
    created_at: datetime
    status: CaseStatus
    verdict: str | None  # category of the latest final verdict
    first_verdict_at: datetime | None


@dataclass(frozen=True)
class DigestFacts:
    """What the weekly digest is made of, for one window of time."""

    cases: list[DigestCase]  # cases opened in the window
    reports: int  # reports made in the window (a second reporter of a case counts)
    top_reporters: list[tuple[str, int]]
    seconds_to_verdict: list[float]  # report to first final verdict, for verdicts reached in the window
    # (action, outcome, details) of remediation and hunting entries; details as `audit.read_details` gives them
    audit: list[tuple[str, str, dict[str, Any]]]


class ItemState:
    PENDING = "pending"  # not yet sent anywhere
    SUBMITTED = "submitted"  # Defender accepted it; waiting to see it happen
    DONE = "done"  # removed (purge) or back in the inbox (restore)
    FAILED = "failed"
    MISSING = "missing"  # the mailbox API found no such message


class BlockState:
    SCHEDULED = "scheduled"
    SENDING = "sending"
    CHECKING = "checking"
    DONE = "done"
    FAILED = "failed"
    GAVE_UP = "gave_up"
    SKIPPED = "skipped"  # an automatic block that was not made (a simulation)


@dataclass(frozen=True)
class RemediationWork:
    remediation_id: int
    case_id: int
    kind: str
    scope: str
    action: str
    method: str
    state: RemediationState
    total: int
    requested_by: str
    restores_id: int | None
    created_at: datetime
    give_up_at: datetime | None


@dataclass(frozen=True)
class ItemWork:
    item_id: int
    network_message_id: str
    recipient: str
    internet_message_id: str
    location: str
    state: str
    mailbox_message_id: str | None


@dataclass(frozen=True)
class ItemUpdate:
    item_id: int
    state: str
    detail: str = ""
    mailbox_message_id: str | None = None
    location: str | None = None


@dataclass(frozen=True)
class BlockSendWork:
    block_id: int
    case_id: int
    raw: bytes | None
    recipient: str | None
    category: str
    expires_days: int
    note: str
    automatic: bool
    requested_by: str
    case_dismissed: bool


@dataclass(frozen=True)
class BlockCheckWork:
    block_id: int
    case_id: int
    microsoft_id: str
    sent_at: datetime
    checks_done: int
