"""Slack alerts for the dead-letter queue: one alert per growth, and a reminder at
most every ``dlq_reminder_s`` while it stays non-empty, so nobody is paged in a storm.
The last alerted count and time live in Redis, shared by whichever worker runs the check."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select

from directorybolt.core.settings import get_settings
from directorybolt.store import db
from directorybolt.store.models import DeadLetter

log = logging.getLogger(__name__)
STATE_KEY = "dbolt:dlq:alert"


@dataclass(frozen=True)
class DlqSnapshot:
    count: int
    oldest: str | None
    top_errors: list[tuple[str, int]]


def snapshot() -> DlqSnapshot:
    with db.session() as s:
        rows = s.execute(
            select(DeadLetter.exception_type, DeadLetter.created_at).where(DeadLetter.state == "open")
        ).all()
        oldest = s.scalar(select(func.min(DeadLetter.created_at)).where(DeadLetter.state == "open"))
    errors = Counter(r.exception_type for r in rows).most_common(3)
    return DlqSnapshot(len(rows), oldest.isoformat() if oldest else None, errors)


def slack_message(snap: DlqSnapshot, *, reminder: bool) -> dict[str, Any]:
    top = ", ".join(f"{name} ×{n}" for name, n in snap.top_errors) or "none"
    head = "still holds" if reminder else "grew to"
    text = (
        f":rotating_light: DirectoryBolt dead-letter queue {head} *{snap.count}* open entries.\n"
        f"Oldest: {snap.oldest}. Top errors: {top}.\n"
        "Inspect: `directorybolt dlq list` · replay: `directorybolt dlq replay --all` (or `dlq replay ID`)"
    )
    return {"text": text}


def check_dead_letters(*, now: float | None = None) -> str:
    """Returns what it did: ``empty``, ``quiet``, ``alerted`` or ``reminded``."""
    s = get_settings()
    from directorybolt.store.services import redis_client

    client = redis_client()
    now = now or time.time()
    snap = snapshot()
    raw = client.get(STATE_KEY)
    state = json.loads(raw) if raw else {"count": 0, "at": 0.0}
    if snap.count == 0:
        client.set(STATE_KEY, json.dumps({"count": 0, "at": state["at"]}))
        return "empty"
    grew = snap.count > state["count"]
    due = now - state["at"] >= s.dlq_reminder_s
    if not grew and not due:
        return "quiet"
    if s.slack_webhook_url:
        response = httpx.post(s.slack_webhook_url, json=slack_message(snap, reminder=not grew), timeout=5)
        response.raise_for_status()
    else:
        log.warning("dead-letter queue has %s open entries (no SLACK_WEBHOOK_URL set)", snap.count)
    client.set(STATE_KEY, json.dumps({"count": snap.count, "at": now}))
    return "alerted" if grew else "reminded"
