"""Can this process launch the browser? One launch and close, with a deadline.

A worker whose browser cannot start must not take submissions (it would fail every
one of them): ``directorybolt worker``, ``up`` and ``demo`` call :func:`launch_check`
before consuming a submission queue and stop with :func:`one_line` when it fails; the
circuit breaker (:mod:`directorybolt.queueing.breaker`) probes with it, and
``directorybolt doctor`` reports its launch time.

The launch runs in a thread of its own: the Playwright driver and its event loop live
and die with that thread, so nothing of them is left in the calling thread (a worker's
main process forks its pool afterwards), and the caller waits at most the deadline
even when Chromium hangs.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from directorybolt.core.deadlines import run_within
from directorybolt.core.errors import BrowserUnavailable, first_line
from directorybolt.core.settings import get_settings
from directorybolt.execution.browser.pool import PLAYWRIGHT_OWN, launch

#: How a person gets a browser on this kind of machine (DESIGN.md: Debian's Chromium, or
#: Playwright's download where the network allows it).
INSTALL_HINT = ("install one with `apt-get install chromium` or `playwright install chromium`, "
                "or set DIRECTORYBOLT_CHROMIUM_PATH to a Chromium binary")

_passed = False


def passed() -> bool:
    """Whether a launch check already succeeded in this process (the CLI checks before it
    hands over to Celery, whose start-up hook then need not launch again)."""
    return _passed


def one_line(command: str, exc: BrowserUnavailable) -> str:
    """What ``command`` prints when it cannot start: the path tried and how to get a browser."""
    return f"directorybolt {command}: {exc}; {INSTALL_HINT}"


def _file_problem(path: str) -> str | None:
    """A reason the path cannot be a browser, found without launching anything."""
    p = Path(path)
    if not p.exists():
        return "no such file"
    if p.is_dir():
        return "a directory, not a program"
    if not os.access(p, os.X_OK):
        return "not executable"
    return None


def _launch_once(executable: str | None, timeout_s: float) -> float:
    from playwright.sync_api import sync_playwright

    t0 = time.perf_counter()
    with sync_playwright() as pw:
        browser = launch(pw, executable, timeout_s=timeout_s)
        took = time.perf_counter() - t0
        browser.close()
        return took


def launch_check(executable: str | None, timeout_s: float) -> float:
    """Launch and close the browser once; its launch time in seconds. Raises
    :class:`BrowserUnavailable` naming the path tried when it cannot, within ``timeout_s``
    (plus a few seconds for the driver)."""
    if executable:
        problem = _file_problem(executable)
        if problem:
            raise BrowserUnavailable(executable, problem)
    global _passed
    try:
        took = run_within(lambda: _launch_once(executable, timeout_s), timeout_s + 5,
                          name="directorybolt-browser-check")
    except BrowserUnavailable:
        raise
    except Exception as exc:  # a hung or failing driver: still this worker's browser
        raise BrowserUnavailable(executable or PLAYWRIGHT_OWN, first_line(exc, 200)) from None
    _passed = True
    return took


def exit_unless_launchable(command: str) -> float:
    """For a process about to consume submission queues: the launch time, or one line on
    stderr (the path tried, how to get a browser) and exit status 2, before anything
    is consumed."""
    s = get_settings()
    try:
        return launch_check(s.resolved_chromium(), s.browser_launch_timeout_s)
    except BrowserUnavailable as exc:
        print(one_line(command, exc), file=sys.stderr, flush=True)
        raise SystemExit(2) from None
