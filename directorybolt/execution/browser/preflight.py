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
import threading
import time
from pathlib import Path

from directorybolt.core.errors import BrowserUnavailable
from directorybolt.execution.browser.pool import CHROMIUM_ARGS, PLAYWRIGHT_OWN, launch_failure

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
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    label = executable or PLAYWRIGHT_OWN
    t0 = time.perf_counter()
    try:
        with sync_playwright() as pw:
            kwargs: dict[str, object] = {"headless": True, "args": CHROMIUM_ARGS, "timeout": timeout_s * 1000}
            if executable:
                kwargs["executable_path"] = executable
            browser = pw.chromium.launch(**kwargs)  # type: ignore[arg-type]
            took = time.perf_counter() - t0
            browser.close()
            return took
    except PlaywrightError as exc:
        raise launch_failure(label, exc) from None


def launch_check(executable: str | None, timeout_s: float) -> float:
    """Launch and close the browser once; its launch time in seconds. Raises
    :class:`BrowserUnavailable` naming the path tried when it cannot, within ``timeout_s``
    (plus a few seconds for the driver)."""
    if executable:
        problem = _file_problem(executable)
        if problem:
            raise BrowserUnavailable(executable, problem)
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["took"] = _launch_once(executable, timeout_s)
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="directorybolt-browser-check", daemon=True)
    thread.start()
    thread.join(timeout_s + 5)
    if thread.is_alive():
        raise BrowserUnavailable(executable or PLAYWRIGHT_OWN, f"no answer within {timeout_s:.0f} s")
    global _passed
    error = outcome.get("error")
    if isinstance(error, BrowserUnavailable):
        raise error
    if isinstance(error, BaseException):
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise BrowserUnavailable(executable or PLAYWRIGHT_OWN, first)
    _passed = True
    return float(outcome["took"])  # type: ignore[arg-type]
