"""Producer routes: submit (idempotently), read a job, read a customer's queue."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select, update

from directorybolt.cli import seed
from directorybolt.lifecycle import jobs, results
from directorybolt.store import apikeys, db, scopes
from directorybolt.store.models import Customer, Job, JobResult
from directorybolt.store.services import redis_client
from tests.api.conftest import Keys, free_port, profile

DIRECTORIES = [
    {"id": d, "name": d.title(), "url": f"https://{d}.example/", "tier": 1,
     "plan": {"steps": [{"action": "goto", "url": f"https://{d}.example/add"},
                        {"action": "fill", "field": "business_name", "selector": "#n"},
                        {"action": "expect", "text": "ok"}]}}
    for d in ("alpha", "beta")
]


def _count(model) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_post_creates_a_job_and_queues_it(api, keys, customer_id):
    with api.client() as c:
        r = c.post("/api/jobs", json={"customer_id": customer_id, "tier": "growth", "fast_track": True},
                   headers=Keys.bearer(keys.producer))
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status"] == "pending" and body["queue"] == "submissions.pro"  # fast track: one tier up
    assert r.headers["Location"] == f"/api/jobs/{body['job_id']}"
    queued = redis_client().lrange("submissions.pro", 0, -1)
    assert len(queued) == 1 and body["job_id"].encode() in queued[0]
    with db.session() as s:
        job = s.get(Job, body["job_id"])
        assert job.tier == "growth" and job.fast_track and str(job.customer_id) == customer_id


def test_post_with_a_new_customer(api, keys, clean):
    with api.client() as c:
        r = c.post("/api/jobs", json={"customer": profile(business_name="Pine Dental"), "tier": "professional"},
                   headers={"X-API-Key": keys.producer})
    assert r.status_code == 202, r.text
    with db.session() as s:
        assert s.scalar(select(Customer.business_name)) == "Pine Dental"
        assert s.get(Job, r.json()["job_id"]).tier == "pro"


def test_same_idempotency_key_twice_gives_one_job(api, keys, clean):
    request = {"customer": profile(), "tier": "starter"}
    headers = {**Keys.bearer(keys.producer), "Idempotency-Key": "order-1001"}
    with api.client() as c:
        first = c.post("/api/jobs", json=request, headers=headers)
        second = c.post("/api/jobs", json=request, headers=headers)
    assert first.status_code == 202 and second.status_code == 200
    assert second.headers["Idempotent-Replayed"] == "true"
    assert first.json()["job_id"] == second.json()["job_id"]
    assert _count(Job) == 1 and _count(Customer) == 1
    assert redis_client().llen("submissions.starter") == 1


def test_concurrent_retries_with_one_key_still_give_one_job(api, keys, customer_id):
    request = {"customer_id": customer_id, "tier": "pro"}
    headers = {**Keys.bearer(keys.producer), "Idempotency-Key": "burst"}

    def post(_: int) -> tuple[int, str]:
        with api.client() as c:
            r = c.post("/api/jobs", json=request, headers=headers)
            return r.status_code, r.json()["job_id"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, range(8)))
    assert {code for code, _ in answers} <= {200, 202}
    assert len({job_id for _, job_id in answers}) == 1
    assert _count(Job) == 1


def test_reusing_a_key_for_another_request_is_409(api, keys, customer_id):
    headers = {**Keys.bearer(keys.producer), "Idempotency-Key": "k1"}
    with api.client() as c:
        assert c.post("/api/jobs", json={"customer_id": customer_id, "tier": "pro"}, headers=headers).status_code == 202
        r = c.post("/api/jobs", json={"customer_id": customer_id, "tier": "enterprise"}, headers=headers)
    assert r.status_code == 409 and "Idempotency-Key" in r.json()["error"]
    assert _count(Job) == 1


def test_idempotency_keys_are_scoped_to_the_api_key(api, keys, customer_id):
    other = apikeys.create("second producer")[1]
    scopes.grant(other[:12], uuid.UUID(customer_id))
    request = {"customer_id": customer_id, "tier": "pro"}
    with api.client() as c:
        a = c.post("/api/jobs", json=request, headers={**Keys.bearer(keys.producer), "Idempotency-Key": "same"})
        b = c.post("/api/jobs", json=request, headers={**Keys.bearer(other), "Idempotency-Key": "same"})
    assert a.status_code == b.status_code == 202 and a.json()["job_id"] != b.json()["job_id"]


def test_get_job_reports_results_without_server_paths(api, keys, customer_id):
    seed.upsert_directories(DIRECTORIES)
    with db.session() as s:
        job, _ = jobs.create_job(s, customer_id=customer_id, tier="pro", directories=["alpha", "beta"])
        jobs.start_job(s, job.id)
        s.execute(update(JobResult).where(JobResult.directory_id == "alpha").values(
            status="submitted", screenshot_path="/var/lib/directorybolt/shots/alpha.png", duration_ms=812))
        s.execute(update(JobResult).where(JobResult.directory_id == "beta").values(
            status="failed", error_category="selector_missing", error_message="#n not found"))
        results.finalize(s, job.id)
        job_id = str(job.id)
    with api.client() as c:
        producer = c.get(f"/api/jobs/{job_id}", headers=Keys.bearer(keys.producer))
        staff = c.get(f"/api/jobs/{job_id}", headers=Keys.bearer(keys.staff))
    assert producer.status_code == 200, producer.text
    body = producer.json()
    assert body["status"] == "partial"
    assert body["counts"] == {"total": 2, "submitted": 1, "failed": 1, "needs_review": 0, "skipped": 0, "done": 2}
    rows = {r["directory"]: r for r in body["results"]}
    assert rows["alpha"]["screenshot_available"] is True and rows["beta"]["screenshot_available"] is False
    assert rows["beta"]["error_category"] == "selector_missing" and rows["beta"]["error_message"] is None
    assert "/var/lib" not in producer.text and "screenshot_path" not in producer.text
    assert {r["directory"]: r for r in staff.json()["results"]}["beta"]["error_message"] == "#n not found"


def test_get_unknown_or_malformed_job(api, keys):
    with api.client() as c:
        missing = c.get("/api/jobs/00000000-0000-0000-0000-000000000001", headers=Keys.bearer(keys.producer))
        malformed = c.get("/api/jobs/42", headers=Keys.bearer(keys.producer))
    assert missing.status_code == 404 and "does not exist" in missing.json()["error"]
    assert malformed.status_code == 422 and malformed.json()["details"][0]["field"] == "path.job_id"


def test_customer_queue_for_staff(api, keys, customer_id):
    seed.upsert_directories(DIRECTORIES)
    with db.session() as s:
        done, _ = jobs.create_job(s, customer_id=customer_id, tier="pro", directories=["alpha", "beta"])
        jobs.start_job(s, done.id)
        s.execute(update(JobResult).where(JobResult.directory_id == "alpha").values(status="submitted"))
        results.finalize(s, done.id)
        waiting, _ = jobs.create_job(s, customer_id=customer_id, tier="starter")
    with api.client() as c:
        r = c.get(f"/api/queue/{customer_id}", headers=Keys.bearer(keys.staff))
        forbidden = c.get(f"/api/queue/{customer_id}", headers=Keys.bearer(keys.producer))
        nobody = c.get("/api/queue/00000000-0000-0000-0000-000000000002", headers=Keys.bearer(keys.staff))
        pending_only = c.get(f"/api/queue/{customer_id}?status=pending", headers=Keys.bearer(keys.staff))
    assert r.status_code == 200, r.text
    by_id = {j["id"]: j for j in r.json()["jobs"]}
    assert by_id[str(done.id)]["progress"] == 0.5 and by_id[str(done.id)]["counts"]["done"] == 1
    assert by_id[str(waiting.id)]["status"] == "pending" and by_id[str(waiting.id)]["progress"] == 0
    assert forbidden.status_code == 403 and nobody.status_code == 404
    assert [j["id"] for j in pending_only.json()["jobs"]] == [str(waiting.id)]


def test_broker_down_means_503_and_the_job_waits_in_the_outbox(start_api, keys, customer_id):
    """The job is committed before .delay(); when the broker refuses it nothing is
    withdrawn: 503 names the job, the same Idempotency-Key finds it again, and the
    outbox (tests/queueing/test_outbox.py) queues it once the broker is back."""
    server = start_api(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    headers = {**Keys.bearer(keys.producer), "Idempotency-Key": "while-down"}
    with server.client(timeout=30) as c:
        r = c.post("/api/jobs", json={"customer_id": customer_id, "tier": "pro"}, headers=headers)
        again = c.post("/api/jobs", json={"customer_id": customer_id, "tier": "pro"}, headers=headers)
    assert r.status_code == 503, r.text
    assert int(r.headers["Retry-After"]) > 0 and "queued automatically" in r.json()["error"]
    with db.session() as s:
        job = s.scalar(select(Job))
        assert job.status == "pending" and job.idempotency_key is not None
    assert r.json()["job_id"] == str(job.id)
    assert again.status_code == 200 and again.json()["job_id"] == str(job.id)
    log = server.log.read_text()
    assert "Traceback" not in log and "the outbox will queue it" in log
