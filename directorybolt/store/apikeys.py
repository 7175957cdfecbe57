"""API keys: created once, stored as a hash, looked up by a public prefix.

A key reads ``dbk_<8 hex>_<43 url-safe chars>``. The first 12 characters are the
prefix, stored in clear and unique, so a request finds its row with one indexed
lookup instead of hashing against every key. Only ``sha256(key)`` is stored: the
secret part carries 256 random bits, so a fast hash is enough (a slow password hash
protects low-entropy secrets, and would cost every request milliseconds). The
hash is compared with :func:`hmac.compare_digest` so the comparison time does not
reveal how much of a guess was right.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from directorybolt.core.errors import NotFound, ValidationError
from directorybolt.store import db
from directorybolt.store.models import API_ROLES, ApiKey

KEY_MARK = "dbk_"
PREFIX_LEN = len(KEY_MARK) + 8
#: ``last_used_at`` is refreshed at most this often, so verifying a key is a read,
#: not a write, on almost every request.
LAST_USED_RESOLUTION = timedelta(seconds=60)
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


@dataclass(frozen=True)
class KeyInfo:
    """What a verified request knows about its caller (never the hash)."""

    id: int
    name: str
    prefix: str
    role: str
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @classmethod
    def of(cls, row: ApiKey) -> KeyInfo:
        return cls(row.id, row.name, row.prefix, row.role, row.created_at, row.last_used_at, row.revoked_at)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create(name: str, role: str = "producer") -> tuple[KeyInfo, str]:
    """Returns the stored key's info and the clear key, which exists nowhere else."""
    name = name.strip()
    if not name or len(name) > 120:
        raise ValidationError("a key name must have 1 to 120 characters")
    if role not in API_ROLES:
        raise ValidationError(f"role must be one of: {', '.join(API_ROLES)}")
    key = f"{KEY_MARK}{secrets.token_hex(4)}_{secrets.token_urlsafe(32)}"
    with db.session() as s:
        row = ApiKey(name=name, prefix=key[:PREFIX_LEN], key_hash=hash_key(key), role=role)
        s.add(row)
        s.flush()
        s.refresh(row)
        info = KeyInfo.of(row)
    return info, key


_VERIFY_COLUMNS = (ApiKey.id, ApiKey.name, ApiKey.prefix, ApiKey.role, ApiKey.key_hash, ApiKey.created_at,
                   ApiKey.last_used_at, ApiKey.revoked_at)


def verify(key: str) -> KeyInfo | None:
    """The key's info when it exists and is not revoked, else None.

    On every request's path, so it reads in autocommit: one round trip, instead of
    BEGIN, SELECT and COMMIT in a session."""
    if not key.startswith(KEY_MARK) or len(key) < PREFIX_LEN + 2 or key[PREFIX_LEN] != "_":
        return None
    with db.engine().connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        row = conn.execute(select(*_VERIFY_COLUMNS).where(ApiKey.prefix == key[:PREFIX_LEN])).one_or_none()
        # Compare even when no row matched, so a miss costs the same as a wrong secret.
        matches = hmac.compare_digest(row.key_hash if row else _DUMMY_HASH, hash_key(key))
        if row is None or not matches or row.revoked_at is not None:
            return None
        now = datetime.now(UTC)
        if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
            conn.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=func.now()))
    return KeyInfo(row.id, row.name, row.prefix, row.role, row.created_at, row.last_used_at, row.revoked_at)


def find(session: Session, prefix_or_id: str) -> ApiKey:
    ref = prefix_or_id.strip()
    clauses = [ApiKey.prefix == ref[:PREFIX_LEN]]
    if ref.isdigit() and len(ref) < 19:
        clauses.append(ApiKey.id == int(ref))
    row = session.scalar(select(ApiKey).where(or_(*clauses)).order_by(ApiKey.id).limit(1))
    if row is None:
        raise NotFound(f"no API key with prefix or id {ref!r}")
    return row


def revoke(prefix_or_id: str) -> KeyInfo:
    """Revoking is immediate (every request reads the row) and kept for the audit trail."""
    with db.session() as s:
        row = find(s, prefix_or_id)
        if row.revoked_at is None:
            row.revoked_at = datetime.now(UTC)
        s.flush()
        return KeyInfo.of(row)


def list_keys(*, include_revoked: bool = True) -> list[KeyInfo]:
    with db.session() as s:
        q = select(ApiKey).order_by(ApiKey.id)
        if not include_revoked:
            q = q.where(ApiKey.revoked_at.is_(None))
        return [KeyInfo.of(r) for r in s.scalars(q)]
