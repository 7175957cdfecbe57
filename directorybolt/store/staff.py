"""Staff console accounts and their browser sessions.

Passwords are people's secrets, low in entropy, so they get a slow, salted hash:
argon2id through argon2-cffi (its default parameters). A new account's password is
generated here and shown once (``directorybolt staff create``); nothing stores it in
clear. A signed-in browser holds a random session token in a cookie; the table keeps
only its sha256 (the token has 256 random bits, so a fast hash suffices) with the
session's CSRF token and expiry, so signing out or expiring is a row going away.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update

from directorybolt.core.errors import ConflictError, ValidationError
from directorybolt.store import db
from directorybolt.store.review_models import StaffAccount, StaffSession

_HASHER = PasswordHasher()
#: Verified against when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _HASHER.hash("no such staff member")


@dataclass(frozen=True)
class Staff:
    """A signed-in person as the console knows them."""

    id: int
    name: str
    csrf_token: str


def _valid_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 120 or any(c.isspace() for c in name):
        raise ValidationError("a staff name is 1-120 characters without spaces")
    return name


def create(name: str) -> str:
    """A new account; returns its one-time password (shown once, stored hashed)."""
    name = _valid_name(name)
    password = secrets.token_urlsafe(15)
    with db.session() as s:
        if s.scalar(select(StaffAccount.id).where(StaffAccount.name == name)) is not None:
            raise ConflictError(f"staff member {name!r} exists already; use `directorybolt staff reset {name}`")
        s.add(StaffAccount(name=name, password_hash=_HASHER.hash(password)))
    return password


def reset(name: str) -> str:
    """A new one-time password for an existing account; its sessions end."""
    password = secrets.token_urlsafe(15)
    with db.session() as s:
        sid = s.scalar(update(StaffAccount).where(StaffAccount.name == name)
                       .values(password_hash=_HASHER.hash(password)).returning(StaffAccount.id))
        if sid is None:
            raise ValidationError(f"no staff member {name!r}")
        s.execute(delete(StaffSession).where(StaffSession.staff_id == sid))
    return password


def names() -> list[str]:
    with db.session() as s:
        return list(s.scalars(select(StaffAccount.name).order_by(StaffAccount.name)))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(name: str, password: str, lifetime_s: int) -> tuple[str, Staff] | None:
    """A new session token for a right name and password; None otherwise (the same
    time either way)."""
    with db.session() as s:
        account = s.scalar(select(StaffAccount).where(StaffAccount.name == name.strip(),
                                                      StaffAccount.disabled_at.is_(None)))
        try:
            _HASHER.verify(account.password_hash if account else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        if account is None:
            return None
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        s.add(StaffSession(token_hash=_token_hash(token), staff_id=account.id, csrf_token=csrf,
                           expires_at=datetime.now(UTC) + timedelta(seconds=lifetime_s)))
        account.last_sign_in_at = func.now()
        return token, Staff(account.id, account.name, csrf)


def session_for(token: str | None) -> Staff | None:
    """The signed-in person a cookie's token belongs to, if the session is live."""
    if not token or len(token) > 100:
        return None
    with db.session() as s:
        row = s.execute(
            select(StaffAccount.id, StaffAccount.name, StaffSession.csrf_token)
            .join(StaffSession, StaffSession.staff_id == StaffAccount.id)
            .where(StaffSession.token_hash == _token_hash(token), StaffSession.expires_at > func.now(),
                   StaffAccount.disabled_at.is_(None))
        ).one_or_none()
    return Staff(row.id, row.name, row.csrf_token) if row else None


def sign_out(token: str | None) -> None:
    if token:
        with db.session() as s:
            s.execute(delete(StaffSession).where(StaffSession.token_hash == _token_hash(token)))
