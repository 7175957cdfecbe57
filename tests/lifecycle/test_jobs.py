"""Job lifecycle: validation at enqueue, optimistic locking, exactly-once finalisation."""

from __future__ import annotations

import threading
import uuid

import pytest
from sqlalchemy import select, text

from directorybolt.cli import seed
from directorybolt.core.errors import ConflictError, NotFound, ValidationError
from directorybolt.lifecycle import jobs, results
from directorybolt.store import db
from directorybolt.store.models import Job, JobResult


def _directory(did: str, tier: int = 1, da: int = 50) -> dict:
    return {"id": did, "name": did, "url": f"http://127.0.0.1:9/{did}/", "tier": tier, "domain_authority": da,
            "plan": {"steps": [{"action": "goto", "url": f"http://127.0.0.1:9/{did}/"},
                               {"action": "fill", "field": "business_name", "selector": "#n"},
                               {"action": "click", "selector": "#go"},
                               {"action": "expect", "text": "Thanks"}]}}


@pytest.fixture
def customer_id(clean) -> str:
    seed.upsert_directories([_directory("a", 1, 90), _directory("b", 1, 80), _directory("c", 2, 70)])
    return seed.customer()


def test_two_writers_same_version_exactly_one_wins(customer_id):
    with db.session() as s:
        job, _ = jobs.create_job(s, customer_id=customer_id, tier="starter")
        jid, version = job.id, job.version
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def writer(note: str) -> None:
        try:
            with db.session() as s:
                barrier.wait(timeout=5)
                jobs.transition(s, jid, version, status_note=note)
            outcomes.append("won")
        except ConflictError as exc:
            outcomes.append(f"conflict: {exc}")

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(o.split(":")[0] for o in outcomes) == ["conflict", "won"]
    assert "reload and retry" in next(o for o in outcomes if o.startswith("conflict"))
    with db.session() as s:
        assert s.get(Job, jid).version == version + 1


def test_orm_version_column_detects_stale_write(customer_id):
    from sqlalchemy.orm.exc import StaleDataError

    with db.session() as s:
        job, _ = jobs.create_job(s, customer_id=customer_id, tier="starter")
        jid = job.id
    with db.session() as a_session:
        a = a_session.get(Job, jid)
        with db.session() as b_session:
            b_session.get(Job, jid).status_note = "b"
        a.status_note = "a"
        with pytest.raises(StaleDataError):
            a_session.flush()
        a_session.rollback()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"tier": "platinum"}, ValidationError, "unknown tier"),
        ({"customer_id": str(uuid.uuid4())}, NotFound, "does not exist"),
        ({"customer_id": "not-a-uuid"}, ValidationError, "not a valid UUID"),
        ({"directories": ["nope"]}, ValidationError, "unknown or inactive"),
    ],
)
def test_bad_input_is_a_clear_error_and_nothing_is_created(customer_id, kwargs, error, message):
    args = {"customer_id": customer_id, "tier": "starter", **kwargs}
    with pytest.raises(error, match=message), db.session() as s:
        jobs.create_job(s, **args)
    with db.session() as s:
        assert s.scalar(select(Job.id)) is None


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        ({"business_name": "   "}, "business_name"),
        ({"business_name": "<b></b>"}, "business name"),
        ({"website": "javascript:alert(1)"}, "http:// or https://"),
        ({"website": "https://user:pw@example.com"}, "credentials"),
        ({"email": "not-an-email"}, "email"),
    ],
)
def test_bad_profile_rejected(clean, profile, message):
    with pytest.raises(ValidationError, match=message), db.session() as s:
        jobs.create_customer(s, {**seed.DEMO_PROFILE, **profile})


def test_private_website_rejected_unless_allowed(clean, settings_env):
    settings_env(allow_private_websites="false")
    with pytest.raises(ValidationError, match="public address"), db.session() as s:
        jobs.create_customer(s, {**seed.DEMO_PROFILE, "website": "http://127.0.0.1:8080/"})


def test_description_html_is_stripped(clean):
    with db.session() as s:
        c = jobs.create_customer(s, {**seed.DEMO_PROFILE, "description": "Hi <script>alert(1)</script><b>there</b>"})
    assert c.description == "Hi there"


def test_selection_and_fast_track(customer_id):
    with db.session() as s:
        job, created = jobs.create_job(s, customer_id=customer_id, tier="starter", fast_track=True)
        assert created and job.queue == "submissions.growth"
        started = jobs.start_job(s, job.id)
    assert started.directory_ids == ["a", "b"]  # tier-1 only, by domain authority
    with db.session() as s:
        job = s.get(Job, started.job_id)
        assert job.status == "in_progress" and job.total == 2 and job.directories_available == 2
        assert "fewer than the 100" in job.status_note


def test_start_twice_lists_pending_again_and_finalise_once(customer_id):
    with db.session() as s:
        job, _ = jobs.create_job(s, customer_id=customer_id, tier="growth")
        jid = job.id
        first = jobs.start_job(s, jid)
    with db.session() as s:
        again = jobs.start_job(s, jid)
    assert again.already_started and sorted(again.directory_ids) == sorted(first.directory_ids)
    with db.session() as s:
        s.execute(text("UPDATE job_results SET status = 'submitted' WHERE job_id = :j"), {"j": jid})
    finals = []
    for _ in range(3):
        with db.session() as s:
            finals.append(results.finalize(s, jid))
    assert finals == ["completed", None, None]
    with db.session() as s:
        assert s.get(Job, jid).submitted == 3
        assert s.scalar(text("SELECT count(*) FROM queue_history WHERE event = 'job_completed'")) == 1


def test_idempotency_key_depends_on_submitted_fields(customer_id):
    with db.session() as s:
        job, _ = jobs.create_job(s, customer_id=customer_id, tier="starter")
        jobs.start_job(s, job.id)
        keys = set(s.scalars(select(JobResult.idempotency_key).where(JobResult.job_id == job.id)))
    assert len(keys) == 2 and all(len(k) == 64 for k in keys)


def test_same_idempotency_key_returns_same_job(customer_id):
    with db.session() as s:
        a, created_a = jobs.create_job(s, customer_id=customer_id, tier="pro", idempotency_key="order-1")
    with db.session() as s:
        b, created_b = jobs.create_job(s, customer_id=customer_id, tier="pro", idempotency_key="order-1")
    assert a.id == b.id and created_a and not created_b


# ---- issue 11, hole 9: the job row under concurrency -----------------------------------


def test_two_deliveries_of_the_same_start_are_both_harmless(customer_id):
    """Two process_job deliveries start the same job at the same moment: no ConflictError
    (which was dead-lettered and alerted), one fan-out, rows created once."""
    with db.session() as s:
        job, _ = jobs.create_job(s, customer_id=customer_id, tier="starter")
        jid = job.id
    barrier = threading.Barrier(2)
    started: list[jobs.StartedJob] = []
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            with db.session() as s:
                s.execute(text("SELECT 1"))
                barrier.wait(10)
                started.append(jobs.start_job(s, jid))
        except BaseException as exc:  # noqa: BLE001 - the test reports whatever happened
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(s.already_started for s in started) == [False, True]
    with db.session() as s:
        assert s.scalar(select(Job.status).where(Job.id == jid)) == "in_progress"
        assert s.execute(text("SELECT count(*) FROM job_results WHERE job_id = :j"), {"j": jid}).scalar() == 2
        events = s.execute(text("SELECT event FROM queue_history WHERE job_id = :j"), {"j": jid}).scalars().all()
        assert events.count("job_started") == 1


def test_every_write_to_a_job_moves_its_version(customer_id):
    with db.session() as s:
        job, _ = jobs.create_job(s, customer_id=customer_id, tier="starter")
        jid, v0 = job.id, job.version
    with db.session() as s:
        s.execute(text("UPDATE jobs SET last_heartbeat = now() WHERE id = :j"), {"j": jid})
    with db.session() as s:
        assert s.scalar(select(Job.version).where(Job.id == jid)) == v0 + 1


def _record_all(jid: uuid.UUID, status: str = "submitted") -> list[str | None]:
    finals = []
    with db.session() as s:
        rows = s.execute(select(JobResult.directory_id).where(JobResult.job_id == jid)).scalars().all()
    for d in rows:
        with db.session() as s:
            got = results.claim(s, jid, d, "w:1:aa")
            assert isinstance(got, results.Claimed)
            done = results.finish(s, jid, d, status=status, owner="w:1:aa", attempt=got.attempt)
            finals.append(done.final if done else "lost")
    return finals


def test_a_cancel_that_read_an_old_version_cannot_overwrite_completed(customer_id):
    with db.session() as s:
        job, _ = jobs.create_job(s, customer_id=customer_id, tier="starter")
        jobs.start_job(s, job.id)
    with db.session() as s:
        seen = s.scalar(select(Job.version).where(Job.id == job.id))
    assert _record_all(job.id)[-1] == "completed"
    with db.session() as s, pytest.raises(ConflictError):
        jobs.transition(s, job.id, seen, status="cancelled")
    with db.session() as s, pytest.raises(ConflictError, match="already completed"):
        jobs.cancel(s, job.id)
    with db.session() as s:
        assert s.scalar(select(Job.status).where(Job.id == job.id)) == "completed"


def test_history_of_one_job_reads_in_causal_order(customer_id):
    with db.session() as s:
        job, _ = jobs.create_job(s, customer_id=customer_id, tier="starter")
        jobs.start_job(s, job.id)
    _record_all(job.id)
    with db.session() as s:
        events = s.execute(text("SELECT event FROM queue_history WHERE job_id = :j ORDER BY id"),
                           {"j": job.id}).scalars().all()
    assert events[-1] == "job_completed", events
    assert events.index("job_completed") > max(i for i, e in enumerate(events) if e == "submission_submitted")
