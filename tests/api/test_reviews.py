"""The review queue over HTTP (real server): staff key only, JSON errors, a partial
job completed by resolving its items, and the customer's view of the wait."""

from __future__ import annotations

import pytest

from directorybolt.store.services import redis_client
from tests.api.conftest import Keys
from tests.lifecycle.review_jobs import finished_job

ROUTES = [("GET", "/api/admin/reviews"), ("GET", "/api/admin/reviews/1"), ("POST", "/api/admin/reviews/1/claim"),
          ("POST", "/api/admin/reviews/1/release"), ("POST", "/api/admin/reviews/1/resolve")]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_review_routes_need_a_staff_key(api, keys, method, path):
    with api.client() as c:
        assert c.request(method, path).status_code == 401
        producer = c.request(method, path, headers=Keys.bearer(keys.producer))
    assert producer.status_code == 403 and "staff key" in producer.json()["error"]


def test_resolve_through_the_api_completes_the_job(api, keys, customer_id):
    job_id = finished_job({"a": "submitted", "b": "needs_review"}, tier="enterprise", customer=customer_id)
    staff, producer = Keys.bearer(keys.staff), Keys.bearer(keys.producer)
    with api.client() as c:
        seen = c.get(f"/api/jobs/{job_id}", headers=producer).json()
        assert (seen["status"], seen["stage"], seen["waiting_for_staff"]) == ("partial", "waiting_for_staff", 1)
        waiting = {r["directory"]: r["waiting_for_staff"] for r in seen["results"]}
        assert waiting == {"a": False, "b": True}
        queue = c.get("/api/admin/reviews", headers=staff).json()
        assert queue["tiers"][0] == {**queue["tiers"][0], "tier": "enterprise", "unresolved": 1,
                                     "turnaround": "same day"}
        (item,) = queue["items"]
        assert (item["state"], item["directory"], item["tier"]) == ("open", "b", "enterprise")
        shown = c.get(f"/api/admin/reviews/{item['id']}", headers=staff).json()
        assert shown["fields"]["business_name"] and shown["directory_url"] == "http://127.0.0.1:9/b/"
        claimed = c.post(f"/api/admin/reviews/{item['id']}/claim", json={"staff": "ann"}, headers=staff)
        assert claimed.status_code == 200 and claimed.json()["claimed_by"] == "ann"
        taken = c.post(f"/api/admin/reviews/{item['id']}/claim", json={"staff": "bob"}, headers=staff)
        assert taken.status_code == 409 and "claimed by ann" in taken.json()["error"]
        not_holder = c.post(f"/api/admin/reviews/{item['id']}/resolve", headers=staff,
                            json={"staff": "bob", "as": "submitted", "note": "x"})
        assert not_holder.status_code == 409
        bad = c.post(f"/api/admin/reviews/{item['id']}/resolve", headers=staff,
                     json={"staff": "ann", "as": "submitted"})
        assert bad.status_code == 422 and "evidence" in bad.json()["error"]
        unknown_as = c.post(f"/api/admin/reviews/{item['id']}/resolve", headers=staff, json={"as": "maybe"})
        assert unknown_as.status_code == 422 and unknown_as.json()["details"]
        done = c.post(f"/api/admin/reviews/{item['id']}/resolve", headers=staff,
                      json={"staff": "ann", "as": "submitted", "evidence_url": "https://dir.example/l/1"})
        assert done.status_code == 200, done.text
        assert (done.json()["job_status"], done.json()["finalized"]) == ("completed", "completed")
        again = c.post(f"/api/admin/reviews/{item['id']}/resolve", headers=staff,
                       json={"staff": "ann", "as": "failed", "note": "x"})
        assert again.status_code == 409 and "already resolved" in again.json()["error"]
        after = c.get(f"/api/jobs/{job_id}", headers=producer).json()
        assert (after["status"], after["stage"], after["counts"]["submitted"]) == ("completed", "completed", 2)
        assert c.get("/api/admin/reviews/999999", headers=staff).status_code == 404
        assert c.get("/api/admin/reviews?tier=platinum", headers=staff).status_code == 422


def test_retry_hands_the_row_back_to_the_workers(api, keys, customer_id):
    job_id = finished_job({"a": "needs_review"}, tier="growth", customer=customer_id)
    staff = Keys.bearer(keys.staff)
    with api.client() as c:
        (item,) = c.get("/api/admin/reviews", headers=staff).json()["items"]
        c.post(f"/api/admin/reviews/{item['id']}/claim", headers=staff)  # the key's own name
        done = c.post(f"/api/admin/reviews/{item['id']}/resolve", headers=staff, json={"as": "retry"})
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["queued"] and body["job_status"] == "in_progress"
    assert body["item"]["resolved_by"] == "key:test staff"
    assert redis_client().llen("submissions.growth") == 1
    assert str(job_id) in redis_client().lindex("submissions.growth", 0).decode()


def test_review_gauges_in_metrics(api, keys, customer_id):
    from tests.api.conftest import METRICS_AUTH

    finished_job({"a": "needs_review"}, tier="enterprise", customer=customer_id)
    from prometheus_client import generate_latest

    from directorybolt.api.metrics import build_registry

    text = generate_latest(build_registry()).decode()  # the same collector the server uses, read now
    assert 'directorybolt_review_open{tier="enterprise"} 1.0' in text
    assert 'directorybolt_review_turnaround_seconds{tier="enterprise"} 28800.0' in text
    with api.client() as c:
        assert "directorybolt_review_oldest_seconds" in c.get("/api/metrics", headers=METRICS_AUTH).text
