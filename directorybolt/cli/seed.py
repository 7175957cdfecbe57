"""Loads the sandbox catalog and a demo customer (for the demo, tests and benchmarks)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from directorybolt.core.plans import Plan
from directorybolt.lifecycle import jobs
from directorybolt.store import db
from directorybolt.store.models import Customer, Directory

DEMO_PROFILE: dict[str, Any] = {
    "business_name": "Bolt Plumbing & Heating",
    "email": "owner@boltplumbing.example",
    "phone": "+1 (503) 555-0142",
    "website": "https://boltplumbing.example",
    "address": "1200 SE Morrison St",
    "city": "Portland",
    "state": "OR",
    "zip": "97214",
    "description": "Family-run plumbing and heating since 1998. Emergency repairs, 24/7.",
    "category": "Plumbing",
}


def upsert_directories(entries: list[dict[str, Any]]) -> list[str]:
    """Insert or update directories by id (plans validated first: a bad plan is a bug here)."""
    rows = []
    for e in entries:
        if e.get("plan") is not None:
            Plan.model_validate(e["plan"])
        rows.append(
            {
                "id": e["id"], "name": e["name"], "url": e["url"], "submission_url": e.get("submission_url"),
                "category": e.get("category"), "domain_authority": e.get("domain_authority", 50),
                "tier": e.get("tier", 1), "active": e.get("active", True), "plan": e.get("plan"),
                "requires_login": e.get("requires_login", False), "has_captcha": e.get("has_captcha", False),
            }
        )
    with db.session() as s:
        stmt = pg_insert(Directory).values(rows)
        s.execute(
            stmt.on_conflict_do_update(
                index_elements=[Directory.id],
                set_={c: stmt.excluded[c] for c in rows[0] if c != "id"},
            )
        )
    return [r["id"] for r in rows]


def seed_sandbox(base_url: str, *, clones: int = 0) -> list[str]:
    from directorybolt.sandbox import sandbox_directories

    return upsert_directories(sandbox_directories(base_url.rstrip("/"), clones=clones))


def customer(profile: dict[str, Any] | None = None) -> str:
    """Create a customer (or reuse the one with the same business name and email)."""
    profile = profile or DEMO_PROFILE
    with db.session() as s:
        existing = s.scalar(
            select(Customer.id).where(
                Customer.business_name == profile["business_name"], Customer.email == profile["email"]
            )
        )
        if existing is not None:
            return str(existing)
        return str(jobs.create_customer(s, profile).id)
