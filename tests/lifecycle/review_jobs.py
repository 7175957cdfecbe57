"""Jobs that finished with rows waiting for a person, made through the real
transitions (claim, finish) a worker uses, without a browser."""

from __future__ import annotations

import uuid
from typing import Any

from directorybolt.cli import seed
from directorybolt.lifecycle import jobs, results
from directorybolt.store import db

W = "host:1:reviewer"


def directories(ids: list[str]) -> list[dict[str, Any]]:
    return [{"id": d, "name": f"Directory {d}", "url": f"http://127.0.0.1:9/{d}/", "tier": 1,
             "domain_authority": 90 - i, "plan": {"steps": [
                 {"action": "goto", "url": f"http://127.0.0.1:9/{d}/"},
                 {"action": "fill", "field": "business_name", "selector": "#n"},
                 {"action": "expect", "text": "ok"}]}}
            for i, d in enumerate(ids)]


def finished_job(outcomes: dict[str, str], *, tier: str = "starter", customer: str | None = None,
                 screenshot: str | None = None) -> uuid.UUID:
    """A job over ``outcomes``' directories, each row finished with its outcome
    (``submitted``, ``failed``, ``needs_review``) or left ``pending`` (``None``)."""
    seed.upsert_directories(directories(list(outcomes)))
    with db.session() as s:
        job, _ = jobs.create_job(s, customer_id=customer or seed.customer(), tier=tier,
                                 directories=list(outcomes))
        jobs.start_job(s, job.id)
        job_id = job.id
    for d, outcome in outcomes.items():
        if outcome is None:
            continue
        with db.session() as s:
            got = results.claim(s, job_id, d, W)
            assert isinstance(got, results.Claimed), got
            category = "captcha" if outcome == "needs_review" else ("plan_error" if outcome == "failed" else None)
            results.finish(s, job_id, d, status=outcome, owner=W, attempt=got.attempt, category=category,
                           message="a CAPTCHA guards the form" if outcome == "needs_review" else None,
                           screenshot=screenshot)
    return job_id
