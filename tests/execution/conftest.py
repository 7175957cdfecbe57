"""Pipeline fixtures: a seeded sandbox catalog, fast retry settings, job helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from directorybolt.cli import seed
from directorybolt.lifecycle import jobs
from directorybolt.lifecycle.reports import job_report
from directorybolt.queueing import dispatch
from directorybolt.store import db
from tests.conftest import wait_until

FAST = {
    "retry_base_s": 0.5,
    "retry_max_s": 2,
    "retry_jitter": 0.1,
    "base_pacing_ms": 50,
    "heartbeat_interval_s": 1,
}


@pytest.fixture
def fast_settings(settings_env):
    return settings_env(**FAST)


@pytest.fixture
def catalog(clean, fast_settings, sandbox) -> list[str]:
    httpx.delete(f"{sandbox.url}/_submissions")
    return seed.seed_sandbox(sandbox.url)


def make_customer(name: str = "Bolt Plumbing & Heating", email: str = "owner@boltplumbing.example") -> str:
    return seed.customer({**seed.DEMO_PROFILE, "business_name": name, "email": email})


def enqueue(customer_id: str, directories: list[str], tier: str = "pro", **kw: Any) -> str:
    with db.session() as s:
        job, _ = jobs.create_job(s, customer_id=customer_id, tier=tier, directories=directories, **kw)
        job_id, queue = job.id, job.queue
    dispatch.enqueue_job(job_id, queue)
    return str(job_id)


def wait_finished(job_id: str, timeout: float = 120) -> dict[str, Any]:
    return wait_until(
        lambda: (r := job_report(job_id))["status"] in ("completed", "partial", "failed") and r,
        timeout, interval=0.3, what=f"job {job_id} to finish",
    )


def sandbox_counts(sandbox: Any) -> dict[str, int]:
    return httpx.get(f"{sandbox.url}/_submissions").json()["counts"]


@pytest.fixture
def finished() -> Callable[..., dict[str, Any]]:
    return wait_finished
