"""Beat's other duties: one beat at a time, starvation bound, retention."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text, update

from directorybolt import beatlock, db, jobs, retention, seed, starvation
from directorybolt.models import DeadLetter, Job, QueueHistory, QueueHistoryArchive
from directorybolt.runtime import redis_client


def test_second_beat_waits_and_takes_over(clean):
    order: list[str] = []
    with beatlock.hold_beat_lock(poll_s=0.1) as first:
        with pytest.raises(TimeoutError), beatlock.hold_beat_lock(poll_s=0.1, max_wait_s=0.5):
            order.append("second ran while first held the lock")
        assert redis_client().get(beatlock.LOCK_KEY).decode() == first

        def second() -> None:
            with beatlock.hold_beat_lock(poll_s=0.1, max_wait_s=5):
                order.append("second")

        t = threading.Thread(target=second)
        t.start()
        time.sleep(0.3)
        order.append("first done")
    t.join(5)
    assert order == ["first done", "second"]


def test_promote_starved_moves_old_lower_tier_messages_to_the_front(clean, settings_env):
    from directorybolt import dispatch
    from tests.test_heartbeats import DIRS

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
    from directorybolt import dispatch
    from tests.test_heartbeats import DIRS

    settings_env(starvation_after_s=0)
    seed.upsert_directories(DIRS)
    with db.session() as s:
        j, _ = jobs.create_job(s, customer_id=seed.customer(), tier="starter")
    dispatch.send_submissions(j.id, ["a"], "submissions.starter")
    assert starvation.promote_starved() == {}


def test_retention_archives_then_deletes_exactly_past_thresholds(clean, settings_env):
    settings_env(history_archive_days=90, history_delete_days=365, dead_letter_retention_days=30)
    now = datetime.now(UTC)
    with db.session() as s:
        for days in (10, 89, 91, 200):
            s.execute(text("INSERT INTO queue_history (event, created_at) VALUES (:e, :t)"),
                      {"e": f"d{days}", "t": now - timedelta(days=days)})
        s.execute(text("INSERT INTO queue_history_archive (id, event, created_at) VALUES "
                       "(100001, 'a300', :a), (100002, 'a400', :b)"),
                  {"a": now - timedelta(days=300), "b": now - timedelta(days=400)})
        for state, days in (("replayed", 31), ("purged", 29), ("open", 60)):
            s.add(DeadLetter(task_name="t", args=[], kwargs={}, exception_type="E", exception_message="",
                             attempts=1, state=state, state_changed_at=now - timedelta(days=days)))
    report = retention.purge_history(now=now)
    assert (report.archived, report.deleted, report.dead_letters_deleted) == (2, 1, 1)
    with db.session() as s:
        assert sorted(s.scalars(select(QueueHistory.event))) == ["d10", "d89"]
        assert sorted(s.scalars(select(QueueHistoryArchive.event))) == ["a300", "d200", "d91"]
        assert sorted(s.scalars(select(DeadLetter.state))) == ["open", "purged"]


def test_screenshots_are_pruned_with_their_job(clean, settings_env, tmp_path):
    from tests.test_heartbeats import DIRS

    settings = settings_env(screenshot_retention_days=90, state_dir=tmp_path)
    seed.upsert_directories(DIRS)
    cid = seed.customer()
    ids = []
    for days in (100, 10):
        with db.session() as s:
            j, _ = jobs.create_job(s, customer_id=cid, tier="starter")
            jobs.start_job(s, j.id)
            shot = settings.state_dir / "screenshots" / str(j.id) / "a.png"
            shot.parent.mkdir(parents=True)
            shot.write_bytes(b"png")
            s.execute(text("UPDATE job_results SET screenshot_path = :p WHERE job_id = :j"),
                      {"p": str(shot), "j": j.id})
            s.execute(update(Job).where(Job.id == j.id).values(
                status="completed", finished_at=datetime.now(UTC) - timedelta(days=days)))
            ids.append(j.id)
    assert retention.prune_screenshots() == 1
    old, recent = ids
    assert not (settings.state_dir / "screenshots" / str(old)).exists()
    assert (settings.state_dir / "screenshots" / str(recent) / "a.png").exists()
    with db.session() as s:
        paths = dict(s.execute(text("SELECT job_id, screenshot_path FROM job_results WHERE directory_id = 'a'")).all())
    assert paths[old] is None and paths[recent] is not None
