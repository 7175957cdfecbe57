"""A newcomer without Chromium: the demo (and ``up``) say what to install in seconds,
before starting anything, instead of failing every directory four times."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from directorybolt.execution.browser.preflight import INSTALL_HINT
from tests.conftest import ROOT

NO_BROWSER = "/nonexistent"


def _fresh_machine_env(state_dir: Path) -> dict[str, str]:
    """No services configured (the embedded default) and no browser."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIRECTORYBOLT_")}
    env.update(DIRECTORYBOLT_STATE_DIR=str(state_dir), DIRECTORYBOLT_CHROMIUM_PATH=NO_BROWSER)
    return env


@pytest.mark.parametrize("command", ["demo", "up"])
def test_without_a_browser_exits_2_in_under_5_s_with_the_install_hint(command, tmp_path):
    state_dir = tmp_path / "state"
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "directorybolt", command], cwd=ROOT,
                          env=_fresh_machine_env(state_dir), capture_output=True, text=True, timeout=60)
    took = time.monotonic() - t0
    print(f"{command} without a browser: exit {proc.returncode} after {took:.2f} s: {proc.stderr.strip()}")
    assert proc.returncode == 2
    assert took < 5, f"{command} took {took:.1f} s to say there is no browser"
    assert proc.stderr.strip() == (f"directorybolt {command}: cannot launch the browser at {NO_BROWSER} "
                                   f"(no such file); {INSTALL_HINT}")
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert "apt-get install chromium" in proc.stderr and "DIRECTORYBOLT_CHROMIUM_PATH" in proc.stderr
    assert not state_dir.exists() or not any(state_dir.iterdir()), "nothing was started (no embedded servers)"
