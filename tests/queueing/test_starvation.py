"""The starvation bound: within one worker pool, messages that waited too long move to
the front of the pool's highest queue, never into another pool's queues (hole 8)."""

from __future__ import annotations

import json
import time

from directorybolt.cli import seed
from directorybolt.lifecycle import jobs
from directorybolt.queueing import dispatch, redis_layout, starvation
from directorybolt.store import db
from directorybolt.store.services import redis_client
from tests.recovery.test_sweep import DIRS


def _job(tier: str) -> str:
    with db.session() as s:
        j, _ = jobs.create_job(s, customer_id=seed.customer(), tier=tier)
        return str(j.id)


def test_old_starter_messages_move_within_the_standard_pool(clean, settings_env):
    settings_env(starvation_after_s=60, starvation_batch=2)
    seed.upsert_directories(DIRS)
    old, busy = _job("starter"), _job("growth")
    dispatch.send_submissions(old, ["a", "b", "c"], "submissions.starter")
    dispatch.send_submissions(busy, ["a", "b", "c"], "submissions.growth")
    later = time.time() + 120  # the starter messages have now waited 2 minutes
    assert starvation.promote_starved(now=later) == {"submissions.starter": 2}
    r = redis_client()
    assert r.llen("submissions.starter") == 1 and r.llen("submissions.growth") == 5
    assert r.llen("submissions.enterprise") == 0, "never onto the priority pool's queues"
    assert old.encode() in r.lindex("submissions.growth", -1), "the promoted starter message is served next"
    found, complete = redis_layout.queued_jobs(r, ["submissions.growth", "submissions.starter"], 100)
    assert complete and old in found, "a moved message is still found by the sweep's broker scan"
    assert starvation.promote_starved(now=later) == {"submissions.starter": 1}


def test_enterprise_load_does_not_pull_starter_work_into_the_priority_pool(clean, settings_env):
    settings_env(starvation_after_s=60)
    seed.upsert_directories(DIRS)
    dispatch.send_submissions(_job("starter"), ["a"], "submissions.starter")
    dispatch.send_submissions(_job("enterprise"), ["a", "b"], "submissions.enterprise")
    assert starvation.promote_starved(now=time.time() + 3600) == {}
    assert redis_client().llen("submissions.starter") == 1


def test_starvation_is_judged_by_how_long_the_message_waited_not_the_job_age(clean, settings_env):
    settings_env(starvation_after_s=60)
    seed.upsert_directories(DIRS)
    old_job = _job("starter")  # however old the job, its message was sent just now
    dispatch.send_submissions(old_job, ["a"], "submissions.starter")
    dispatch.send_submissions(_job("growth"), ["a"], "submissions.growth")
    assert starvation.promote_starved() == {}
    raw = redis_client().lindex("submissions.starter", -1)
    sent = json.loads(raw)["headers"][redis_layout.SENT_AT_HEADER]
    assert abs(sent - time.time()) < 30
    assert starvation.promote_starved(now=sent + 61) == {"submissions.starter": 1}


def test_no_promotion_when_higher_tiers_are_idle(clean, settings_env):
    settings_env(starvation_after_s=0)
    seed.upsert_directories(DIRS)
    dispatch.send_submissions(_job("starter"), ["a"], "submissions.starter")
    assert starvation.promote_starved(now=time.time() + 3600) == {}
