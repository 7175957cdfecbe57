"""Probe 4: a hung Redis (SIGSTOP: it still accepts connections) must not freeze the
API. A private redis-server of this test's own is stopped; the shared one is never
touched. Figures are printed for docs/security.md."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import select

from directorybolt.store import db
from directorybolt.store.models import Job
from tests.api.conftest import Keys
from tests.conftest import PrivateRedis

pytestmark = pytest.mark.slow
CONCURRENT = 50


@pytest.fixture
def hung_redis(tmp_path):
    r = PrivateRedis(tmp_path)
    r.start()
    yield r
    if r.proc and r.proc.poll() is None:
        os.kill(r.proc.pid, signal.SIGCONT)
    r.stop()


def test_api_answers_within_2_s_while_redis_is_sigstopped(start_api, hung_redis, keys, customer_id):
    server = start_api(redis_url=hung_redis.url, api_rate_per_ip="1000000/minute", api_rate_per_key="1000000/hour")
    auth = Keys.bearer(keys.producer)
    with server.client() as c:  # while Redis is well: a job to read back later
        ok = c.post("/api/jobs", json={"customer_id": customer_id, "tier": "pro"}, headers=auth)
    assert ok.status_code == 202, ok.text
    job_id = ok.json()["job_id"]

    os.kill(hung_redis.proc.pid, signal.SIGSTOP)

    def post(i: int) -> tuple[int, float]:
        t = time.perf_counter()
        r = httpx.post(f"{server.url}/api/jobs", json={"customer_id": customer_id, "tier": "starter"},
                       headers={**auth, "Idempotency-Key": f"hung-{i}"}, timeout=30)
        return r.status_code, time.perf_counter() - t

    def get() -> tuple[int, float]:
        t = time.perf_counter()
        r = httpx.get(f"{server.url}/api/jobs/{job_id}", headers=auth, timeout=30)
        return r.status_code, time.perf_counter() - t

    with ThreadPoolExecutor(CONCURRENT + 1) as pool:
        posts = [pool.submit(post, i) for i in range(CONCURRENT)]
        time.sleep(0.3)  # every POST is in flight, most of them waiting on Redis
        during = pool.submit(get).result()
        posted = [f.result() for f in posts]
    after = get()
    health = httpx.get(f"{server.url}/api/health", timeout=30)

    codes = {code for code, _ in posted}
    slowest_post = max(t for _, t in posted)
    print(f"\nhung redis: GET during {during[1] * 1000:.0f} ms, GET after {after[1] * 1000:.0f} ms, "
          f"{CONCURRENT} POSTs all {sorted(codes)}, slowest {slowest_post * 1000:.0f} ms")
    assert during[0] == 200 and during[1] < 2.0, during
    assert after[0] == 200 and after[1] < 2.0, after
    assert codes == {503}, posted
    assert slowest_post < 5.0  # each POST: one limiter deadline and at most one publish deadline
    assert health.status_code == 503 and health.json()["db_connected"] is True
    with db.session() as s:  # nothing half-queued: a job of the outage waits in the outbox, not started
        statuses = list(s.scalars(select(Job.status).where(Job.id != job_id)))
    assert set(statuses) <= {"pending"}

    os.kill(hung_redis.proc.pid, signal.SIGCONT)
    time.sleep(5.5)  # the breaker's cooldown
    with server.client() as c:
        again = c.post("/api/jobs", json={"customer_id": customer_id, "tier": "pro"}, headers=auth)
    assert again.status_code == 202, again.text
    assert "Traceback" not in server.log.read_text()


def test_rate_limits_hold_per_process_while_redis_is_hung(start_api, hung_redis, keys, customer_id):
    """The limiter's documented behaviour: it fails over to per-process counts, within
    one deadline; limits still hold and nobody waits on Redis."""
    server = start_api(redis_url=hung_redis.url, api_rate_per_key="5/hour", api_rate_per_ip="1000000/minute")
    os.kill(hung_redis.proc.pid, signal.SIGSTOP)
    url = f"{server.url}/api/jobs/00000000-0000-0000-0000-000000000001"
    answers = []
    for _ in range(7):
        t = time.perf_counter()
        r = httpx.get(url, headers=Keys.bearer(keys.producer), timeout=30)
        answers.append((r.status_code, time.perf_counter() - t))
    print(f"\nlimited GETs with hung redis: {[(c, round(t * 1000)) for c, t in answers]} ms")
    assert [c for c, _ in answers] == [404] * 5 + [429] * 2
    assert max(t for _, t in answers) < 2.0
    assert sum(t for _, t in answers[1:]) < 2.0  # after the first miss Redis is not waited on
