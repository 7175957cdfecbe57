"""Refunds through ``POST /api/webhooks/stripe``: a full refund stops the job its payment
paid for, whenever it arrives (before the job starts, in the middle of it with a real
worker and Chromium, or before its own checkout event); a partial one is only noted."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from directorybolt.cli import seed
from directorybolt.lifecycle.reports import job_report
from directorybolt.store import db
from directorybolt.store.models import JOB_TERMINAL, JobResult, QueueHistory, StripeCheckout
from directorybolt.store.services import redis_client
from tests.api import stripe_events as se
from tests.api.conftest import Keys
from tests.conftest import wait_until


@pytest.mark.parametrize("refund_first", [False, True])
def test_a_refund_settles_an_order_that_could_not_become_a_job(api, clean, keys, refund_first):
    session = se.checkout_session(metadata={"package": "platinum", "business_name": "Pine Street Dental"})
    events = [se.event("checkout.session.completed", session),
              se.event("charge.refunded", se.charge_refunded(session["payment_intent"]))]
    with api.client() as c:
        answers = [se.deliver(c, e).json()["outcome"] for e in (events[::-1] if refund_first else events)]
        reviews = c.get("/api/admin/orders/held", headers=Keys.bearer(keys.staff)).json()
    assert sorted(answers) == ["held", "refund"]
    assert reviews == [], "a refunded order needs no one"
    with db.session() as s:
        assert s.get(StripeCheckout, session["id"]).refunded_at is not None


def test_refund_before_the_job_starts_cancels_it(api, clean):
    session = se.checkout_session(package="starter")
    with api.client() as c:
        created = se.deliver(c, se.event("checkout.session.completed", session)).json()
        refund = se.event("charge.refunded", se.charge_refunded(session["payment_intent"]))
        r = se.deliver(c, refund)
        again = se.deliver(c, refund)
    assert r.status_code == 200 and r.json()["outcome"] == "refund" and r.json()["job_id"] == created["job_id"]
    assert again.json()["outcome"] == "duplicate"
    job = se.job(created["job_id"])
    assert job.status == "cancelled" and job.cancel_requested_at is not None and "refunded" in job.status_note
    # The fan-out queued before the refund reaches a worker afterwards: it does nothing.
    from tasks.submission import process_job

    assert process_job.apply(args=[created["job_id"]], kwargs={"tier_queue": job.queue}).get()["sent"] == 0
    assert se.count(JobResult) == 0


def test_refund_delivered_before_its_checkout_cancels_the_job_at_once(api, clean):
    """Stripe does not promise order: the refund's event may come first."""
    session = se.checkout_session(package="growth")
    with api.client() as c:
        early = se.deliver(c, se.event("charge.refunded", se.charge_refunded(session["payment_intent"])))
        created = se.deliver(c, se.event("checkout.session.completed", session))
    assert early.json()["outcome"] == "refund" and "no order" in early.json()["note"]
    assert created.json()["status"] == "cancelled"
    assert se.job(created.json()["job_id"]).status == "cancelled"
    assert redis_client().llen("submissions.growth") == 0


def test_partial_refund_is_noted_and_the_job_goes_on(api, clean):
    session = se.checkout_session(package="starter")
    with api.client() as c:
        created = se.deliver(c, se.event("checkout.session.completed", session)).json()
        r = se.deliver(c, se.event("charge.refunded", se.charge_refunded(session["payment_intent"], full=False)))
    assert r.json()["note"].startswith("partial refund")
    assert se.job(created["job_id"]).status == "pending"
    with db.session() as s:
        assert s.scalar(select(func.count()).where(QueueHistory.event == "refund_partial")) == 1


@pytest.mark.slow
@pytest.mark.browser
def test_refund_mid_job_skips_what_was_not_submitted(api, clean, settings_env, sandbox, start_worker):
    """A real worker drives Chromium through the sandbox; the refund arrives while the
    slow directory is in flight. What was sent counts; what was not is skipped and never
    reaches its directory."""
    from tests.execution.conftest import FAST, sandbox_counts

    settings_env(**FAST, step_timeout_ms=20_000)  # the slow form answers in 4 s, even on a busy machine
    httpx.delete(f"{sandbox.url}/_submissions")
    httpx.post(f"{sandbox.url}/_control", json={"slow_delay": 4.0})
    directories = seed.seed_sandbox(sandbox.url)
    start_worker(concurrency=1)
    session = se.checkout_session(package="starter")
    with api.client() as c:
        job_id = se.deliver(c, se.event("checkout.session.completed", session)).json()["job_id"]
        wait_until(lambda: _results_of(job_id).get("plain") == "submitted" and
                   _results_of(job_id).get("slow") == "submitting", 90, what="plain submitted and slow in flight")
        r = se.deliver(c, se.event("charge.refunded", se.charge_refunded(session["payment_intent"], amount=14900)))
    assert r.status_code == 200 and r.json()["outcome"] == "refund", r.text
    tier_one = {d for d in directories if d not in ("wizard", "select", "catalogstyle")}
    assert r.json()["skipped"] == len(tier_one) - 2
    report = _wait_ended(job_id)
    got = {x["directory"]: x["status"] for x in report["results"]}
    # "slow" was in flight: sent before the refund it finishes and counts; not sent yet,
    # the worker reaches the click, finds the job stopped and skips it.
    slow = got["slow"]
    assert slow in ("submitted", "skipped")
    assert got == {d: slow if d == "slow" else "submitted" if d == "plain" else "skipped" for d in tier_one}, got
    assert report["status"] == "partial"
    assert report["counts"]["skipped"] == len(tier_one) - 2 + (slow == "skipped")
    counts = sandbox_counts(sandbox)
    assert {d: counts.get(f"{d}|pine street dental", 0) for d in tier_one} == {
        d: 1 if d == "plain" or (d == "slow" and slow == "submitted") else 0 for d in tier_one}
    with db.session() as s:
        assert s.scalar(select(func.count()).where(QueueHistory.job_id == job_id,
                                                   QueueHistory.event == "job_completed")) == 1


def _results_of(job_id: str) -> dict[str, str]:
    with db.session() as s:
        return dict(s.execute(select(JobResult.directory_id, JobResult.status).where(JobResult.job_id == job_id)).all())


def _wait_ended(job_id: str) -> dict:
    return wait_until(lambda: (r := job_report(job_id))["status"] in JOB_TERMINAL and r, 90, 0.3, what="the job to end")
