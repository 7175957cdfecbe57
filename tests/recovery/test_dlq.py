"""Dead letters: durable row and broker copy kept in step through replay and purge."""

from __future__ import annotations

import json
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from directorybolt.cli import main, seed
from directorybolt.core.errors import ConflictError, NotFound, SiteUnavailable
from directorybolt.lifecycle import jobs, results
from directorybolt.queueing.dispatch import HANDOFF
from directorybolt.recovery import dlq
from directorybolt.store import db
from directorybolt.store.models import Job, JobResult, QueueHistory
from directorybolt.store.services import redis_client
from tests.recovery.test_sweep import DIRS


@pytest.fixture
def failed(clean) -> tuple[uuid.UUID, int]:
    seed.upsert_directories(DIRS)
    with db.session() as s:
        j, _ = jobs.create_job(s, customer_id=seed.customer(), tier="growth")
        jobs.start_job(s, j.id)
        from sqlalchemy import update

        s.execute(update(JobResult).where(JobResult.job_id == j.id).values(status="submitted"))
        s.execute(update(JobResult).where(JobResult.job_id == j.id, JobResult.directory_id == "a")
                  .values(status="failed", attempts=4, error_category="http_5xx"))
        assert results.finalize(s, j.id) == "partial"
    dl_id = dlq.dead_letter(dlq.Failure(
        task_name="tasks.submission.submit_directory", task_id="t-1", args=[str(j.id), "a"],
        kwargs={"tier_queue": "submissions.growth"}, queue="submissions.growth",
        exc=SiteUnavailable("directory answered HTTP 500"), traceback="Traceback: ...", attempts=4), HANDOFF)
    return j.id, dl_id


def test_dead_letter_row_and_broker_copy(failed):
    job_id, dl_id = failed
    e = dlq.get(dl_id)
    assert (e.state, e.tier, e.directory_id, e.exception_type, e.attempts) == ("open", "growth", "a",
                                                                                "SiteUnavailable", 4)
    assert e.job_id == job_id and e.first_failure_at <= e.last_failure_at
    raw = redis_client().lrange("dead_letter", 0, -1)
    assert len(raw) == 1 and json.loads(raw[0])["dead_letter_id"] == dl_id


def test_replay_requeues_with_fresh_budget_and_reopens_job(failed):
    job_id, dl_id = failed
    dlq.replay(dl_id, HANDOFF)
    assert dlq.get(dl_id).state == "replayed"
    assert redis_client().llen("dead_letter") == 0
    assert redis_client().llen("submissions.growth") == 1
    with db.session() as s:
        r = s.scalar(select(JobResult).where(JobResult.job_id == job_id, JobResult.directory_id == "a"))
        assert (r.status, r.attempts) == ("pending", 0)
        assert s.get(Job, job_id).status == "in_progress"
        assert s.scalar(select(QueueHistory.event).where(QueueHistory.event == "dlq_replayed"))
    with pytest.raises(ConflictError):
        dlq.replay(dl_id, HANDOFF)


def test_purge_keeps_both_in_step(failed):
    _, dl_id = failed
    dlq.purge(dl_id, HANDOFF)
    assert dlq.get(dl_id).state == "purged" and redis_client().llen("dead_letter") == 0
    with pytest.raises(NotFound):
        dlq.purge(10**9, HANDOFF)


def test_cli_list_show_replay_purge(failed):
    _, dl_id = failed
    r = CliRunner()
    out = r.invoke(main, ["dlq", "list", "--json"])
    assert out.exit_code == 0 and json.loads(out.output)[0]["id"] == dl_id
    out = r.invoke(main, ["dlq", "show", str(dl_id)])
    assert out.exit_code == 0 and "SiteUnavailable" in out.output and "Traceback" in out.output
    assert r.invoke(main, ["dlq", "replay"]).exit_code == 2
    out = r.invoke(main, ["dlq", "replay", "--all", "--task", "tasks.submission.submit_directory"])
    assert out.exit_code == 0 and "replayed 1" in out.output
    out = r.invoke(main, ["dlq", "replay", str(dl_id)])
    assert out.exit_code == 1 and "only open entries" in out.output
    out = r.invoke(main, ["dlq", "purge", "--older-than", "0"])
    assert out.exit_code == 0 and "purged 0" in out.output
    assert r.invoke(main, ["dlq", "show", "999999"]).exit_code == 1


def test_replay_of_a_submission_whose_form_was_sent_needs_force(failed):
    """Hole 3: a dead letter of a submission that failed after its form was sent is not
    re-sent by a plain replay (the directory may list the customer already)."""
    from sqlalchemy import update

    job_id, dl_id = failed
    with db.session() as s:
        s.execute(update(JobResult).where(JobResult.job_id == job_id, JobResult.directory_id == "a")
                  .values(committed_at=func.now()))
    with pytest.raises(ConflictError, match="--force"):
        dlq.replay(dl_id, HANDOFF)
    out = CliRunner().invoke(main, ["dlq", "replay", str(dl_id)])
    assert out.exit_code != 0 and "--force" in out.output and "Traceback" not in out.output
    assert dlq.get(dl_id).state == "open" and redis_client().llen("submissions.growth") == 0
    out = CliRunner().invoke(main, ["dlq", "replay", str(dl_id), "--force"])
    assert out.exit_code == 0, out.output
    with db.session() as s:
        r = s.scalar(select(JobResult).where(JobResult.job_id == job_id, JobResult.directory_id == "a"))
        assert (r.status, r.committed_at) == ("pending", None)
    assert redis_client().llen("submissions.growth") == 1
