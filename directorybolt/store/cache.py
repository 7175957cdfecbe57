"""Read-through Redis cache of what every submission reads and almost nothing writes:
the customer's business profile and the directory's catalog entry.

A job of 500 directories loads the same profile 500 times and every job loads the
same few hundred catalog entries, so PostgreSQL would otherwise look up the same two
rows (and detoast the same plan JSON) for every submission, whether as separate
SELECTs or joined into the claim. Entries are JSON under
``dbolt:cache:{profile|directory}:<id>`` with TTLs from settings (profiles 1 h,
catalog entries 24 h); the TTL only bounds how long a *missed* invalidation can last.

Invalidation happens on commit, in every process that imports this module (the
listeners are installed at import; ``directorybolt.db`` should import it so no
writer can forget):

* ORM writes to :class:`Customer` / :class:`Directory` (mapper ``after_update``,
  ``after_delete``) invalidate those ids. Inserts need nothing: no reader can have
  cached a row before it was committed;
* statements on the ``customers`` / ``directories`` tables that name no single row
  (``insert(...).on_conflict_do_update`` as in ``seed.upsert_directories``, bulk
  ``update()``, raw ``text()`` SQL) invalidate every entry of that kind.

Invalidating *after commit* matters: a reader that misses between the writer's flush
and its commit would read the old committed row and cache it again. To close the
remaining window (a reader that read before the commit and writes after the
invalidation), invalidation leaves a short tombstone and fills use ``SET NX``, so a
late fill of stale data is refused; during the tombstone readers simply go to the
database.

Redis being unreachable degrades to database reads, never to an error.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, object_session

from directorybolt.core.errors import NotFound
from directorybolt.core.profiles import BusinessProfile
from directorybolt.core.settings import get_settings
from directorybolt.store.models import Customer, Directory
from directorybolt.store.services import redis_client

log = logging.getLogger(__name__)

PREFIX = "dbolt:cache"
PROFILE = "profile"
DIRECTORY = "directory"
TABLE_KIND = {"customers": PROFILE, "directories": DIRECTORY}
#: How long an invalidated key refuses fills (see the module docstring).
TOMBSTONE_MS = 2000
_TOMBSTONE = b""
_PENDING = "dbolt_cache_invalidate"
_ALL = "*"
_RAW_WRITE = re.compile(r"\b(?:update|insert\s+into|delete\s+from)\s+(?:only\s+)?\"?(customers|directories)\b", re.I)


@dataclass(frozen=True)
class DirectoryEntry:
    """What a submission needs of a catalog row; plain data, so it survives JSON."""

    id: str
    name: str
    url: str
    submission_url: str | None
    category: str | None
    domain_authority: int
    tier: int
    active: bool
    requires_login: bool
    has_captcha: bool
    plan: dict[str, Any] | None

    @property
    def target_url(self) -> str:
        return self.submission_url or self.url

    @classmethod
    def of(cls, d: Directory) -> DirectoryEntry:
        return cls(d.id, d.name, d.url, d.submission_url, d.category, d.domain_authority, d.tier, d.active,
                   d.requires_login, d.has_captcha, d.plan)


def key(kind: str, ident: object) -> str:
    return f"{PREFIX}:{kind}:{ident}"


def _redis() -> Any:
    return redis_client()


def _read(k: str) -> bytes | None:
    try:
        raw = _redis().get(k)
    except Exception as exc:
        log.warning("cache read failed, using the database: %s", exc)
        return None
    return raw or None  # a tombstone reads as a miss


def _fill(k: str, payload: str, ttl_s: int) -> None:
    try:
        _redis().set(k, payload, ex=ttl_s, nx=True)
    except Exception as exc:
        log.warning("cache fill failed: %s", exc)


def get_profile(session: Session, customer_id: str | uuid.UUID) -> BusinessProfile:
    """The customer's validated profile, from Redis when cached."""
    cid = customer_id if isinstance(customer_id, uuid.UUID) else uuid.UUID(str(customer_id))
    k = key(PROFILE, cid)
    raw = _read(k)
    if raw is not None:
        try:
            return BusinessProfile.model_validate_json(raw, context={"allow_private_websites": True})
        except ValueError:
            log.warning("discarding an unreadable cached profile for %s", cid)
    customer = session.get(Customer, cid)
    if customer is None:
        raise NotFound(f"customer {cid} does not exist")
    profile = customer.profile()
    _fill(k, profile.model_dump_json(), get_settings().cache_profile_ttl_s)
    return profile


def get_directory(session: Session, directory_id: str) -> DirectoryEntry:
    """The catalog entry (plan, URLs, tier, flags), from Redis when cached."""
    k = key(DIRECTORY, directory_id)
    raw = _read(k)
    if raw is not None:
        try:
            return DirectoryEntry(**json.loads(raw))
        except (ValueError, TypeError):
            log.warning("discarding an unreadable cached directory %s", directory_id)
    directory = session.get(Directory, directory_id)
    if directory is None:
        raise NotFound(f"directory {directory_id} does not exist")
    entry = DirectoryEntry.of(directory)
    _fill(k, json.dumps(asdict(entry)), get_settings().cache_directory_ttl_s)
    return entry


def _invalidate(kind: str, ident: object) -> None:
    try:
        _redis().set(key(kind, ident), _TOMBSTONE, px=TOMBSTONE_MS)
    except Exception as exc:
        log.error("cache invalidation of %s %s failed (stale for at most its TTL): %s", kind, ident, exc)


def invalidate_profile(customer_id: str | uuid.UUID) -> None:
    _invalidate(PROFILE, customer_id)


def invalidate_directory(directory_id: str) -> None:
    _invalidate(DIRECTORY, directory_id)


def invalidate_all(kind: str) -> int:
    """Drop every cached entry of ``kind`` (a bulk write names no single row)."""
    try:
        client = _redis()
        keys = list(client.scan_iter(match=key(kind, "*"), count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i:i + 500])
        return len(keys)
    except Exception as exc:
        log.error("cache invalidation of every %s failed (stale for at most its TTL): %s", kind, exc)
        return 0


# ---- invalidation on write -------------------------------------------------------------


def _remember(session: Session | None, kind: str, ident: object) -> None:
    if session is None:  # written through a bare connection: no commit hook to wait for
        if ident == _ALL:
            invalidate_all(kind)
        else:
            _invalidate(kind, ident)
        return
    session.info.setdefault(_PENDING, set()).add((kind, str(ident)))


def _on_customer_write(_mapper: Any, _connection: Any, target: Customer) -> None:
    _remember(object_session(target), PROFILE, target.id)


def _on_directory_write(_mapper: Any, _connection: Any, target: Directory) -> None:
    _remember(object_session(target), DIRECTORY, target.id)


def _on_execute(state: ORMExecuteState) -> None:
    """Statements that bypass the unit of work (Core/bulk writes and raw SQL)."""
    if state.is_select:
        return
    stmt = state.statement
    table = getattr(stmt, "table", None)
    kinds: set[str] = set()
    if table is not None and getattr(table, "name", None) in TABLE_KIND:
        kinds.add(TABLE_KIND[table.name])
    elif table is None and hasattr(stmt, "text"):
        kinds.update(TABLE_KIND[m.lower()] for m in _RAW_WRITE.findall(stmt.text))
    for kind in kinds:
        _remember(state.session, kind, _ALL)


def _after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    wiped = {kind for kind, ident in pending if ident == _ALL}
    for kind in wiped:
        invalidate_all(kind)
    for kind, ident in pending:
        if kind not in wiped:
            _invalidate(kind, ident)


def _after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)


def install() -> None:
    """Register the listeners (idempotent; the engine does it on creation)."""
    for ev in ("after_update", "after_delete"):
        if not event.contains(Customer, ev, _on_customer_write):
            event.listen(Customer, ev, _on_customer_write)
        if not event.contains(Directory, ev, _on_directory_write):
            event.listen(Directory, ev, _on_directory_write)
    for ev, fn in (("do_orm_execute", _on_execute), ("after_commit", _after_commit),
                   ("after_rollback", _after_rollback)):
        if not event.contains(Session, ev, fn):
            event.listen(Session, ev, fn)
