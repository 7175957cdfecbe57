"""The fault harness, bounded, in the suite: >= 40 faults of every kind against real
workers, Beat, extra sweepers, PostgreSQL and a restartable Redis, then the
exactly-once invariants (bench/faults.py; the 300-fault figure is in docs/benchmarks.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.timeout(900)]


def test_forty_faults_and_no_violation(services):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIRECTORYBOLT_")}
    env["DIRECTORYBOLT_DATABASE_URL"] = services.database_url  # the harness makes a scratch database beside it
    run = subprocess.run([sys.executable, "bench/faults.py", "--faults", "40", "--seed", "11", "--json",
                          "--jobs", "3", "--directories", "10", "--settle", "300"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=840)
    assert run.returncode in (0, 1), run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    print(json.dumps({k: v for k, v in result.items() if k != "violations"}))
    assert result["faults"] >= 40
    assert result["violations"] == [], result
    assert result["duplicates"] == 0 and result["submissions"] > 0
