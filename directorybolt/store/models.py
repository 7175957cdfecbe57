"""The system of record. Schema changes go through Alembic, never ``create_all``."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from directorybolt.core.plans import BUSINESS_FIELDS
from directorybolt.core.profiles import BusinessProfile

#: ``needs_review``: a paid order that does not add up (directorybolt.lifecycle.orders) waits for
#: a person; it is never queued until staff release it.
JOB_STATUSES = ("pending", "in_progress", "completed", "partial", "failed", "cancelled", "needs_review")
JOB_TERMINAL = ("completed", "partial", "failed", "cancelled")
RESULT_STATUSES = ("pending", "submitting", "submitted", "failed", "skipped", "needs_review")
RESULT_TERMINAL = ("submitted", "failed", "skipped", "needs_review")
DEAD_LETTER_STATES = ("open", "replayed", "purged")
API_ROLES = ("producer", "staff")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    pass


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    business_name: Mapped[str] = mapped_column(String(200), nullable=False)
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    phone: Mapped[str | None] = mapped_column(String(40))
    website: Mapped[str | None] = mapped_column(String(2048))
    address: Mapped[str | None] = mapped_column(String(300))
    city: Mapped[str | None] = mapped_column(String(120))
    state: Mapped[str | None] = mapped_column(String(60))
    zip: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text)
    category: Mapped[str | None] = mapped_column(String(120))
    tagline: Mapped[str | None] = mapped_column(String(200))
    contact_name: Mapped[str | None] = mapped_column(String(200))
    country: Mapped[str | None] = mapped_column(String(120))
    logo_url: Mapped[str | None] = mapped_column(String(2048))
    social_facebook: Mapped[str | None] = mapped_column(String(2048))
    social_x: Mapped[str | None] = mapped_column(String(2048))
    social_instagram: Mapped[str | None] = mapped_column(String(2048))
    social_linkedin: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
    )

    __table_args__ = (CheckConstraint("length(business_name) > 0", name="ck_customers_business_name"),)

    def profile(self) -> BusinessProfile:
        """The stored row as a validated profile (it was validated when written, and the
        private-address rule is a producer-side check, so it is not applied again)."""
        data = {f: getattr(self, f) for f in BUSINESS_FIELDS}
        return BusinessProfile.model_validate(data, context={"allow_private_websites": True})


class Directory(Base):
    __tablename__ = "directories"

    id: Mapped[str] = mapped_column(String(120), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    submission_url: Mapped[str | None] = mapped_column(String(2048))
    category: Mapped[str | None] = mapped_column(String(120))
    domain_authority: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    tier: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    requires_login: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    has_captcha: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    source: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
    )

    __table_args__ = (
        CheckConstraint("tier BETWEEN 1 AND 3", name="ck_directories_tier"),
        CheckConstraint("domain_authority BETWEEN 0 AND 100", name="ck_directories_da"),
        Index("ix_directories_selection", "active", "tier", text("domain_authority DESC")),
    )


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), nullable=False)
    tier: Mapped[str] = mapped_column(String(20), nullable=False)
    fast_track: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    queue: Mapped[str] = mapped_column(String(60), nullable=False)
    package_size: Mapped[int] = mapped_column(Integer, nullable=False)
    directories_available: Mapped[int | None] = mapped_column(Integer)
    requested_directories: Mapped[list[str] | None] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="pending")
    status_note: Mapped[str | None] = mapped_column(Text)
    total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    submitted: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    needs_review: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    skipped: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    requeue_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    #: sha256 of what the request asked for; a reused Idempotency-Key must match it.
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # Set when the job was told to stop (a refund): nothing new starts, the final status
    # is cancelled or partial (results.final_status_sql).
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_heartbeat: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: When the outbox last published the job's fan-out (NULL: only the producer did).
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
    )

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint(_in("status", JOB_STATUSES), name="ck_jobs_status"),
        CheckConstraint("package_size > 0", name="ck_jobs_package_size"),
        CheckConstraint("requeue_count >= 0", name="ck_jobs_requeue_count"),
        Index("ix_jobs_created_at", text("created_at DESC")),
        Index("ix_jobs_status_heartbeat", "status", "last_heartbeat"),
        Index("ix_jobs_customer", "customer_id", text("created_at DESC")),
    )


class JobResult(Base):
    __tablename__ = "job_results"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False)
    directory_id: Mapped[str] = mapped_column(ForeignKey("directories.id", ondelete="CASCADE"), nullable=False)
    idempotency_key: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    requeues: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    error_category: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)
    screenshot_path: Mapped[str | None] = mapped_column(String(1024))
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    committed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    retry_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now(), onupdate=func.now()
    )

    __table_args__ = (
        CheckConstraint(_in("status", RESULT_STATUSES), name="ck_job_results_status"),
        CheckConstraint("attempts >= 0", name="ck_job_results_attempts"),
        CheckConstraint("requeues >= 0", name="ck_job_results_requeues"),
        UniqueConstraint("job_id", "directory_id", name="uq_job_results_job_directory"),
        Index("ix_job_results_job_status", "job_id", "status"),
        Index("ix_job_results_open", "status", "id", postgresql_where=text("status IN ('pending', 'submitting')")),
        Index("ix_job_results_needs_review", "id", postgresql_where=text("status = 'needs_review'")),
    )


class WorkerHeartbeat(Base):
    __tablename__ = "worker_heartbeats"

    worker_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(200), nullable=False)
    pid: Mapped[int] = mapped_column(Integer, nullable=False)
    current_job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    current_directory_id: Mapped[str | None] = mapped_column(String(120))
    started_at: Mapped[datetime] = _now()
    last_heartbeat: Mapped[datetime] = _now()
    #: Set by the sweep that first saw the beat lapse; a later sweep confirms the death
    #: only if no beat came in between (a database outage alone kills nobody).
    suspected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: ``submissions`` (needs a browser) or ``maintenance``; and ``ok``, or ``degraded`` while
    #: its worker's circuit breaker keeps it from taking submissions (its browser does not launch).
    role: Mapped[str] = mapped_column(String(20), nullable=False, server_default="submissions")
    state: Mapped[str] = mapped_column(String(20), nullable=False, server_default="ok")

    __table_args__ = (Index("ix_worker_heartbeats_last", "last_heartbeat"),)


class QueueHistory(Base):
    """Append-only audit. The code has no UPDATE path for this table."""

    __tablename__ = "queue_history"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    directory_id: Mapped[str | None] = mapped_column(String(120))
    event: Mapped[str] = mapped_column(String(60), nullable=False)
    attempt: Mapped[int | None] = mapped_column(Integer)
    delay_s: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _now()

    __table_args__ = (
        Index("ix_queue_history_job", "job_id", "created_at"),
        Index("ix_queue_history_created_at", "created_at"),
    )


class QueueHistoryArchive(Base):
    """Where retention moves old audit rows before they are finally deleted."""

    __tablename__ = "queue_history_archive"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    job_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    directory_id: Mapped[str | None] = mapped_column(String(120))
    event: Mapped[str] = mapped_column(String(60), nullable=False)
    attempt: Mapped[int | None] = mapped_column(Integer)
    delay_s: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    archived_at: Mapped[datetime] = _now()

    __table_args__ = (Index("ix_queue_history_archive_created_at", "created_at"),)


class DeadLetter(Base):
    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    task_name: Mapped[str] = mapped_column(String(200), nullable=False)
    task_id: Mapped[str | None] = mapped_column(String(200))
    args: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, default=list)
    kwargs: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    queue: Mapped[str | None] = mapped_column(String(60))
    tier: Mapped[str | None] = mapped_column(String(20))
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    directory_id: Mapped[str | None] = mapped_column(String(120))
    exception_type: Mapped[str] = mapped_column(String(200), nullable=False)
    exception_message: Mapped[str] = mapped_column(Text, nullable=False, default="")
    traceback: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    first_failure_at: Mapped[datetime] = _now()
    last_failure_at: Mapped[datetime] = _now()
    state: Mapped[str] = mapped_column(String(20), nullable=False, default="open")
    state_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint(_in("state", DEAD_LETTER_STATES), name="ck_dead_letters_state"),
        Index("ix_dead_letters_state_created", "state", "created_at"),
    )


class ApiKey(Base):
    """Only a hash is stored; the clear key is shown once at creation."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False, unique=True)
    key_hash: Mapped[str] = mapped_column(String(128), nullable=False)
    role: Mapped[str] = mapped_column(String(20), nullable=False, default="producer")
    created_at: Mapped[datetime] = _now()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (CheckConstraint(_in("role", API_ROLES), name="ck_api_keys_role"),)


class ApiKeyCustomer(Base):
    """A producer key's scope: the customers it created, and those a staff key granted
    it (``granted_by``). Staff keys need no rows: they see every customer."""

    __tablename__ = "api_key_customers"

    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True)
    granted_by: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _now()

    __table_args__ = (Index("ix_api_key_customers_customer", "customer_id"),)


class StripeEvent(Base):
    """A Stripe event that changed something, by Stripe's event id: a redelivery finds
    its row and changes nothing. Written in the transaction that made the change."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100), nullable=False)
    payment_intent: Mapped[str | None] = mapped_column(String(255))
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    received_at: Mapped[datetime] = _now()

    __table_args__ = (Index("ix_stripe_events_payment_intent", "payment_intent"),)


class StripeCheckout(Base):
    """One paid checkout session and the job it became (none when the order could not
    become a job: ``review_reason`` says why and ``payload`` keeps the session)."""

    __tablename__ = "stripe_checkouts"

    session_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("stripe_events.id", ondelete="CASCADE"), nullable=False,
                                          unique=True)
    payment_intent: Mapped[str | None] = mapped_column(String(255), unique=True)
    job_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    package: Mapped[str | None] = mapped_column(String(40))
    fast_track: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    amount_total: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(10))
    review_reason: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[str | None] = mapped_column(Text)  # JSON text: jsonb cannot hold every string JSON can
    refunded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()

    __table_args__ = (Index("ix_stripe_checkouts_job", "job_id"),)
