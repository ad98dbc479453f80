"""SQLModel tables and their status values."""

from __future__ import annotations

from datetime import date, datetime, timezone
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(timezone.utc)


class Role(StrEnum):
    ADMIN = "admin"
    USER = "user"


class SenderStatus(StrEnum):
    ACTIVE = "active"
    REAUTH_REQUIRED = "reauth_required"
    QUOTA_EXHAUSTED = "quota_exhausted"


class JobStatus(StrEnum):
    SCHEDULED = "scheduled"  # waits for its send_at
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RecipientStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a worker, send under way; reported as pending
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DELIVERY_UNKNOWN = "delivery_unknown"  # the send began but its outcome is unknown: may have been delivered
    SUPPRESSED = "suppressed"  # skipped: the address is on its user's suppression list


class FailureKind(StrEnum):
    """Why a recipient failed, which decides whether "Retry failed" sends it again."""

    PERMANENT = "permanent"  # Gmail refused the message or address (400), or the template cannot render it
    GAVE_UP = "gave_up"  # temporary errors until MAX_ATTEMPTS
    SENDER = "sender"  # no sender was left to send it (removed, revoked)
    INTERNAL = "internal"  # an unexpected error in the engine


class SuppressionReason(StrEnum):
    UNSUBSCRIBED = "unsubscribed"  # the recipient used the unsubscribe link or one-click
    MANUAL = "manual"  # added by the user
    IMPORTED = "imported"  # from an imported list


RETRYABLE_FAILURES = (FailureKind.GAVE_UP, FailureKind.SENDER, FailureKind.INTERNAL)


def _check(column: str, enum: type[StrEnum], name: str) -> sa.CheckConstraint:
    values = ", ".join(f"'{v.value}'" for v in enum)
    return sa.CheckConstraint(f"{column} IN ({values})", name=name)


def _ts(nullable: bool = True, **kw: Any) -> Any:
    return Field(default=None,
                 sa_column=sa.Column(sa.DateTime(timezone=True), nullable=nullable, **kw))


def _created() -> Any:
    return Field(default_factory=utcnow, sa_column=sa.Column(
        sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()))


class User(SQLModel, table=True):
    """A person who signs in with Google."""

    __tablename__ = "users"
    __table_args__ = (_check("role", Role, "ck_users_role"),)

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(sa_column=sa.Column(sa.String(320), nullable=False, unique=True))
    name: str | None = Field(default=None, sa_column=sa.Column(sa.String(200)))
    picture: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    google_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(255), unique=True))
    role: str = Field(default=Role.USER, sa_column=sa.Column(
        sa.String(16), nullable=False, server_default=Role.USER.value))
    is_active: bool = Field(default=True, sa_column=sa.Column(
        sa.Boolean, nullable=False, server_default=sa.true()))
    last_login_at: datetime | None = _ts()
    created_at: datetime = _created()
    updated_at: datetime = _created()


class Sender(SQLModel, table=True):
    """A Gmail account connected by a user to send through; tokens are stored encrypted."""

    __tablename__ = "senders"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "email", name="uq_senders_user_email"),
        _check("status", SenderStatus, "ck_senders_status"),
        # The specification's refresh_token NOT NULL, for connected senders: a removed one has its tokens wiped.
        sa.CheckConstraint("deleted_at IS NOT NULL OR refresh_token IS NOT NULL", name="ck_senders_refresh_token"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True))
    email: str = Field(sa_column=sa.Column(sa.String(320), nullable=False))
    access_token: str | None = Field(default=None, sa_column=sa.Column(sa.Text))  # Fernet ciphertext
    refresh_token: str | None = Field(default=None, sa_column=sa.Column(sa.Text))  # Fernet ciphertext
    token_expires_at: datetime | None = _ts()
    scopes: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    daily_quota: int = Field(default=2000, sa_column=sa.Column(sa.Integer, nullable=False, server_default="2000"))
    # Messages sent on last_sent_date (UTC), kept by the scheduler from the settled rows; the rolling 24 h count
    # (services/quota.py) is what limits sending.
    daily_sent: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    last_sent_date: date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    # A new account warms up: its effective daily quota follows services/quota.WARMUP_RAMP, one step per day it sent.
    warmup: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false()))
    warmup_step: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    status: str = Field(default=SenderStatus.ACTIVE, sa_column=sa.Column(
        sa.String(20), nullable=False, server_default=SenderStatus.ACTIVE.value))
    quota_reset_at: datetime | None = _ts()  # quota_exhausted until then (the time Gmail names)
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    deleted_at: datetime | None = _ts()  # removed by its user; kept for sending history
    created_at: datetime = _created()
    updated_at: datetime = _created()


class EmailJob(SQLModel, table=True):
    """One mass email: a subject and HTML template sent to many recipients."""

    __tablename__ = "email_jobs"
    __table_args__ = (
        _check("status", JobStatus, "ck_email_jobs_status"),
        sa.Index("ix_email_jobs_user_created", "user_id", "created_at"),
        sa.Index("ix_email_jobs_status", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False))
    name: str | None = Field(default=None, sa_column=sa.Column(sa.String(200)))  # the campaign's name, if given
    subject: str = Field(sa_column=sa.Column(sa.String(998), nullable=False))
    html_content: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    status: str = Field(default=JobStatus.QUEUED, sa_column=sa.Column(
        sa.String(20), nullable=False, server_default=JobStatus.QUEUED.value))
    total_recipients: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    sent_count: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    failed_count: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    delivery_unknown_count: int = Field(default=0, sa_column=sa.Column(
        sa.Integer, nullable=False, server_default="0"))
    suppressed_count: int = Field(default=0, sa_column=sa.Column(  # skipped while the job ran: suppressed since
        sa.Integer, nullable=False, server_default="0"))
    send_at: datetime | None = _ts()  # a scheduled job starts then
    sender_ids: list[int] | None = Field(default=None, sa_column=sa.Column(JSONB))  # chosen senders; None = all
    error_message: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    is_test: bool | None = Field(default=None, sa_column=sa.Column(sa.Boolean))  # "Send test to myself"; NULL = no
    started_at: datetime | None = _ts()
    finished_at: datetime | None = _ts()
    created_at: datetime = _created()
    updated_at: datetime = _created()


class EmailRecipient(SQLModel, table=True):
    """One recipient of a job, with its personalisation data and its outcome."""

    __tablename__ = "email_recipients"
    __table_args__ = (
        sa.UniqueConstraint("job_id", "email", name="uq_email_recipients_job_email"),
        _check("status", RecipientStatus, "ck_email_recipients_status"),
        sa.CheckConstraint("failure_kind IS NULL OR failure_kind IN ("
                           + ", ".join(f"'{k.value}'" for k in FailureKind) + ")",
                           name="ck_email_recipients_failure_kind"),
        # A job page lists a status's rows in upload order straight from this index (services/jobs.py).
        sa.Index("ix_email_recipients_job_status", "job_id", "status", "id"),
        sa.Index("ix_email_recipients_sender_sent_at", "sender_id", "sent_at"),
        sa.Index("ix_email_recipients_job_settled_at", "job_id", "settled_at",
                 postgresql_where=sa.text("settled_at IS NOT NULL")),
        # Claimed rows, reserved or being sent (the quota's in-flight count, recovery); without the lease, so that
        # renewing it when a send begins is an in-place update.
        sa.Index("ix_email_recipients_sending", "sender_id", postgresql_where=sa.text("status = 'sending'")),
        # Sends that may have been delivered: they count against the daily quota.
        sa.Index("ix_email_recipients_sender_unknown", "sender_id", "settled_at",
                 postgresql_where=sa.text("status = 'delivery_unknown'")),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, primary_key=True))
    job_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("email_jobs.id", ondelete="CASCADE"), nullable=False))
    email: str = Field(sa_column=sa.Column(sa.String(320), nullable=False))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(
        JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")))
    status: str = Field(default=RecipientStatus.PENDING, sa_column=sa.Column(
        sa.String(20), nullable=False, server_default=RecipientStatus.PENDING.value))
    sender_id: int | None = Field(default=None, sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("senders.id", ondelete="SET NULL")))
    attempts: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    lease_expires_at: datetime | None = _ts()  # a claim older than this is stranded
    next_attempt_at: datetime | None = _ts()  # backoff: not before this time
    sent_at: datetime | None = _ts()
    settled_at: datetime | None = _ts()  # when the row became sent or failed
    gmail_message_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(255)))
    error_message: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    failure_kind: str | None = Field(default=None, sa_column=sa.Column(sa.String(20)))  # FailureKind, when failed
    claimed_by: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))  # worker process/batch of the claim
    send_started_at: datetime | None = _ts()  # set just before the send: a claimed row without it was never sent
    created_at: datetime = _created()
    updated_at: datetime = _created()  # changes with every status change


class JobSenderCount(SQLModel, table=True):
    """How many of a job's recipients one sender sent, failed or left unknown (settles count here, not in the job's
    row); `folded_*` is what the scheduler has already added to the job's counters."""

    __tablename__ = "job_sender_counts"

    job_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("email_jobs.id", ondelete="CASCADE"), primary_key=True))
    sender_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("senders.id", ondelete="CASCADE"), primary_key=True))
    sent: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    failed: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    delivery_unknown: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    folded_sent: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    folded_failed: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))
    folded_unknown: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))


class Suppression(SQLModel, table=True):
    """An address its user's jobs never send to (unsubscribed, added by hand, or imported)."""

    __tablename__ = "suppressions"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "email", name="uq_suppressions_user_email"),
        _check("reason", SuppressionReason, "ck_suppressions_reason"),
        sa.Index("ix_suppressions_created_at", "created_at"),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger, primary_key=True))
    user_id: int = Field(sa_column=sa.Column(
        sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False))
    email: str = Field(sa_column=sa.Column(sa.String(320), nullable=False))  # lower case
    reason: str = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    job_id: int | None = Field(default=None, sa_column=sa.Column(  # the job whose message was unsubscribed from
        sa.Integer, sa.ForeignKey("email_jobs.id", ondelete="SET NULL")))
    created_at: datetime = _created()

# A commit that changes a user tells the processes that keep users for UI events (services/user_cache.py).
from mass_mailer.services import user_cache as _user_cache  # noqa: E402,F401
