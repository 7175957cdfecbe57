"""``directorybolt status`` without a job: live workers with their state (a degraded one
says it takes no submissions) and the queue depths."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from directorybolt.cli import main
from directorybolt.store import db
from directorybolt.store.models import WorkerHeartbeat


def _workers() -> None:
    with db.session() as s:
        s.add(WorkerHeartbeat(worker_id="h:1:a", hostname="h", pid=1))
        s.add(WorkerHeartbeat(worker_id="h:2:a", hostname="h", pid=2, state="degraded"))
        s.add(WorkerHeartbeat(worker_id="h:3:a", hostname="h", pid=3, role="maintenance"))
        s.add(WorkerHeartbeat(worker_id="h:4:a", hostname="h", pid=4, state="degraded",
                              last_heartbeat=datetime.now(UTC) - timedelta(hours=1)))  # gone: not listed


def test_status_lists_ok_and_degraded_workers(clean):
    _workers()
    result = CliRunner().invoke(main, ["status"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "workers: 1 ok, 1 degraded (submissions); 1 maintenance"
    degraded = next(line for line in lines if "h:2:a" in line)
    assert "degraded" in degraded and "not taking submissions" in degraded
    assert not any("h:4:a" in line for line in lines)
    assert lines[-1].startswith("queues: submissions.enterprise 0")


def test_status_json(clean):
    _workers()
    result = CliRunner().invoke(main, ["status", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["submission_workers"] == {"ok": 1, "degraded": 1} and body["maintenance_workers"] == 1
    assert {w["worker_id"]: w["state"] for w in body["workers"]} == {"h:1:a": "ok", "h:2:a": "degraded",
                                                                     "h:3:a": "ok"}
    assert body["queue_depth"]["maintenance"] == 0
