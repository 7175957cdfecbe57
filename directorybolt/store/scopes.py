"""Tenant scoping: which customers a producer key may read and enqueue for.

A producer key's scope is the customers it created (bound in the transaction that
creates them) plus those a staff key granted it. Staff keys see everything. Outside
the scope a customer or a job answers exactly as one that does not exist (404), so
a key learns nothing about other tenants, not even that an id is taken.
"""

from __future__ import annotations

import uuid

from sqlalchemy import delete, exists, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from directorybolt.core.errors import NotFound
from directorybolt.store import db
from directorybolt.store.apikeys import KeyInfo, find
from directorybolt.store.models import ApiKeyCustomer, Customer, Job


def bind(session: Session, key_id: int, customer_id: uuid.UUID, *, granted_by: int | None = None) -> None:
    session.execute(
        pg_insert(ApiKeyCustomer)
        .values(api_key_id=key_id, customer_id=customer_id, granted_by=granted_by)
        .on_conflict_do_nothing()
    )


def customer_in_scope(session: Session, key: KeyInfo, customer_id: uuid.UUID) -> bool:
    if key.role == "staff":
        return True
    return bool(session.scalar(select(exists().where(
        ApiKeyCustomer.api_key_id == key.id, ApiKeyCustomer.customer_id == customer_id))))


def require_customer(session: Session, key: KeyInfo, customer_id: uuid.UUID) -> None:
    """NotFound, worded as for a missing customer, unless ``key`` may use it."""
    if not customer_in_scope(session, key, customer_id):
        raise NotFound(f"customer {customer_id} does not exist")


def require_job(key: KeyInfo, job_id: uuid.UUID) -> None:
    """NotFound, worded as for a missing job, unless the job's customer is in scope."""
    if key.role == "staff":
        return
    with db.session() as s:
        visible = s.scalar(select(exists().where(
            Job.id == job_id, ApiKeyCustomer.customer_id == Job.customer_id, ApiKeyCustomer.api_key_id == key.id)))
    if not visible:
        raise NotFound(f"job {job_id} does not exist")


def grant(key_ref: str, customer_id: uuid.UUID, *, granted_by: int | None = None) -> KeyInfo:
    """Add a customer to a producer key's scope (a staff action)."""
    with db.session() as s:
        row = find(s, key_ref)
        if s.get(Customer, customer_id) is None:
            raise NotFound(f"customer {customer_id} does not exist")
        bind(s, row.id, customer_id, granted_by=granted_by)
        return KeyInfo.of(row)


def withdraw(key_ref: str, customer_id: uuid.UUID) -> KeyInfo:
    """Take a customer out of a key's scope (also one it created)."""
    with db.session() as s:
        row = find(s, key_ref)
        s.execute(delete(ApiKeyCustomer).where(
            ApiKeyCustomer.api_key_id == row.id, ApiKeyCustomer.customer_id == customer_id))
        return KeyInfo.of(row)


def customers_of(key_id: int) -> list[uuid.UUID]:
    with db.session() as s:
        return list(s.scalars(select(ApiKeyCustomer.customer_id).where(ApiKeyCustomer.api_key_id == key_id)
                              .order_by(ApiKeyCustomer.created_at)))
