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

from directorybolt.cli import seed
from directorybolt.core.plans import Plan
from directorybolt.execution import submission
from directorybolt.lifecycle import jobs
from directorybolt.sandbox import sandbox_directories
from directorybolt.store import cache, db
from directorybolt.store.models import Customer, Directory, Job
from directorybolt.store.services import redis_client

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
        stale = s.get(Customer, cid).profile()
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
    from directorybolt.core.errors import NotFound

    with db.session() as s, pytest.raises(NotFound):
        cache.get_profile(s, uuid.uuid4())
    with db.session() as s, pytest.raises(NotFound):
        cache.get_directory(s, "no-such-directory")


# ---- queries per submission-load, before and after --------------------------------------
# The claim statements are spelled out here (not taken from execution/submission.py) so the
# comparison stays the same whichever version of _claim is current.

_CLAIM_WHERE = """
    UPDATE job_results r SET status = 'submitting', worker_id = :worker, claimed_at = now(),
        committed_at = NULL, attempts = r.attempts + 1, updated_at = now()
    FROM jobs j
    WHERE r.job_id = :job AND r.directory_id = :dir AND j.id = r.job_id AND j.status = 'in_progress'
      AND r.status = 'pending' AND (r.retry_at IS NULL OR r.retry_at <= now() + interval '2 seconds')
"""
#: Before: the claim, the job heartbeat, then Job, Directory and Customer loaded one by one.
CLAIM_BEFORE = text(_CLAIM_WHERE + "RETURNING r.attempts")
HEARTBEAT = text("UPDATE jobs SET last_heartbeat = now() WHERE id = :job")
#: After: claim and heartbeat in one statement that also yields tier and customer; the
#: profile and the catalog entry come from the cache.
CLAIM_CACHED = text(f"""
    WITH claimed AS ({_CLAIM_WHERE} RETURNING r.attempts, j.tier, j.customer_id),
    beat AS (UPDATE jobs SET last_heartbeat = now() WHERE id = :job AND EXISTS (SELECT 1 FROM claimed))
    SELECT attempts, tier, customer_id FROM claimed
""")
#: For comparison: the same single statement joining directory and customer instead of caching.
CLAIM_JOINED = text(f"""
    WITH claimed AS ({_CLAIM_WHERE} RETURNING r.attempts, j.tier, j.customer_id),
    beat AS (UPDATE jobs SET last_heartbeat = now() WHERE id = :job AND EXISTS (SELECT 1 FROM claimed))
    SELECT claimed.attempts, claimed.tier, d.plan, coalesce(d.submission_url, d.url) AS url,
           {", ".join(f"c.{f}" for f in jobs.BUSINESS_FIELDS)}
    FROM claimed JOIN directories d ON d.id = :dir JOIN customers c ON c.id = claimed.customer_id
""")


def claim_before(job_id: uuid.UUID, directory_id: str) -> tuple[int, int]:
    """(statements in the whole claim, of which loads) for the original _claim."""
    with db.session() as s, counting() as q:
        s.execute(CLAIM_BEFORE, {"job": job_id, "dir": directory_id, "worker": "w"}).scalar_one()
        s.execute(HEARTBEAT, {"job": job_id})
        before_loads = len(q)
        job = s.get(Job, job_id)
        directory = s.get(Directory, directory_id)
        customer = s.get(Customer, job.customer_id)
        customer.profile()
        Plan.model_validate(directory.plan) if directory.plan else None
    return len(q), len(q) - before_loads


def claim_cached(job_id: uuid.UUID, directory_id: str) -> tuple[int, int]:
    """The same for the replacement given to the lead (see the report / docs/scaling.md)."""
    with db.session() as s, counting() as q:
        row = s.execute(CLAIM_CACHED, {"job": job_id, "dir": directory_id, "worker": "w"}).one()
        before_loads = len(q)
        directory = cache.get_directory(s, directory_id)
        profile = cache.get_profile(s, row.customer_id)
        Plan.model_validate(directory.plan) if directory.plan else None
        assert row.tier == "pro" and row.attempts == 1 and profile.business_name and directory.target_url
    return len(q), len(q) - before_loads


def claim_joined(job_id: uuid.UUID, directory_id: str) -> tuple[int, int]:
    with db.session() as s, counting() as q:
        row = s.execute(CLAIM_JOINED, {"job": job_id, "dir": directory_id, "worker": "w"}).one()
        jobs.BusinessProfile.model_validate({f: getattr(row, f) for f in jobs.BUSINESS_FIELDS},
                                            context={"allow_private_websites": True})
        Plan.model_validate(row.plan) if row.plan else None
    return len(q), 0


def workload(n_jobs: int) -> list[tuple[uuid.UUID, str]]:
    """n_jobs jobs of different customers over the same 10 directories, started."""
    pairs = []
    for i in range(n_jobs):
        with db.session() as s:
            job, _ = jobs.create_job(s, customer_id=new_customer(i), tier="pro", directories=DIRS)
            jobs.start_job(s, job.id)
        pairs += [(job.id, d) for d in DIRS]
    return pairs


def timed(fn, pairs: list[tuple[uuid.UUID, str]]) -> tuple[list[tuple[int, int]], float]:
    """Results and the median wall time per claim in ms."""
    import statistics

    out, times = [], []
    for job_id, directory_id in pairs:
        t0 = time.perf_counter()
        out.append(fn(job_id, directory_id))
        times.append((time.perf_counter() - t0) * 1000)
    return out, statistics.median(times)


def test_cache_cuts_queries_per_submission_load(catalog):
    n_jobs = 5
    before, ms_before = timed(claim_before, workload(n_jobs))
    after, ms_after = timed(claim_cached, workload(n_jobs))
    joined, ms_joined = timed(claim_joined, workload(n_jobs))
    n = len(before)
    loads_before, loads_after = sum(b[1] for b in before) / n, sum(a[1] for a in after) / n
    claim_before_n, claim_after_n = sum(b[0] for b in before) / n, sum(a[0] for a in after) / n
    cut_loads, cut_claim = 1 - loads_after / loads_before, 1 - claim_after_n / claim_before_n
    print(f"\nper submission-load ({n_jobs} jobs x {len(DIRS)} directories, cache cold at start):\n"
          f"  separate loads:  {loads_before:.2f} -> {loads_after:.2f} queries ({cut_loads:.0%} fewer)\n"
          f"  whole claim:     {claim_before_n:.2f} -> {claim_after_n:.2f} statements ({cut_claim:.0%} fewer), "
          f"median {ms_before:.2f} ms -> {ms_after:.2f} ms\n"
          f"  joined, no cache: {sum(j[0] for j in joined) / n:.2f} statements, median {ms_joined:.2f} ms")
    assert loads_before == 3 and claim_before_n == 5
    assert cut_loads >= 0.70 and cut_claim >= 0.70
    warm, _ = timed(claim_cached, workload(1))
    assert sum(w[1] for w in warm) == 1, "warm catalog: one profile miss per job, nothing else"


def test_wired_claim_uses_the_cache(catalog):
    """Once submission._claim loads through the cache, it must cost what claim_cached costs."""
    pairs = workload(2)
    with counting() as q:
        for job_id, directory_id in pairs:
            ctx = submission._claim(job_id, directory_id, "w", lambda _: False)
            assert not isinstance(ctx, submission.Outcome)
    per = len(q) / len(pairs)
    print(f"\nsubmission._claim: {per:.2f} statements per submission (one claim + cache misses)")
    assert per <= 1 + (len(DIRS) + 2) / len(pairs)
