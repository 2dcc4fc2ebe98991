"""The domain's words and value types, shared by the parser, the store, the services and the cards.

Nothing here does I/O. *Report*: a person's act. *Case*: one reported message (or URL) and everything
about it. *Submission*: one request to Microsoft. *Verdict*: Microsoft's result. *Responder*: who may act.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from datetime import datetime
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
            return "mid:" + original.message_id.strip().strip("<>").lower()
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

    @property
    def remediation(self) -> RemediationView | None:
        return self.remediations[-1] if self.remediations else None

    @property
    def active_remediation(self) -> RemediationView | None:
        return next((r for r in reversed(self.remediations) if r.active), None)
