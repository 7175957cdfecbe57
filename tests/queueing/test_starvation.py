"""The starvation bound: old lower-tier messages are moved to the front."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from directorybolt.cli import seed
from directorybolt.lifecycle import jobs
from directorybolt.queueing import dispatch, starvation
from directorybolt.store import db
from directorybolt.store.models import Job
from directorybolt.store.services import redis_client
from tests.recovery.test_sweep import DIRS


def test_promote_starved_moves_old_lower_tier_messages_to_the_front(clean, settings_env):
    settings_env(starvation_after_s=60, starvation_batch=2)
    seed.upsert_directories(DIRS)
    cid = seed.customer()
    with db.session() as s:
        old, _ = jobs.create_job(s, customer_id=cid, tier="starter")
        new, _ = jobs.create_job(s, customer_id=cid, tier="enterprise")
        s.execute(update(Job).where(Job.id == old.id).values(created_at=datetime.now(UTC) - timedelta(minutes=30)))
    dispatch.send_submissions(old.id, ["a", "b", "c"], "submissions.starter")
    dispatch.send_submissions(new.id, ["a", "b", "c"], "submissions.enterprise")
    moved = starvation.promote_starved()
    assert moved == {"submissions.starter": 2}
    r = redis_client()
    assert r.llen("submissions.starter") == 1 and r.llen("submissions.enterprise") == 5
    nxt = r.lindex("submissions.enterprise", -1)
    assert str(old.id).encode() in nxt, "the promoted starter message is served next"
    assert starvation.promote_starved() == {"submissions.starter": 1}


def test_no_promotion_when_higher_tiers_are_idle(clean, settings_env):
    settings_env(starvation_after_s=0)
    seed.upsert_directories(DIRS)
    with db.session() as s:
        j, _ = jobs.create_job(s, customer_id=seed.customer(), tier="starter")
    dispatch.send_submissions(j.id, ["a"], "submissions.starter")
    assert starvation.promote_starved() == {}
