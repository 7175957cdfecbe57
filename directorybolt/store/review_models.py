"""Tables of the human side: review items (``needs_review`` results a person finishes)
and the staff console's accounts and sessions. Kept apart from :mod:`models` only
for size; same ``Base``, same migrations (0009)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, String, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from directorybolt.store.models import Base, _in, _now

REVIEW_STATES = ("open", "claimed", "resolved")
REVIEW_RESOLUTIONS = ("submitted", "failed", "retry")


class ReviewItem(Base):
    """One ``needs_review`` result waiting for (or finished by) a person. A result sent
    back to automation (``retry``) that ends ``needs_review`` again gets a new item;
    at most one unresolved item per result (partial unique index)."""

    __tablename__ = "review_items"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    result_id: Mapped[int] = mapped_column(ForeignKey("job_results.id", ondelete="CASCADE"), nullable=False)
    job_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("jobs.id", ondelete="CASCADE"),
                                              nullable=False)
    directory_id: Mapped[str] = mapped_column(String(120), nullable=False)
    tier: Mapped[str] = mapped_column(String(20), nullable=False)
    #: ``claimed`` with a lapsed lease reads as ``open`` (evaluated by the database clock).
    state: Mapped[str] = mapped_column(String(20), nullable=False, server_default="open")
    #: When the result became ``needs_review``: the queue's age.
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolution: Mapped[str | None] = mapped_column(String(20))
    evidence_url: Mapped[str | None] = mapped_column(String(2048))
    note: Mapped[str | None] = mapped_column(Text)
    resolved_by: Mapped[str | None] = mapped_column(String(120))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _now()

    __table_args__ = (
        CheckConstraint(_in("state", REVIEW_STATES), name="ck_review_items_state"),
        CheckConstraint(f"resolution IS NULL OR {_in('resolution', REVIEW_RESOLUTIONS)}",
                        name="ck_review_items_resolution"),
        CheckConstraint("(state = 'resolved') = (resolution IS NOT NULL)", name="ck_review_items_resolved"),
        CheckConstraint("state <> 'claimed' OR (claimed_by IS NOT NULL AND lease_expires_at IS NOT NULL)",
                        name="ck_review_items_claim"),
        Index("uq_review_items_unresolved", "result_id", unique=True, postgresql_where=text("state <> 'resolved'")),
        Index("ix_review_items_queue", "state", "tier", "opened_at"),
        Index("ix_review_items_job", "job_id"),
    )


class StaffAccount(Base):
    """A console user. Only an argon2 hash of the password is stored."""

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    created_at: Mapped[datetime] = _now()
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (CheckConstraint("length(name) > 0", name="ck_staff_accounts_name"),)


class StaffSession(Base):
    """A signed-in browser: the cookie holds a random token, the table its sha256 and
    the session's CSRF token."""

    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_accounts.id", ondelete="CASCADE"), nullable=False)
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    __table_args__ = (Index("ix_staff_sessions_expires", "expires_at"),)
