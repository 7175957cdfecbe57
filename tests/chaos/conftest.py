"""Chaos fixtures: many sandbox directories, Beat running the real schedule, short thresholds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from directorybolt.cli import seed
from tests.conftest import ROOT
from tests.execution.conftest import FAST

CHAOS = {**FAST, "stale_after_s": 10, "sweep_interval_s": 3, "heartbeat_interval_s": 1, "death_confirm_s": 2}
MANY = [f"plain-{i}" for i in range(1, 21)] + ["plain", "select", "catalogstyle", "wizard"]


@pytest.fixture
def chaos_catalog(clean, settings_env, sandbox) -> list[str]:
    settings_env(**CHAOS)
    httpx.delete(f"{sandbox.url}/_submissions")
    seed.seed_sandbox(sandbox.url, clones=20)
    return MANY


@pytest.fixture
def beat(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = open(tmp_path / "beat.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "directorybolt", "beat"], cwd=ROOT, env=dict(os.environ),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    yield proc
    os.killpg(proc.pid, signal.SIGTERM)
    proc.wait(20)
