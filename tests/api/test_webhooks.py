"""``POST /api/webhooks/stripe`` against the real API server, with events signed locally
exactly as Stripe signs them (tests/api/stripe_events.py). Nothing leaves the machine:
the ``stripe`` package only verifies signatures."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest
from sqlalchemy import select

from directorybolt.cli import seed
from directorybolt.queueing import redis_layout
from directorybolt.store import db
from directorybolt.store.models import (
    Customer,
    Job,
    JobResult,
    QueueHistory,
    StripeCheckout,
    StripeEvent,
)
from directorybolt.store.services import redis_client
from tests.api import stripe_events as se
from tests.api.conftest import Keys, free_port
from tests.conftest import wait_until

DIRECTORIES = [
    {"id": d, "name": d.title(), "url": f"https://{d}.example/", "tier": tier,
     "plan": {"steps": [{"action": "goto", "url": f"https://{d}.example/add"},
                        {"action": "fill", "field": "business_name", "selector": "#n"},
                        {"action": "expect", "text": "ok"}]}}
    for d, tier in (("alpha", 1), ("beta", 1), ("gamma", 2), ("delta", 3))
]


def _nothing_written() -> None:
    assert [se.count(m) for m in (Customer, Job, StripeEvent, StripeCheckout, QueueHistory)] == [0] * 5


def _queued(queue: str) -> list[dict]:
    """Messages waiting in ``queue``, at every kombu priority level."""
    return [json.loads(m) for key in redis_layout.priority_keys(queue) for m in redis_client().lrange(key, 0, -1)]


def test_paid_session_becomes_one_job_at_the_right_tier(api, clean):
    from tasks.submission import process_job  # here: the Celery app reads the test run's settings

    seed.upsert_directories(DIRECTORIES)
    session = se.checkout_session(package="growth", fast_track=True)
    with api.client() as c:
        r = se.deliver(c, se.event("checkout.session.completed", session))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["outcome"] == "job_created" and body["status"] == "pending"
    job = se.job(body["job_id"])
    assert (job.tier, job.fast_track, job.queue, job.package_size) == ("growth", True, "submissions.pro", 250)
    with db.session() as s:
        customer = s.get(Customer, job.customer_id)
        checkout = s.get(StripeCheckout, session["id"])
        event = s.get(StripeEvent, body["event"])
    assert customer.business_name == "Pine Street Dental" and customer.email == "billing@pinestreetdental.example"
    assert customer.website == "https://pinestreetdental.example" and customer.category == "Dentist"
    assert (customer.address, customer.city, customer.zip) == ("410 SW Pine St, Suite 2", "Portland", "97204")
    assert checkout.job_id == job.id and checkout.amount_total == 39800 and checkout.review_reason is None
    assert event.job_id == job.id and event.payment_intent == session["payment_intent"]
    [message] = redis_client().lrange("submissions.pro", 0, -1)
    assert body["job_id"].encode() in message
    # The fan-out, as a worker runs it: the package's directories (catalog tiers 1-2) are queued.
    redis_client().delete(*redis_layout.priority_keys("submissions.pro"))
    process_job.apply(args=[body["job_id"]], kwargs={"tier_queue": "submissions.pro"}).get()
    with db.session() as s:
        pending = set(s.scalars(select(JobResult.directory_id).where(JobResult.job_id == job.id,
                                                                      JobResult.status == "pending")))
    assert pending == {"alpha", "beta", "gamma"}
    queued = sorted(m["headers"]["argsrepr"] for m in _queued("submissions.pro"))
    assert len(queued) == 3 and all(body["job_id"] in a for a in queued)


def test_same_event_twice_gives_one_job(api, clean):
    payload = se.event("checkout.session.completed", se.checkout_session(package="starter"))
    with api.client() as c:
        first = se.deliver(c, payload)
        again = se.deliver(c, payload)
    assert first.status_code == again.status_code == 200
    assert again.json()["outcome"] == "duplicate" and again.json()["job_id"] == first.json()["job_id"]
    assert se.count(Job) == se.count(Customer) == 1
    assert redis_client().llen("submissions.starter") == 1


def test_async_payment_succeeded_after_completed_gives_no_second_job(api, clean):
    session = se.checkout_session(package="pro")
    with api.client() as c:
        completed = se.deliver(c, se.event("checkout.session.completed", session))
        succeeded = se.deliver(c, se.event("checkout.session.async_payment_succeeded", session))
    assert completed.json()["outcome"] == "job_created"
    assert succeeded.status_code == 200 and succeeded.json()["outcome"] == "duplicate"
    assert succeeded.json()["job_id"] == completed.json()["job_id"]
    assert se.count(Job) == 1 and se.count(StripeEvent) == 1
    assert redis_client().llen("submissions.pro") == 1


def test_asynchronous_payment_makes_the_job_when_it_succeeds(api, clean):
    """A bank debit completes ``unpaid``: no job until the payment succeeds."""
    session = se.checkout_session(package="starter", payment_status="unpaid")
    with api.client() as c:
        completed = se.deliver(c, se.event("checkout.session.completed", session))
        assert completed.json()["outcome"] == "ignored" and se.count(Job) == 0
        succeeded = se.deliver(c, se.event("checkout.session.async_payment_succeeded",
                                           {**session, "payment_status": "paid"}))
    assert succeeded.json()["outcome"] == "job_created" and se.count(Job) == 1


@pytest.mark.parametrize("tamper", ["wrong secret", "body changed", "no header", "garbage header", "no v1",
                                    "not utf-8"])
def test_bad_signature_is_400_and_writes_nothing(api, clean, tamper):
    payload = se.event("checkout.session.completed", se.checkout_session())
    body = json.dumps(payload).encode()
    signature = {
        "wrong secret": se.sign(body, secret="whsec_someone_else"),
        "body changed": se.sign(body.replace(b"growth", b"enterprise")),
        "no header": "",
        "garbage header": "t=yesterday,v1=zz",
        "no v1": se.sign(body).replace("v1=", "v0="),
        "not utf-8": None,
    }[tamper]
    if tamper == "not utf-8":
        body = body.replace(b"Dental", b"D\xe9ntal")  # Latin-1, validly signed
    with api.client() as c:
        r = se.deliver(c, body, signature=signature)
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith("invalid Stripe-Signature")
    _nothing_written()
    assert redis_client().llen("submissions.growth") == 0


def test_timestamp_ten_minutes_old_is_400(api, clean):
    payload = se.event("checkout.session.completed", se.checkout_session())
    with api.client() as c:
        stale = se.deliver(c, payload, timestamp=int(time.time()) - 600)
        recent = se.deliver(c, payload, timestamp=int(time.time()) - 240)  # inside the 5-minute tolerance
    assert stale.status_code == 400 and "tolerance" in stale.json()["error"]
    assert recent.status_code == 200 and se.count(Job) == 1


@pytest.mark.parametrize("body", [
    b"not json at all",
    b'{"id": "evt_1", "type": "checkout.session.completed"}',
    b'{"id": "evt 1; DROP TABLE jobs", "type": "x", "data": {"object": {}}}',
    json.dumps(se.event("checkout.session.completed", {"id": "cs_1", "amount_total": "lots"})).encode(),
    json.dumps(se.event("checkout.session.completed", {**se.checkout_session(), "metadata": {"package": 3}})).encode(),
    json.dumps(se.event("charge.refunded", {"object": "charge"})).encode(),
])
def test_malformed_payload_is_400_and_writes_nothing(api, clean, body):
    with api.client() as c:
        r = se.deliver(c, body)
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith("malformed Stripe event")
    _nothing_written()


def test_amount_that_does_not_match_the_package_is_held_for_review(api, clean, keys):
    session = se.checkout_session(package="growth", fast_track=True, amount=29900)  # the add-on was not paid
    with api.client() as c:
        r = se.deliver(c, se.event("checkout.session.completed", session))
        assert r.status_code == 200 and r.json()["status"] == "needs_review"
        job_id = r.json()["job_id"]
        assert "paid $299.00, but growth + fast track costs $398.00" in r.json()["review"]
        job = se.job(job_id)
        assert job.status == "needs_review" and "held for review" in job.status_note
        assert redis_client().llen("submissions.pro") == 0, "a held job is never queued"
        reviews = c.get("/api/admin/orders/held", headers=Keys.bearer(keys.staff)).json()
        assert [(h["job_id"], h["job_status"], h["amount_total"]) for h in reviews] == [(job_id, "needs_review", 29900)]
        again = se.deliver(c, se.event("checkout.session.completed", session))
        assert again.json()["outcome"] == "duplicate" and again.json()["status"] == "needs_review"
        # A person checked the order: released, it is queued like any other job.
        forbidden = c.post(f"/api/admin/jobs/{job_id}/release", headers=Keys.bearer(keys.producer))
        released = c.post(f"/api/admin/jobs/{job_id}/release", headers=Keys.bearer(keys.staff))
        twice = c.post(f"/api/admin/jobs/{job_id}/release", headers=Keys.bearer(keys.staff))
        assert c.get("/api/admin/orders/held", headers=Keys.bearer(keys.staff)).json() == []
    assert forbidden.status_code == 403
    assert released.status_code == 200 and released.json()["status"] == "pending"
    assert twice.status_code == 409 and "not held" in twice.json()["error"]
    assert redis_client().llen("submissions.pro") == 1 and se.job(job_id).status == "pending"


@pytest.mark.parametrize("metadata, reason", [
    ({"business_name": "Pine Street Dental"}, "no metadata.package"),
    ({"package": "platinum", "business_name": "Pine Street Dental"}, "not a package we sell"),
    ({"package": "starter", "business_name": "Pine Street Dental", "website": "http://10.0.0.5/admin"}, "website"),
    ({"package": "starter", "business_name": "Pine\x00Street"}, "NUL"),
])
def test_order_that_cannot_become_a_job_is_kept_for_review(api, clean, keys, metadata, reason):
    session = se.checkout_session(package="starter", metadata=metadata)
    with api.client() as c:
        r = se.deliver(c, se.event("checkout.session.completed", session))
        again = se.deliver(c, se.event("checkout.session.completed", session))
        reviews = c.get("/api/admin/orders/held", headers=Keys.bearer(keys.staff)).json()
    assert r.status_code == 200 and r.json()["outcome"] == "held" and reason in r.json()["review"]
    assert again.json()["outcome"] == "duplicate"
    assert se.count(Job) == 0 and se.count(Customer) == 0
    assert [(h["session_id"], h["job_id"]) for h in reviews] == [(session["id"], None)]
    with db.session() as s:
        assert json.loads(s.get(StripeCheckout, session["id"]).payload)["metadata"] == metadata


def test_fifty_concurrent_deliveries_of_one_event_make_one_job(api, clean, services):
    """The payment's advisory lock is held here while the deliveries arrive, so every one
    the server's pool lets in gets past the lookup and creates its customer and job before
    any commits: they are forced into the race on the event's row, not merely hoped into it."""
    session = se.checkout_session(package="pro")
    payload = json.dumps(se.event("checkout.session.completed", session)).encode()

    def post(_: int) -> tuple[int, str, str | None]:
        with api.client(timeout=60) as c:
            r = se.deliver(c, payload)
            return r.status_code, r.json().get("outcome", r.text), r.json().get("job_id")

    with psycopg.connect(services.database_url, autocommit=True) as lock:
        lock.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (f"stripe:{session['payment_intent']}",))
        with ThreadPoolExecutor(50) as pool:
            futures = [pool.submit(post, i) for i in range(50)]
            wait_until(lambda: _waiting_on_advisory_lock(lock) >= 5, 30, what="deliveries racing for the event")
            lock.execute("SELECT pg_advisory_unlock_all()")
            answers = [f.result() for f in futures]
    assert {code for code, _, _ in answers} == {200}, answers
    assert [o for _, o, _ in answers].count("job_created") == 1
    assert len({job_id for _, _, job_id in answers}) == 1
    assert se.count(Job) == se.count(Customer) == se.count(StripeEvent) == 1
    assert redis_client().llen("submissions.pro") == 1


def _waiting_on_advisory_lock(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event = 'advisory'").fetchone()[0]


def test_other_event_types_are_ignored_and_logged_once(api, clean):
    with api.client() as c:
        answers = [se.deliver(c, se.event("customer.updated", {"id": "cus_1", "object": "customer"}))
                   for _ in range(3)]
    assert [(r.status_code, r.json()["outcome"]) for r in answers] == [(200, "ignored")] * 3
    _nothing_written()
    wait_until(lambda: "'customer.updated'" in api.log.read_text(), 5, what="the log line")
    assert api.log.read_text().count("ignoring Stripe events of type 'customer.updated'") == 1


def test_failed_signatures_are_rate_limited_per_address_verified_events_never(start_api, clean):
    server = start_api(stripe_invalid_signatures_per_ip="3/minute", api_rate_per_ip="2/minute")
    payload = se.event("checkout.session.completed", se.checkout_session(package="starter"))
    with server.client() as c:
        bad = [se.deliver(c, payload, secret="whsec_guess").status_code for _ in range(4)]
        good = [se.deliver(c, se.event("checkout.session.completed", se.checkout_session(package="starter")))
                .status_code for _ in range(3)]
    assert bad == [400, 400, 400, 429]
    assert good == [200, 200, 200], "the route's own limit is for failures; the per-address API limit is not applied"


def test_no_signing_secret_is_503_so_stripe_retries(start_api, clean):
    server = start_api(stripe_webhook_secret="")
    with server.client() as c:
        r = se.deliver(c, se.event("checkout.session.completed", se.checkout_session()))
    assert r.status_code == 503 and "not configured" in r.json()["error"] and int(r.headers["Retry-After"]) > 0
    _nothing_written()


def test_database_down_is_503_with_nothing_written(start_api, clean):
    server = start_api(database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/none")
    with server.client(timeout=30) as c:
        r = se.deliver(c, se.event("checkout.session.completed", se.checkout_session()))
    assert r.status_code == 503, r.text
    assert "Retry-After" in r.headers
    _nothing_written()


def test_redis_down_is_503_and_the_job_waits_in_the_outbox(api, start_api, clean):
    """The job is committed (with its event's record) before .delay(); when the broker
    refuses it, Stripe hears 503 and retries, the retry finds the same job, and the
    outbox queues it: one job, nothing half-written."""
    down = start_api(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    payload = se.event("checkout.session.completed", se.checkout_session(package="starter"))
    with down.client(timeout=30) as c:
        r = se.deliver(c, payload)
    assert r.status_code == 503, r.text
    assert se.count(StripeEvent) == se.count(StripeCheckout) == 1
    with db.session() as s:
        assert s.scalars(select(Job.status)).all() == ["pending"]
    with api.client() as c:
        retried = se.deliver(c, payload)
    assert retried.status_code == 200 and retried.json()["outcome"] == "duplicate"
    with db.session() as s:
        assert s.scalars(select(Job.status)).all() == ["pending"]
    assert "Traceback" not in down.log.read_text()


def test_webhook_route_needs_no_api_key_and_keeps_the_size_limit(start_api, clean):
    server = start_api(api_max_body_bytes=2048)
    with server.client() as c:
        big = se.deliver(c, se.event("checkout.session.completed", se.checkout_session(
            metadata={"package": "starter", "description": "x" * 4000})))
        plain = httpx.post(f"{server.url}/api/webhooks/stripe", content=b"{}", headers={"Content-Type": "text/plain"})
    assert big.status_code == 413
    assert plain.status_code == 415
    _nothing_written()


def test_release_while_the_broker_is_down_leaves_the_job_to_the_outbox(api, start_api, clean, keys):
    with api.client() as c:
        held = se.deliver(c, se.event("checkout.session.completed", se.checkout_session(package="starter", amount=100)))
    job_id = held.json()["job_id"]
    down = start_api(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    with down.client(timeout=30) as c:
        r = c.post(f"/api/admin/jobs/{job_id}/release", headers=Keys.bearer(keys.staff))
    assert r.status_code == 503 and "queued automatically" in r.json()["error"]
    assert se.job(job_id).status == "pending", "released: the outbox queues it when the broker is back"
    with api.client() as c:
        assert c.post(f"/api/admin/jobs/{job_id}/release", headers=Keys.bearer(keys.staff)).status_code == 409
