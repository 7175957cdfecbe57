"""The profile / catalog cache: hits cost no database query, every kind of write
invalidates, Redis trouble degrades to the database, and the loads a submission does
drop by at least 70 %."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event, text, update

from directorybolt import cache, db, jobs, seed, submissions
from directorybolt.browser.plans import Plan
from directorybolt.models import Customer, Directory, Job
from directorybolt.runtime import redis_client
from directorybolt.sandbox import sandbox_directories

BASE = "http://127.0.0.1:9"
DIRS = ["plain", "wizard", "select", "slow", "transient", "ratelimited", "broken", "captcha", "changed", "nomap"]


@contextmanager
def counting() -> Iterator[list[str]]:
    """Every statement sent to PostgreSQL while the block runs."""
    statements: list[str] = []

    def on_execute(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    engine = db.engine()
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)


def new_customer(i: int = 0) -> uuid.UUID:
    return uuid.UUID(seed.customer({**seed.DEMO_PROFILE, "business_name": f"Cache Co {i} {time.time_ns()}"}))


@pytest.fixture
def catalog(clean) -> list[str]:
    return seed.upsert_directories(sandbox_directories(BASE))


def test_profile_hit_serves_without_a_query(catalog):
    cid = new_customer()
    with db.session() as s, counting() as miss:
        first = cache.get_profile(s, cid)
    with db.session() as s, counting() as hit:
        again = cache.get_profile(s, str(cid))
    assert len(miss) == 1 and hit == [], f"hit ran {hit}"
    assert again == first and again.business_name.startswith("Cache Co")
    assert 3500 <= redis_client().ttl(cache.key(cache.PROFILE, cid)) <= 3600


def test_directory_hit_serves_without_a_query(catalog):
    with db.session() as s, counting() as miss:
        entry = cache.get_directory(s, "wizard")
    with db.session() as s, counting() as hit:
        again = cache.get_directory(s, "wizard")
    assert len(miss) == 1 and hit == []
    assert again == entry and again.target_url == f"{BASE}/wizard/" and again.tier == 2
    assert Plan.model_validate(again.plan).steps
    assert redis_client().ttl(cache.key(cache.DIRECTORY, "wizard")) > 86_000


def test_orm_update_invalidates_the_profile(catalog):
    cid = new_customer()
    with db.session() as s:
        assert cache.get_profile(s, cid).phone == seed.DEMO_PROFILE["phone"]
    with db.session() as s:
        s.get(Customer, cid).phone = "+1 503 555 0199"
    with db.session() as s:
        assert cache.get_profile(s, cid).phone == "+1 503 555 0199"


def test_core_update_and_raw_sql_invalidate(catalog):
    cid = new_customer()
    with db.session() as s:
        cache.get_profile(s, cid)
        cache.get_directory(s, "plain")
    with db.session() as s:
        s.execute(update(Customer).where(Customer.id == cid).values(city="Salem"))
        s.execute(text("UPDATE directories SET name = 'Renamed' WHERE id = 'plain'"))
    with db.session() as s:
        assert cache.get_profile(s, cid).city == "Salem"
        assert cache.get_directory(s, "plain").name == "Renamed"


def test_catalog_reseed_invalidates_entries(catalog):
    """The sandbox is re-seeded on a new port every run; a cached URL must not survive that."""
    with db.session() as s:
        assert cache.get_directory(s, "plain").url == f"{BASE}/plain/"
    seed.upsert_directories(sandbox_directories("http://127.0.0.1:4242"))
    with db.session() as s:
        assert cache.get_directory(s, "plain").url == "http://127.0.0.1:4242/plain/"


def test_rolled_back_write_keeps_the_entry(catalog):
    cid = new_customer()
    with db.session() as s:
        cache.get_profile(s, cid)
    with pytest.raises(RuntimeError), db.session() as s:
        s.get(Customer, cid).city = "Nowhere"
        s.flush()
        raise RuntimeError("abort")
    with db.session() as s, counting() as q:
        assert cache.get_profile(s, cid).city == seed.DEMO_PROFILE["city"]
    assert q == [], "a rollback invalidates nothing"


def test_late_fill_of_stale_data_is_refused(catalog):
    """A reader that loaded the old row before the writer committed must not re-cache it."""
    cid = new_customer()
    with db.session() as s:
        stale = jobs.profile_of(s.get(Customer, cid))
        s.get(Customer, cid).city = "Eugene"
    cache._fill(cache.key(cache.PROFILE, cid), stale.model_dump_json(), 3600)  # the late reader
    with db.session() as s:
        assert cache.get_profile(s, cid).city == "Eugene"


def test_redis_down_degrades_to_the_database(catalog, monkeypatch):
    cid = new_customer()

    def down():
        raise ConnectionError("redis is away")

    monkeypatch.setattr(cache, "_redis", down)
    with db.session() as s:
        assert cache.get_profile(s, cid).business_name.startswith("Cache Co")
        assert cache.get_directory(s, "select").id == "select"
        s.get(Directory, "select").name = "Still writable"


def test_missing_rows_are_not_found(catalog):
    from directorybolt.errors import NotFound

    with db.session() as s, pytest.raises(NotFound):
        cache.get_profile(s, uuid.uuid4())
    with db.session() as s, pytest.raises(NotFound):
        cache.get_directory(s, "no-such-directory")


# ---- queries per submission-load, before and after --------------------------------------

#: The claim as proposed for submissions._claim: the jobs row it already joins also
#: yields the tier and customer, so loading the Job costs no extra SELECT.
CLAIM_RETURNING = text(
    submissions._CLAIM.text
    if "j.customer_id" in submissions._CLAIM.text
    else submissions._CLAIM.text.replace("RETURNING r.attempts", "RETURNING r.attempts, j.tier, j.customer_id")
)
HEARTBEAT = text("UPDATE jobs SET last_heartbeat = now() WHERE id = :job")


def claim_uncached(job_id: uuid.UUID, directory_id: str) -> tuple[int, int]:
    """submissions._claim as it was: (statements in the whole claim, of which loads)."""
    with db.session() as s, counting() as q:
        s.execute(submissions._CLAIM, {"job": job_id, "dir": directory_id, "worker": "w"}).scalar_one()
        s.execute(HEARTBEAT, {"job": job_id})
        before_loads = len(q)
        job = s.get(Job, job_id)
        directory = s.get(Directory, directory_id)
        customer = s.get(Customer, job.customer_id)
        jobs.profile_of(customer)
        Plan.model_validate(directory.plan) if directory.plan else None
    return len(q), len(q) - before_loads


def claim_cached(job_id: uuid.UUID, directory_id: str) -> tuple[int, int]:
    """The replacement given to the lead for submissions._claim's loading lines."""
    with db.session() as s, counting() as q:
        attempt, tier, customer_id = s.execute(
            CLAIM_RETURNING, {"job": job_id, "dir": directory_id, "worker": "w"}).one()
        s.execute(HEARTBEAT, {"job": job_id})
        before_loads = len(q)
        directory = cache.get_directory(s, directory_id)
        profile = cache.get_profile(s, customer_id)
        Plan.model_validate(directory.plan) if directory.plan else None
        assert tier == "pro" and attempt == 1 and profile.business_name and directory.target_url
    return len(q), len(q) - before_loads


def workload(n_jobs: int) -> list[tuple[uuid.UUID, str]]:
    """n_jobs jobs of different customers over the same 10 directories, started."""
    pairs = []
    for i in range(n_jobs):
        with db.session() as s:
            job, _ = jobs.create_job(s, customer_id=new_customer(i), tier="pro", directories=DIRS)
            jobs.start_job(s, job.id)
        pairs += [(job.id, d) for d in DIRS]
    return pairs


def test_cache_cuts_queries_per_submission_load(catalog):
    n_jobs = 5
    before = [claim_uncached(j, d) for j, d in workload(n_jobs)]
    after = [claim_cached(j, d) for j, d in workload(n_jobs)]
    n = len(before)
    loads_before, loads_after = sum(b[1] for b in before) / n, sum(a[1] for a in after) / n
    claim_before, claim_after = sum(b[0] for b in before) / n, sum(a[0] for a in after) / n
    cut = 1 - loads_after / loads_before
    print(f"\nqueries per submission-load ({n_jobs} jobs x {len(DIRS)} directories, cold cache): "
          f"{loads_before:.2f} -> {loads_after:.2f} ({cut:.0%} fewer); whole claim incl. claim UPDATE and "
          f"heartbeat: {claim_before:.2f} -> {claim_after:.2f} ({1 - claim_after / claim_before:.0%} fewer)")
    assert loads_before == 3
    assert cut >= 0.70
    warm = [claim_cached(j, d) for j, d in workload(1)]
    assert sum(w[1] for w in warm) == 1, "warm catalog: one profile miss per job, nothing else"


def test_wired_claim_uses_the_cache(catalog):
    """Once submissions._claim loads through the cache, it must cost what claim_cached costs."""
    if not hasattr(submissions, "cache"):
        pytest.skip("submissions._claim does not use directorybolt.cache yet")
    pairs = workload(2)
    with counting() as q:
        for job_id, directory_id in pairs:
            ctx = submissions._claim(job_id, directory_id, "w")
            assert not isinstance(ctx, submissions.Outcome)
    per = len(q) / len(pairs)
    print(f"\nsubmissions._claim: {per:.2f} statements per submission (claim + heartbeat + cache misses)")
    assert per <= 2 + (len(DIRS) + 2) / len(pairs)
