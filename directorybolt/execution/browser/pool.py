"""One Chromium per worker process, a fresh context per submission.

Launching a browser costs more than the directory page itself (DESIGN.md: ~250 ms
launch vs ~145 ms for a context), so the browser is reused and the next context is
prepared as soon as the previous one is closed, while the worker waits for its next
task. The pool starts lazily in the process that uses it (Playwright does not survive
a fork) and relaunches after ``recycle_after`` submissions or a crash.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from directorybolt.core.errors import BrowserCrashed, BrowserUnavailable, first_line
from directorybolt.core.settings import get_settings
from directorybolt.execution.browser import egress

log = logging.getLogger(__name__)

#: Keeps a closed network quiet and lets Chromium run as root in containers.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--no-first-run",
    # WebRTC would send UDP around the request filter (browser/egress.py).
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
]

PLAYWRIGHT_OWN = "Playwright's own Chromium"

_MISSING = re.compile(r"[Ee]xecutable doesn't exist at (\S+)")
_EXIT = re.compile(r"exitCode=(\d+)")


def launch_failure(label: str, exc: BaseException) -> BrowserUnavailable:
    """A launch error as one short reason and the path tried (Playwright names the
    path it looked for when its own download is missing)."""
    message = str(exc)
    missing = _MISSING.search(message)
    if missing:
        return BrowserUnavailable(missing.group(1), "no such file")
    code = _EXIT.search(message)
    if code:
        return BrowserUnavailable(label, f"it exited with code {code.group(1)} at start")
    first = first_line(exc, 1000).removeprefix("BrowserType.launch: ")
    if "has been closed" in first:
        return BrowserUnavailable(label, "it exited at start")
    return BrowserUnavailable(label, first[:200])


def launch(pw: Any, executable: str | None, *, timeout_s: float, headless: bool = True) -> Any:
    """Chromium with our flags, within ``timeout_s``; :class:`BrowserUnavailable` when it
    does not start (a fault of this worker, which the breaker counts, never of the
    directory)."""
    from playwright.sync_api import Error as PlaywrightError

    kwargs: dict[str, Any] = {"headless": headless, "args": CHROMIUM_ARGS, "timeout": timeout_s * 1000}
    if executable:
        kwargs["executable_path"] = executable
    try:
        return pw.chromium.launch(**kwargs)
    except PlaywrightError as exc:
        raise launch_failure(executable or PLAYWRIGHT_OWN, exc) from None


class BrowserPool:
    def __init__(
        self,
        *,
        executable: str | None = None,
        recycle_after: int = 100,
        prepared: int = 1,
        headless: bool = True,
        launch_timeout_s: float = 20.0,
    ) -> None:
        self.executable = executable
        self.launch_timeout_s = launch_timeout_s
        self.recycle_after = recycle_after
        self.prepared = prepared
        self.headless = headless
        self._pw: Any = None
        self._browser: Any = None
        self._spare: list[tuple[Any, Any]] = []
        self._used = 0
        self.launches = 0

    @classmethod
    def from_settings(cls) -> BrowserPool:
        s = get_settings()
        return cls(
            executable=s.resolved_chromium(), recycle_after=s.browser_recycle_after, prepared=s.prepared_contexts,
            launch_timeout_s=s.browser_launch_timeout_s,
        )

    def _launch(self) -> None:
        from playwright.sync_api import sync_playwright

        if self._pw is None:
            self._pw = sync_playwright().start()
        self._browser = launch(self._pw, self.executable, timeout_s=self.launch_timeout_s, headless=self.headless)
        self._used = 0
        self.launches += 1
        log.info("browser launched (%s)", self.executable or "playwright chromium")

    def _browser_ok(self) -> bool:
        return self._browser is not None and self._browser.is_connected()

    def _new_page(self) -> tuple[Any, Any]:
        context = self._browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
        egress.guard(context)
        page = context.new_page()
        return context, page

    def prepare(self) -> None:
        """Open contexts ahead of need so a submission starts navigating at once."""
        if not self._browser_ok() or self._used >= self.recycle_after:
            self._restart()
        while len(self._spare) < self.prepared:
            self._spare.append(self._new_page())

    def _restart(self) -> None:
        self._close_browser()
        self._launch()

    @contextmanager
    def page(self) -> Iterator[Any]:
        """A page in a context of its own, closed in ``finally`` whatever happens."""
        from playwright.sync_api import Error as PlaywrightError

        try:
            if not self._browser_ok() or self._used >= self.recycle_after:
                self._restart()
            context, page = self._spare.pop(0) if self._spare else self._new_page()
        except PlaywrightError as exc:
            self._close_browser()
            raise BrowserCrashed(f"browser could not open a page: {str(exc).splitlines()[0]}") from exc
        self._used += 1
        try:
            yield page
        except PlaywrightError as exc:
            if not self._browser_ok():
                raise BrowserCrashed(f"browser crashed: {str(exc).splitlines()[0]}") from exc
            raise
        finally:
            with suppress(PlaywrightError):
                context.close()

    def _close_browser(self) -> None:
        for context, _ in self._spare:
            try:
                context.close()
            except Exception:  # a dead browser's contexts cannot be closed
                pass
        self._spare.clear()
        if self._browser is not None:
            with suppress(Exception):
                self._browser.close()
        self._browser = None

    def close(self) -> None:
        self._close_browser()
        if self._pw is not None:
            with suppress(Exception):
                self._pw.stop()
            self._pw = None


_pool: BrowserPool | None = None


def get_pool() -> BrowserPool:
    global _pool
    if _pool is None:
        _pool = BrowserPool.from_settings()
    return _pool


def close_pool() -> None:
    global _pool
    if _pool is not None:
        _pool.close()
        _pool = None

