"""The domain's words and value types, shared by the parser, the store, the services and the cards.

Nothing here does I/O. *Report*: a person's act. *Case*: one reported message (or URL) and everything
about it. *Submission*: one request to Microsoft. *Verdict*: Microsoft's result. *Responder*: who may act.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from email.utils import parseaddr
from typing import Any


class Category(enum.StrEnum):
    """What the reporter says the item is (Graph `submissionCategory`)."""

    PHISHING = "phishing"
    MALWARE = "malware"
    SPAM = "spam"
    NOT_JUNK = "notJunk"


class Door(enum.StrEnum):
    """How a report came in."""

    SLASH_URL = "slash_url"
    MODAL = "modal"
    UPLOAD = "upload"
    SHORTCUT = "shortcut"  # "Report as phishing" on a Slack message
    EMAIL_APP = "email_app"  # forwarded into an intake channel through Slack's Email app
    MAILBOX = "mailbox"  # picked from the reporter's recent emails in the report modal
    REPORT_BUTTON = (
        "report_button"  # Outlook's (or Teams') Report button: a user-reported submission at Microsoft
    )


class SubmissionSource(enum.StrEnum):
    """Who made a submission at Microsoft (Graph `submissionSource`)."""

    ADMIN = "administrator"  # phishbot sent it
    USER = "user"  # the employee pressed Report; phishbot follows it and never sends it again


class CaseKind(enum.StrEnum):
    EMAIL = "email"
    URL = "url"


class CaseStatus(enum.StrEnum):
    SUBMITTING = "submitting"  # queued for Microsoft or being sent
    CHECKING = "checking"  # submitted, verdict checks running
    VERDICT = "verdict"  # Microsoft gave a final result
    GAVE_UP = "gave_up"  # no final result before PHISHBOT_POLL_GIVE_UP
    FAILED = "failed"  # Microsoft refused the submission permanently
    DISMISSED = "dismissed"  # a responder said: not phishing


class SubmissionState(enum.StrEnum):
    QUEUED = "queued"  # recorded, not yet sent (also: a resubmission scheduled for later)
    SENDING = "sending"  # claimed by one worker, request in flight
    CHECKING = "checking"  # Microsoft has it; verdict checks are due at next_check_at
    FINAL = "final"
    GAVE_UP = "gave_up"
    FAILED = "failed"


# Graph longRunningOperationStatus values that end a submission.
FINAL_STATUSES = frozenset({"succeeded", "failed", "skipped"})
# result.detail / result.category values that mean Microsoft is still looking, even when status says otherwise.
IN_PROGRESS_DETAILS = frozenset({"underInvestigation", "willNotifyOnceDone"})
IN_PROGRESS_CATEGORIES = frozenset({"beingAnalyzed"})


@dataclass(frozen=True)
class DetectedFile:
    file_name: str
    file_hash: str


@dataclass(frozen=True)
class AdminReview:
    review_result: str | None
    review_by: str | None
    review_date_time: str | None


@dataclass(frozen=True)
class Verdict:
    """Microsoft's answer for one submission, read from a threatSubmission object."""

    status: str  # notStarted, running, succeeded, failed, skipped, unknownFutureValue
    category: str | None = None  # submissionResultCategory
    detail: str | None = None  # submissionResultDetail
    user_mailbox_settings: tuple[str, ...] = ()  # userMailboxSetting flags
    detected_urls: tuple[str, ...] = ()
    detected_files: tuple[DetectedFile, ...] = ()
    admin_review: AdminReview | None = None
    is_simulation: bool = False
    sender: str | None = None
    sender_ip: str | None = None
    subject: str | None = None

    @property
    def is_final(self) -> bool:
        if self.status not in FINAL_STATUSES:
            return False
        return self.detail not in IN_PROGRESS_DETAILS and self.category not in IN_PROGRESS_CATEGORIES

    @classmethod
    def from_graph(cls, obj: dict[str, Any]) -> Verdict:
        """Build from a Graph threatSubmission JSON object; tolerant of missing and null members."""
        result = obj.get("result") or {}
        review = obj.get("adminReview") or None
        settings_value = result.get("userMailboxSetting") or ""
        mailbox_settings = tuple(
            flag.strip() for flag in str(settings_value).split(",") if flag.strip() and flag.strip() != "none"
        )
        files = tuple(
            DetectedFile(file_name=str(f.get("fileName") or ""), file_hash=str(f.get("fileHash") or ""))
            for f in (result.get("detectedFiles") or [])
            if isinstance(f, dict)
        )
        category = result.get("category")
        detail = result.get("detail")
        return cls(
            status=str(obj.get("status") or "notStarted"),
            category=category,
            detail=detail,
            user_mailbox_settings=mailbox_settings,
            detected_urls=tuple(str(u) for u in (result.get("detectedUrls") or []) if u),
            detected_files=files,
            admin_review=(
                AdminReview(
                    review_result=review.get("reviewResult"),
                    review_by=review.get("reviewBy"),
                    review_date_time=review.get("reviewDateTime"),
                )
                if isinstance(review, dict)
                else None
            ),
            is_simulation=bool(obj.get("attackSimulationInfo"))
            or category == "phishingSimulation"
            or detail in {"simulatedThreat", "partOfEducationCampaign"},
            sender=obj.get("sender"),
            sender_ip=obj.get("senderIP"),
            subject=obj.get("subject"),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        data = dict(data)
        data["user_mailbox_settings"] = tuple(data.get("user_mailbox_settings") or ())
        data["detected_urls"] = tuple(data.get("detected_urls") or ())
        data["detected_files"] = tuple(DetectedFile(**f) for f in data.get("detected_files") or ())
        if data.get("admin_review"):
            data["admin_review"] = AdminReview(**data["admin_review"])
        return cls(**data)


# --- the parsed message -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Address:
    name: str
    address: str


@dataclass(frozen=True)
class AuthResult:
    """One method result from an Authentication-Results header (spf, dkim, dmarc, compauth)."""

    method: str
    result: str
    reason: str = ""
    authserv_id: str = ""
    # Stamped by the receiving organisation: the topmost Authentication-Results header, and any other that
    # carries its (non-empty) authserv-id (RFC 8601 §5: a border MTA removes outside headers claiming its id).
    # Everything else came with the message and could be the sender's own invention.
    trusted: bool = False


@dataclass(frozen=True)
class Attachment:
    filename: str
    declared_type: str
    sniffed_type: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ReportedMessage:
    """Everything the bot knows about a reported email, built once by `bot.email.parsing` from raw bytes.

    The card, the dedupe key and the submission read this; nobody re-parses bytes downstream.
    Every string in here was written by an attacker: escape and defang before showing it.
    """

    message_id: str | None
    subject: str
    from_: tuple[Address, ...] = ()
    sender: Address | None = None
    reply_to: tuple[Address, ...] = ()
    return_path: str | None = None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    date: str | None = None  # ISO 8601 when parseable, else None
    authentication: tuple[AuthResult, ...] = ()
    antispam: dict[str, str] = field(
        default_factory=dict
    )  # e.g. {"SCL": "5", "CAT": "PHISH", "SFV": "SPM", "BCL": "0"}
    urls: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    inner: ReportedMessage | None = None  # the wrapped phish when the report forwards it as an attachment
    flags: tuple[str, ...] = ()  # what could not be read, in words ("subject: undecodable charset x-foo")
    size: int = 0
    sha256: str = ""  # of the raw bytes
    # How phishbot came by these bytes when it was not simply handed them (an inline forward: the original
    # found in the reporter's mailbox, or not found), in words for the card.
    provenance: str = ""

    @property
    def original(self) -> ReportedMessage:
        """The innermost wrapped message: what the phish itself says."""
        message = self
        while message.inner is not None:
            message = message.inner
        return message

    @property
    def dedupe_key(self) -> str:
        original = self.original
        if original.message_id:
            return message_id_key(original.message_id)
        return "sha256:" + (original.sha256 or self.sha256)

    @property
    def sender_address(self) -> str:
        return self.from_[0].address if self.from_ else ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReportedMessage:
        def addresses(items: Any) -> tuple[Address, ...]:
            return tuple(Address(**a) for a in items or ())

        data = dict(data)
        data["from_"] = addresses(data.get("from_"))
        data["reply_to"] = addresses(data.get("reply_to"))
        data["to"] = addresses(data.get("to"))
        data["cc"] = addresses(data.get("cc"))
        data["sender"] = Address(**data["sender"]) if data.get("sender") else None
        data["authentication"] = tuple(AuthResult(**a) for a in data.get("authentication") or ())
        data["attachments"] = tuple(Attachment(**a) for a in data.get("attachments") or ())
        data["urls"] = tuple(data.get("urls") or ())
        data["flags"] = tuple(data.get("flags") or ())
        data["antispam"] = dict(data.get("antispam") or {})
        data["inner"] = cls.from_dict(data["inner"]) if data.get("inner") else None
        return cls(**data)


def message_id_key(message_id: str) -> str:
    """The dedupe key of a message by its Internet-Message-ID, however it was learnt (parsed from the bytes, or
    read from Microsoft's submission): one case per message, whatever the door."""
    return "mid:" + message_id.strip().strip("<>").strip().lower()


@dataclass(frozen=True)
class UserReportedEmail:
    """One email an employee reported with Outlook's (or Teams') Report button, as Microsoft's user-reported
    submission describes it (`GET .../emailThreats`, source `user`). Every string but `submission_id` and
    `created_at` was written by the attacker or the reporter's mail client: escape before showing it."""

    submission_id: str
    created_at: datetime
    reporter: str  # the employee's address (createdBy.email, else the mailbox it was reported from)
    mailbox: str  # recipientEmailAddress: whose mailbox holds the message
    category: str  # what the employee said it is (submissionCategory)
    internet_message_id: str | None
    subject: str
    sender: str
    sender_ip: str | None
    received: str | None
    verdict: Verdict

    @classmethod
    def from_graph(cls, obj: dict[str, Any]) -> UserReportedEmail | None:
        """None when the object is not a usable user-reported email (no id or no date: nothing to follow)."""
        submission_id = str(obj.get("id") or "").strip()
        created = _graph_datetime(obj.get("createdDateTime"))
        if not submission_id or created is None:
            return None
        created_by = obj.get("createdBy")
        created_by = created_by if isinstance(created_by, dict) else {}
        user = created_by.get("user")
        user = user if isinstance(user, dict) else {}
        mailbox = str(obj.get("recipientEmailAddress") or "").strip()
        reporter = str(created_by.get("email") or user.get("email") or mailbox).strip()
        category = str(obj.get("category") or "")
        return cls(
            submission_id=submission_id[:64],
            created_at=created,
            reporter=reporter[:320],
            mailbox=(mailbox or reporter)[:320],
            category=category if category in {c.value for c in Category} else Category.PHISHING.value,
            internet_message_id=str(obj["internetMessageId"])[:1000]
            if obj.get("internetMessageId")
            else None,
            subject=str(obj.get("subject") or "")[:1000],
            sender=_bare_address(str(obj.get("sender") or ""))[:320],
            sender_ip=str(obj["senderIP"])[:64] if obj.get("senderIP") else None,
            received=str(obj["receivedDateTime"])[:64] if obj.get("receivedDateTime") else None,
            verdict=Verdict.from_graph(obj),
        )


def _bare_address(value: str) -> str:
    """`a@b`, from `a@b` or `Name <a@b>` (how submissions name the sender varies)."""
    return (parseaddr(value)[1] or value).strip()


def _graph_datetime(value: Any) -> datetime | None:
    """A Graph DateTimeOffset (seven fractional digits, Z) as an aware datetime; None if it is not one."""
    if not isinstance(value, str):
        return None
    text = value.strip().replace("Z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # Python reads at most six fractional digits
        digits = "".join(ch for ch in rest if ch.isdigit())
        text = f"{head}.{digits[:6]}{rest[len(digits) :]}"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- what the card shows --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseAction:
    """One thing a responder (or the bot) did to a case, as shown on the card."""

    action: str  # "resubmitted", "resubmit_scheduled", "dismissed"
    actor: str  # Slack user id, or "phishbot"
    at: datetime
    detail: str = ""


class RemediationState(enum.StrEnum):
    FINDING = "finding"  # the slot is taken; the copies are being looked up
    RUNNING = "running"  # asking Microsoft (remediate) or the mailboxes (mailbox API)
    VERIFYING = "verifying"  # Defender accepted it; delivery locations are read again until done
    DONE = "done"
    PARTIAL = "partial"  # the time limit passed with copies left
    FAILED = "failed"


ACTIVE_REMEDIATION_STATES = frozenset(
    {RemediationState.FINDING, RemediationState.RUNNING, RemediationState.VERIFYING}
)


@dataclass(frozen=True)
class RemediationView:
    """A purge or a restore, as the card shows it."""

    remediation_id: int
    kind: str  # purge | restore
    scope: str  # message | campaign
    action: str  # Graph remediationAction
    method: str  # defender | mailbox
    state: RemediationState
    requested_by: str
    created_at: datetime
    total: int = 0
    done: int = 0
    failed: int = 0
    missing: int = 0
    action_center_urls: tuple[str, ...] = ()
    error: str | None = None
    finished_at: datetime | None = None
    remaining: tuple[str, ...] = ()  # recipients whose copy is not (yet) done, a few of them

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_REMEDIATION_STATES


@dataclass(frozen=True)
class BlockEntry:
    """One Tenant Allow/Block List entry Microsoft reports for a block submission."""

    entry_type: str  # url, fileHash, sender, recipient
    value: str
    status: str  # succeeded, skipped, failed, ...
    expires: str | None = None


@dataclass(frozen=True)
class BlockView:
    block_id: int
    state: str  # scheduled, sending, checking, done, failed, gave_up, skipped
    automatic: bool
    requested_by: str
    created_at: datetime
    not_before: datetime
    expires_days: int
    sent_at: datetime | None = None
    submission_id: str | None = None
    entries: tuple[BlockEntry, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class CaseReport:
    """One person's report of a case: who, through which door, when."""

    user_id: str  # a Slack user id, or a stand-in ("mail:…") for an address no Slack user has
    email: str | None
    door: str  # a Door value
    reported_at: datetime


@dataclass(frozen=True)
class ReviewView:
    """A responder's Mark as … and notify of one user-reported submission."""

    category: str  # a Category value
    requested_by: str
    state: str  # sending, done, failed
    at: datetime
    error: str | None = None


@dataclass(frozen=True)
class UserSubmissionView:
    """An employee's own submission (the Report button) that phishbot follows, and its review."""

    microsoft_id: str
    reporter: str | None  # the address that reported it
    reported_at: datetime
    review: ReviewView | None = None


@dataclass(frozen=True)
class CaseView:
    """A snapshot of one case: the only input of the Block Kit card functions."""

    case_id: int
    kind: CaseKind
    status: CaseStatus
    category: Category
    created_at: datetime
    reporters: tuple[str, ...]  # Slack user ids, first reporter first
    message: ReportedMessage | None = None  # email cases
    url: str | None = None  # URL cases
    note: str = ""  # the first reporter's note
    submission_id: str | None = None  # latest Microsoft submission id
    submitted_at: datetime | None = None
    checks_done: int = 0
    next_check_at: datetime | None = None
    verdict: Verdict | None = None
    error: str | None = None  # a permanent failure, in words for a person
    actions: tuple[CaseAction, ...] = ()
    resubmit_due_at: datetime | None = None  # a scheduled resubmission not yet sent
    network_message_id: str | None = None  # Microsoft's id of the message in this tenant, once hunted
    remediations: tuple[RemediationView, ...] = ()  # purges and restores, oldest first
    blocks: tuple[BlockView, ...] = ()  # blocks, oldest first
    reports: tuple[CaseReport, ...] = ()  # every report, first first (`reporters` in detail)
    user_submissions: tuple[UserSubmissionView, ...] = ()  # Report-button submissions, oldest first
    # phishbot holds the reported bytes (Resubmit and Block send them). A message reported only with the Report
    # button is known by what Microsoft says of it when the reporter's mailbox cannot be read.
    has_copy: bool = True

    @property
    def unreviewed(self) -> tuple[UserSubmissionView, ...]:
        """The user-reported submissions no Mark as … and notify has reached yet (or one that failed)."""
        return tuple(s for s in self.user_submissions if s.review is None or s.review.state == "failed")

    @property
    def remediation(self) -> RemediationView | None:
        return self.remediations[-1] if self.remediations else None

    @property
    def active_remediation(self) -> RemediationView | None:
        return next((r for r in reversed(self.remediations) if r.active), None)
