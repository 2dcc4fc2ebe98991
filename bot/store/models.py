"""SQLAlchemy tables. The schema itself is owned by Alembic (bot/store/migrations); a test checks the two agree.

Due work lives here, not in the scheduler (design §7): a submission's `next_check_at`, a resubmission's
`not_before`, a card that still needs an edit. Uniqueness is enforced by constraints, not by `if` checks.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC: SQLite has no time zones, PostgreSQL's are not needed."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


class Base(DeclarativeBase):
    pass


class CaseRow(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(16))
    door: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(500), default="")
    message_json: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    url: Mapped[str | None] = mapped_column(Text, nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The one card in the SOC channel: posted once (claimed first), then edited in place.
    card_channel: Mapped[str | None] = mapped_column(String(32), nullable=True)
    card_ts: Mapped[str | None] = mapped_column(String(32), nullable=True)
    card_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    card_claimed_by: Mapped[str | None] = mapped_column(String(32), nullable=True)  # a WorkerRow id
    card_dirty: Mapped[bool] = mapped_column(Boolean, default=True)
    # The worker drawing the card now: a draw cut short by its death counts as a card still to draw.
    card_drawing_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # When the last draw began: the next waits CARD_EDIT_INTERVAL (Slack's chat.update is ~50 a minute).
    card_drawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Microsoft's id of the reported message in this tenant (EmailEvents.NetworkMessageId), learnt by hunting;
    # the card names it so a responder can find the message in Threat Explorer.
    network_message_id: Mapped[str | None] = mapped_column(String(64), nullable=True)

    reporters: Mapped[list[ReporterRow]] = relationship(back_populates="case", order_by="ReporterRow.id")
    submissions: Mapped[list[SubmissionRow]] = relationship(
        back_populates="case", order_by="SubmissionRow.id"
    )

    __table_args__ = (
        Index("ix_cases_card_dirty", "card_dirty"),
        Index("ix_cases_card_drawing", "card_drawing_by"),
        # App Homes to refresh: the cases changed since a home was last published.
        Index("ix_cases_updated_at", "updated_at"),
    )


class CaseContentRow(Base):
    """The reported bytes, kept apart so listing cases never loads megabytes of MIME."""

    __tablename__ = "case_contents"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True)
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class ReporterRow(Base):
    __tablename__ = "reporters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(32))
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    door: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime())
    outcome_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Set while the outcome message is being sent: if this worker dies meanwhile, the reporter is still untold.
    outcome_claimed_by: Mapped[str | None] = mapped_column(String(32), nullable=True)

    case: Mapped[CaseRow] = relationship(back_populates="reporters")

    __table_args__ = (
        UniqueConstraint("case_id", "user_id", name="uq_reporters_case_user"),
        Index("ix_reporters_user", "user_id"),
    )


class SubmissionRow(Base):
    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    category: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str | None] = mapped_column(String(320), nullable=True)
    requested_by: Mapped[str] = mapped_column(String(32))
    # administrator: phishbot sent it; user: an employee's Report button, followed, never sent by phishbot.
    source: Mapped[str] = mapped_column(String(16), default="administrator", server_default="administrator")
    microsoft_id: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    checks_done: Mapped[int] = mapped_column(Integer, default=0)
    send_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    case: Mapped[CaseRow] = relationship(back_populates="submissions")
    verdicts: Mapped[list[VerdictRow]] = relationship(back_populates="submission", order_by="VerdictRow.id")

    __table_args__ = (
        Index("ix_submissions_state_next_check", "state", "next_check_at"),
        Index("ix_submissions_state_not_before", "state", "not_before"),
        Index("ix_submissions_case", "case_id"),
    )


class VerdictRow(Base):
    """Each distinct answer Microsoft gave for a submission (a row only when it changed)."""

    __tablename__ = "verdicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[str | None] = mapped_column(String(64), nullable=True)
    is_final: Mapped[bool] = mapped_column(Boolean, default=False)
    result: Mapped[dict] = mapped_column(JSON)

    submission: Mapped[SubmissionRow] = relationship(back_populates="verdicts")

    __table_args__ = (Index("ix_verdicts_submission", "submission_id"),)


class CaseActionRow(Base):
    """What responders did to a case, shown on its card (the audit log has every attempt, refused ones too)."""

    __tablename__ = "case_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    detail: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_case_actions_case", "case_id"),)


class AuditRow(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_audit_case", "case_id"),)


class SeenEventRow(Base):
    """Slack redelivers events and users double-click: the first claim of a key wins (primary key)."""

    __tablename__ = "seen_events"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class InboxRow(Base):
    """A Slack request (a slash command, a click, a modal submission, an event), recorded in the request thread
    before Slack hears its ack, and carried out from here: a process that dies after the ack loses nothing, the
    next one (or another replica) takes it over. `key` is Slack's identity of the request (the event id, the
    trigger id): a retried or replayed request is recorded once. The taker holds it (`claimed_by` and
    `claimed_until`, like any due work) from the moment it is recorded; `done_at` ends it, and its `body` is
    emptied then: what it asked for lives in the case from there on."""

    __tablename__ = "inbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(64))
    body: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        UniqueConstraint("key", name="uq_inbox_key"),
        Index("ix_inbox_open", "done_at", "claimed_until"),
    )


class RemediationRow(Base):
    """A purge or a restore of a case's copies. While it runs, `active_case_id` holds the case id: the unique
    constraint on it is what makes "one remediation per case at a time" true across threads and replicas."""

    __tablename__ = "remediations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    active_case_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str] = mapped_column(String(16))  # purge | restore
    scope: Mapped[str] = mapped_column(String(16))  # message | campaign
    action: Mapped[str] = mapped_column(String(32))  # Graph remediationAction
    method: Mapped[str] = mapped_column(String(16))  # defender | mailbox
    state: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(32))
    restores_id: Mapped[int | None] = mapped_column(ForeignKey("remediations.id"), nullable=True)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done_count: Mapped[int] = mapped_column(Integer, default=0)
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    missing_count: Mapped[int] = mapped_column(Integer, default=0)
    action_center_urls: Mapped[list | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    give_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        UniqueConstraint("active_case_id", name="uq_remediations_active_case"),
        Index("ix_remediations_case", "case_id"),
        Index("ix_remediations_state_next_check", "state", "next_check_at"),
    )


class RemediationItemRow(Base):
    """One copy: a (NetworkMessageId, recipient) pair, which is exactly what Defender's remediate takes."""

    __tablename__ = "remediation_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    remediation_id: Mapped[int] = mapped_column(ForeignKey("remediations.id", ondelete="CASCADE"))
    network_message_id: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(320))
    internet_message_id: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    mailbox_message_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        UniqueConstraint(
            "remediation_id", "network_message_id", "recipient", name="uq_remediation_items_pair"
        ),
        Index("ix_remediation_items_remediation_state", "remediation_id", "state"),
    )


class BlockRequestRow(Base):
    """A Block: an email submission carrying tenantAllowOrBlockListAction, sent when Microsoft's throttle allows
    (`not_before`), then read on the verdict schedule for the entries Microsoft created or skipped.
    `auto_case_id` is set for automatic blocks only: unique, so a case is blocked automatically once."""

    __tablename__ = "block_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    auto_case_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    automatic: Mapped[bool] = mapped_column(Boolean, default=False)
    requested_by: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    expires_days: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claimed_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    microsoft_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    checks_done: Mapped[int] = mapped_column(Integer, default=0)
    results: Mapped[list | None] = mapped_column(JSON, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        UniqueConstraint("auto_case_id", name="uq_block_requests_auto_case"),
        Index("ix_block_requests_case", "case_id"),
        Index("ix_block_requests_state_not_before", "state", "not_before"),
        Index("ix_block_requests_state_next_check", "state", "next_check_at"),
    )


class WorkerRow(Base):
    """A running phishbot process, alive while its heartbeat is recent. Work it claims carries its id
    (`claimed_by`): when it dies (kill -9, its host gone) the claim is free at once for the others (on SQLite: for
    the next process), instead of after the claim's lease."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UserReportPollRow(Base):
    """Where the listing of user-reported submissions stands: one row per kind of listing (just "email" today).

    `watermark`: the next listing asks for what Microsoft created from then on (the newest creation time seen,
    less an overlap); it moves only after a listing was taken whole, so a crash repeats a listing and misses none
    (a repeated submission is refused by `submissions.microsoft_id`'s uniqueness). A listing is claimed like any
    due work (`next_poll_at`, `claimed_by`, `claimed_until`), so two replicas never list at once."""

    __tablename__ = "user_report_polls"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    watermark: Mapped[datetime] = mapped_column(UTCDateTime())
    next_poll_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Set while Microsoft refuses the listing (403: the permission is missing): the feature is off until a later
    # listing succeeds.
    denied_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    taken: Mapped[int] = mapped_column(Integer, default=0)  # user reports taken in so far


class ReviewRow(Base):
    """A responder's Mark as … and notify of one user-reported submission: claimed by inserting it (one per
    submission, the unique constraint), sent once, then done or failed (a failed one may be sent again)."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    category: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))  # sending, done, failed
    claimed_by: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (
        UniqueConstraint("submission_id", name="uq_reviews_submission"),
        Index("ix_reviews_case", "case_id"),
    )


class AppHomeRow(Base):
    """A person's App Home: published when they open it, and again when one of the cases it shows changes."""

    __tablename__ = "app_homes"

    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # When the shown data was read (not when Slack took it): a case updated after this makes the home stale.
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Not published again before this: a busy case does not flood views.publish.
    refresh_after: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    responder: Mapped[bool] = mapped_column(Boolean, default=False)  # shows every open case
