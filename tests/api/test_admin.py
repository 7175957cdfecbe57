"""Staff routes: the dead-letter queue and the workers, guarded by role."""

from __future__ import annotations

import pytest

from directorybolt.cli import seed
from directorybolt.lifecycle import jobs, results
from directorybolt.queueing.dispatch import HANDOFF
from directorybolt.recovery import dlq
from directorybolt.recovery.dlq import Failure
from directorybolt.store import db
from directorybolt.store.models import JobResult, WorkerHeartbeat
from directorybolt.store.services import redis_client
from tests.api.conftest import Keys
from tests.api.test_jobs import DIRECTORIES

ADMIN_ROUTES = [
    ("GET", "/api/admin/dlq"),
    ("GET", "/api/admin/dlq/1"),
    ("POST", "/api/admin/dlq/1/replay"),
    ("DELETE", "/api/admin/dlq/1"),
    ("GET", "/api/admin/workers"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
def test_admin_routes_need_a_staff_key(api, keys, method, path):
    with api.client() as c:
        anonymous = c.request(method, path)
        producer = c.request(method, path, headers=Keys.bearer(keys.producer))
        staff = c.request(method, path, headers=Keys.bearer(keys.staff))
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"] == "Bearer"
    assert "missing API key" in anonymous.json()["error"]
    assert producer.status_code == 403 and "needs a staff key" in producer.json()["error"]
    assert staff.status_code in (200, 404)  # entry 1 does not exist; the lists answer 200
    if path.endswith(("dlq", "workers")):
        assert staff.status_code == 200


def _failed_submission(customer_id: str) -> tuple[str, int]:
    seed.upsert_directories(DIRECTORIES)
    with db.session() as s:
        job, _ = jobs.create_job(s, customer_id=customer_id, tier="growth", directories=["alpha"])
        jobs.start_job(s, job.id)
        s.query(JobResult).filter(JobResult.job_id == job.id).update(
            {"status": "failed", "error_category": "http_5xx", "attempts": 4})
        results.finalize(s, job.id)
        job_id = str(job.id)
    dl_id = dlq.dead_letter(Failure("tasks.submission.submit_directory", "task-1", [job_id, "alpha"],
                                    {"tier_queue": "submissions.growth"}, "submissions.growth",
                                    RuntimeError("site kept failing"), None, 4), HANDOFF)
    return job_id, dl_id


def test_replay_through_the_api(api, keys, customer_id):
    job_id, dl_id = _failed_submission(customer_id)
    staff = Keys.bearer(keys.staff)
    with api.client() as c:
        listed = c.get("/api/admin/dlq", headers=staff).json()
        assert listed["open"] == 1 and [e["id"] for e in listed["entries"]] == [dl_id]
        assert listed["entries"][0]["job_id"] == job_id and listed["entries"][0]["exception_type"] == "RuntimeError"
        detail = c.get(f"/api/admin/dlq/{dl_id}", headers=staff).json()
        assert "site kept failing" in detail["traceback"] and detail["args"] == [job_id, "alpha"]
        r = c.post(f"/api/admin/dlq/{dl_id}/replay", headers=staff)
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "replayed"
        again = c.post(f"/api/admin/dlq/{dl_id}/replay", headers=staff)
        assert again.status_code == 409 and "only open entries" in again.json()["error"]
        assert c.get("/api/admin/dlq", headers=staff).json()["open"] == 0
    assert dlq.get(dl_id).state == "replayed"
    assert redis_client().llen("dead_letter") == 0
    assert redis_client().llen("submissions.growth") == 1  # the submission is queued again
    with db.session() as s:
        assert s.query(JobResult.status).filter(JobResult.job_id == job_id).scalar() == "pending"


def test_purge_through_the_api(api, keys, customer_id):
    _, dl_id = _failed_submission(customer_id)
    with api.client() as c:
        r = c.delete(f"/api/admin/dlq/{dl_id}", headers=Keys.bearer(keys.staff))
        assert r.status_code == 200 and r.json()["state"] == "purged"
        everything = c.get("/api/admin/dlq?state=all", headers=Keys.bearer(keys.staff)).json()
        assert [e["state"] for e in everything["entries"]] == ["purged"]
        assert c.delete("/api/admin/dlq/999999", headers=Keys.bearer(keys.staff)).status_code == 404
    assert redis_client().llen("dead_letter") == 0


def test_workers(api, keys, clean):
    from datetime import UTC, datetime, timedelta

    with db.session() as s:
        s.add(WorkerHeartbeat(worker_id="live@h:1", hostname="h", pid=1, state="degraded"))
        s.add(WorkerHeartbeat(worker_id="gone@h:2", hostname="h", pid=2,
                              last_heartbeat=datetime.now(UTC) - timedelta(hours=2)))
    with api.client() as c:
        r = c.get("/api/admin/workers", headers=Keys.bearer(keys.staff))
    assert r.status_code == 200
    assert {w["worker_id"]: w["alive"] for w in r.json()} == {"gone@h:2": False, "live@h:1": True}
    assert {w["worker_id"]: (w["role"], w["state"]) for w in r.json()} == {
        "gone@h:2": ("submissions", "ok"), "live@h:1": ("submissions", "degraded")}
