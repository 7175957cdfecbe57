"""Retention: audit rows archived then deleted, closed dead letters and old screenshots removed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text, update

from directorybolt.cli import seed
from directorybolt.lifecycle import jobs
from directorybolt.ops import retention
from directorybolt.store import db
from directorybolt.store.models import DeadLetter, Job, QueueHistory, QueueHistoryArchive
from tests.recovery.test_sweep import DIRS


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
