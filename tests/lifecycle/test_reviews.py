"""The review queue: guarded transitions, leases on the database clock, the job
finalised again exactly once when its last item is resolved."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import select, text

from directorybolt.core.errors import ConflictError, NotFound, ValidationError
from directorybolt.lifecycle import reviews
from directorybolt.store import db
from directorybolt.store.models import Job, JobResult, QueueHistory
from tests.lifecycle.review_jobs import finished_job


def _job(job_id: uuid.UUID) -> Job:
    with db.session() as s:
        return s.get(Job, job_id)


def _items(job_id: uuid.UUID) -> list[dict[str, Any]]:
    return reviews.list_items(job_id=job_id, state="all")


class Sent:
    def __init__(self) -> None:
        self.calls: list[tuple[uuid.UUID, list[str], str]] = []

    def __call__(self, job_id: uuid.UUID, dirs: list[str], queue: str) -> int:
        self.calls.append((job_id, dirs, queue))
        return len(dirs)


def test_partial_job_becomes_completed_when_its_items_are_submitted(clean):
    job_id = finished_job({"a": "submitted", "b": "needs_review", "c": "needs_review"})
    assert _job(job_id).status == "partial"
    first, second = _items(job_id)
    assert (first["state"], first["directory"], first["reason"]) == ("open", "b", "captcha: a CAPTCHA guards the form")
    reviews.claim(first["id"], "ann")
    done = reviews.resolve(first["id"], "ann", "submitted", evidence_url="https://dir.example/listing/1")
    assert (done.job_status, done.finalized) == ("partial", None), "one item still waits for a person"
    reviews.claim(second["id"], "bob")
    done = reviews.resolve(second["id"], "bob", "submitted", note="listed by phone call")
    assert (done.job_status, done.finalized) == ("completed", "completed")
    job = _job(job_id)
    assert (job.submitted, job.needs_review, job.failed) == (3, 0, 0)
    with db.session() as s:
        events = [(h.event, (h.detail or {}).get("staff")) for h in s.scalars(
            select(QueueHistory).where(QueueHistory.job_id == job_id).order_by(QueueHistory.id))]
    assert ("review_submitted", "ann") in events and ("review_submitted", "bob") in events
    assert [e for e in events if e[0] == "job_completed"][-1] == ("job_completed", "bob")
    assert sum(1 for e in events if e[0] == "job_completed") == 2, "finished once by the worker, once by review"


def test_failed_resolution_keeps_the_job_partial(clean):
    job_id = finished_job({"a": "submitted", "b": "needs_review"})
    (item,) = _items(job_id)
    reviews.claim(item["id"], "ann")
    with pytest.raises(ValidationError, match="reason"):
        reviews.resolve(item["id"], "ann", "failed")
    done = reviews.resolve(item["id"], "ann", "failed", note="the directory closed sign-ups")
    assert (done.job_status, done.finalized) == ("partial", "partial")
    with db.session() as s:
        row = s.scalar(select(JobResult).where(JobResult.job_id == job_id, JobResult.directory_id == "b"))
    assert (row.status, row.error_category, row.error_message) == ("failed", "staff", "the directory closed sign-ups")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"resolution": "submitted"}, "evidence"),
    ({"resolution": "submitted", "evidence_url": "javascript:alert(1)"}, "http"),
    ({"resolution": "maybe", "note": "x"}, "resolve as one of"),
])
def test_bad_input_is_refused_before_anything_changes(clean, kwargs, message):
    job_id = finished_job({"a": "needs_review"})
    (item,) = _items(job_id)
    reviews.claim(item["id"], "ann")
    with pytest.raises(ValidationError, match=message):
        reviews.resolve(item["id"], "ann", **kwargs)
    assert _items(job_id)[0]["state"] == "claimed"


def test_only_the_lease_holder_resolves_and_only_once(clean):
    job_id = finished_job({"a": "needs_review"})
    (item,) = _items(job_id)
    with pytest.raises(ConflictError, match="claim it before"):
        reviews.resolve(item["id"], "ann", "submitted", note="x")
    reviews.claim(item["id"], "ann")
    with pytest.raises(ConflictError, match="claimed by ann"):
        reviews.claim(item["id"], "bob")
    with pytest.raises(ConflictError, match="claimed by ann"):
        reviews.resolve(item["id"], "bob", "submitted", note="x")
    reviews.resolve(item["id"], "ann", "submitted", note="x")
    with pytest.raises(ConflictError, match="already resolved"):
        reviews.resolve(item["id"], "ann", "failed", note="y")
    with pytest.raises(NotFound):
        reviews.claim(999_999, "ann")


def test_release_by_the_holder_only(clean):
    job_id = finished_job({"a": "needs_review"})
    (item,) = _items(job_id)
    reviews.claim(item["id"], "ann")
    with pytest.raises(ConflictError, match="claimed by ann"):
        reviews.release(item["id"], "bob")
    assert reviews.release(item["id"], "ann")["state"] == "open"
    assert reviews.claim(item["id"], "bob")["claimed_by"] == "bob"


def test_a_lapsed_lease_reopens_the_item_on_the_database_clock(clean, settings_env):
    settings_env(review_lease_s=1)
    job_id = finished_job({"a": "needs_review"})
    (item,) = _items(job_id)
    reviews.claim(item["id"], "ann")
    assert _items(job_id)[0]["state"] == "claimed"
    with db.session() as s:  # the database's clock decides, not ours: wait on it
        s.execute(text("SELECT pg_sleep(1.2)"))
    assert _items(job_id)[0]["state"] == "open"
    with pytest.raises(ConflictError, match="expired"):
        reviews.resolve(item["id"], "ann", "submitted", note="x")
    reviews.claim(item["id"], "bob")  # taken over
    with pytest.raises(ConflictError, match="claimed by bob"):
        reviews.resolve(item["id"], "ann", "submitted", note="x")


def test_two_staff_resolving_at_once_exactly_one_wins(clean, settings_env):
    """ann's lease lapses and bob takes the item over; both press resolve in the same
    instant, each in a transaction that has already read the item. Exactly one wins."""
    job_id = finished_job({"a": "submitted", "b": "needs_review"})
    (item,) = _items(job_id)
    reviews.claim(item["id"], "ann")
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def press(staff: str) -> None:
        barrier.wait()
        try:
            reviews.resolve(item["id"], staff, "submitted", note=f"done by {staff}")
            outcomes.append(f"won:{staff}")
        except ConflictError as exc:
            outcomes.append(f"lost:{staff}:{exc}")

    # Two presses by the holder and two by someone else, all at once.
    threads = [threading.Thread(target=press, args=(who,)) for who in ("ann", "ann", "bob", "bob")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(o.split(":")[0] for o in outcomes) == ["lost", "lost", "lost", "won"], outcomes
    assert "won:ann" in outcomes
    job = _job(job_id)
    assert (job.status, job.submitted, job.needs_review) == ("completed", 2, 0)
    with db.session() as s:
        n = s.scalar(text("SELECT count(*) FROM queue_history WHERE job_id = :j AND event = 'review_submitted'"),
                     {"j": job_id})
    assert n == 1


def test_retry_goes_back_to_automation_once(clean):
    job_id = finished_job({"a": "submitted", "b": "needs_review"}, tier="pro")
    (item,) = _items(job_id)
    reviews.claim(item["id"], "ann")
    sent = Sent()
    done = reviews.resolve(item["id"], "ann", "retry", note="plan fixed", send=sent)
    assert done.queued and sent.calls == [(job_id, ["b"], "submissions.pro")]
    assert done.job_status == "in_progress"
    with db.session() as s:
        row = s.scalar(select(JobResult).where(JobResult.job_id == job_id, JobResult.directory_id == "b"))
        assert (row.status, row.attempts, row.requeues) == ("pending", 0, 0)
    # automation fails at the same place again: a new item, which cannot be retried twice
    from directorybolt.lifecycle import results
    from tests.lifecycle.review_jobs import W
    with db.session() as s:
        got = results.claim(s, job_id, "b", W)
        results.finish(s, job_id, "b", status="needs_review", owner=W, attempt=got.attempt, category="captcha")
    assert _job(job_id).status == "partial"
    fresh = [i for i in _items(job_id) if i["state"] == "open"]
    assert len(fresh) == 1 and fresh[0]["id"] != item["id"]
    reviews.claim(fresh[0]["id"], "ann")
    with pytest.raises(ConflictError, match="already sent back to automation once"):
        reviews.resolve(fresh[0]["id"], "ann", "retry", send=sent)
    assert reviews.resolve(fresh[0]["id"], "ann", "submitted", note="by hand").finalized == "completed"


def test_queue_order_is_tier_priority_then_age(clean):
    starter = finished_job({"s1": "needs_review"}, tier="starter")
    time.sleep(0.05)
    enterprise = finished_job({"e1": "needs_review"}, tier="enterprise")
    order = [(i["tier"], i["job_id"]) for i in reviews.list_items()]
    assert order == [("enterprise", str(enterprise)), ("starter", str(starter))]
    summary = {t["tier"]: t for t in reviews.summary()}
    assert summary["enterprise"]["unresolved"] == 1 and summary["enterprise"]["turnaround"] == "same day"
    assert summary["pro"]["unresolved"] == 0 and summary["pro"]["oldest_s"] is None
