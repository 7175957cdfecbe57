"""Kill workers mid-job: every directory still ends submitted at most once, within the bound."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

from directorybolt.lifecycle.reports import job_report
from tests.conftest import wait_until
from tests.execution.conftest import enqueue, make_customer, wait_finished

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def _check_exactly_once(report: dict, sandbox, business: str = "bolt plumbing & heating") -> list[str]:
    counts = httpx.get(f"{sandbox.url}/_submissions").json()["counts"]
    interrupted = []
    for r in report["results"]:
        n = counts.get(f"{r['directory']}|{business}", 0)
        assert n <= 1, f"{r['directory']} submitted {n} times"
        if r["status"] == "submitted":
            assert n == 1, r
        else:
            assert (r["status"], r["error_category"]) == ("needs_review", "interrupted"), r
            interrupted.append(r["directory"])
    return interrupted


def _progress(job_id: str, at_least: int) -> None:
    wait_until(lambda: job_report(job_id)["counts"]["submitted"] >= at_least, 90, 0.05,
               what=f"{at_least} submissions")


def test_sigkill_whole_worker_group_mid_job(chaos_catalog, sandbox, start_worker, beat):
    w = start_worker(concurrency=2)
    job_id = enqueue(make_customer(), chaos_catalog)
    _progress(job_id, 6)
    t_kill = time.monotonic()
    w.kill(signal.SIGKILL)
    start_worker(concurrency=2)
    report = wait_finished(job_id, timeout=120)
    recovery = time.monotonic() - t_kill
    print(f"job finished {recovery:.1f} s after SIGKILL of the worker group")
    assert recovery <= 120
    interrupted = _check_exactly_once(report, sandbox)
    assert len(interrupted) <= 2 and report["counts"]["total"] == len(chaos_catalog)
    assert report["status"] in ("completed", "partial")


def test_sigkill_one_prefork_child_mid_job(chaos_catalog, sandbox, start_worker, beat):
    w = start_worker(concurrency=2)
    job_id = enqueue(make_customer(), chaos_catalog)
    _progress(job_id, 4)
    t_kill = time.monotonic()
    os.kill(w.children()[0], signal.SIGKILL)
    report = wait_finished(job_id, timeout=120)
    print(f"job finished {time.monotonic() - t_kill:.1f} s after SIGKILL of one child")
    assert len(_check_exactly_once(report, sandbox)) <= 1
