"""Deadlines for blocking client calls to a dependency that may hang rather than die.

A Redis that is SIGSTOPped still accepts TCP connections (the kernel completes the
handshake), so a client waits on its socket timeout, and a server whose request
threads all wait so is down for every route. :class:`BoundedCalls` runs such calls
in a few threads of its own, never the caller's pool, waits for each at most its
deadline, and after a failure opens a breaker: for ``cooldown_s`` every call fails at
once with ServiceUnavailable, without touching the dependency. A call abandoned at
its deadline keeps its thread until the client's own socket timeout; the breaker and
the small pool bound how many can pile up.

Written here rather than taken from a circuit-breaker package because the deadline,
not the failure count, is the point, and both the sync (intake) and the asyncio
(API) callers need it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from directorybolt.core.errors import DirectoryBoltError, ServiceUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)
#: How often a waiting call looks whether another call has tripped the breaker, so a
#: pile of calls queued on a hung dependency fails together, not one deadline each.
POLL_S = 0.05


class Breaker:
    """Open for ``cooldown_s`` after a failure; closed again by the next success."""

    def __init__(self, name: str, cooldown_s: float) -> None:
        self.name = name
        self.cooldown_s = cooldown_s
        self._open_until = 0.0

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self._open_until

    def check(self) -> None:
        wait = self._open_until - time.monotonic()
        if wait > 0:
            raise ServiceUnavailable(f"{self.name} did not answer a moment ago; not trying again for {wait:.1f} s")

    def trip(self, cause: BaseException | str) -> None:
        if not self.is_open:
            log.warning("%s unavailable, failing fast for %.1f s: %s", self.name, self.cooldown_s, cause)
        self._open_until = time.monotonic() + self.cooldown_s

    def reset(self) -> None:
        self._open_until = 0.0


class BoundedCalls:
    """Blocking calls to one dependency, each with a deadline, through a breaker."""

    def __init__(self, name: str, *, timeout_s: float, cooldown_s: float, threads: int = 4) -> None:
        self.name = name
        self.timeout_s = timeout_s
        self.breaker = Breaker(name, cooldown_s)
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        self.breaker.check()
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix=f"bounded-{self.name}")
            return self._pool.submit(fn, *args)

    def _failed(self, future: Future[Any], cause: BaseException | str) -> ServiceUnavailable:
        future.cancel()  # still queued behind hung calls: never run it
        self.breaker.trip(cause)
        return ServiceUnavailable(f"{self.name} did not answer in time; retry shortly")

    def call(self, fn: Callable[..., T], *args: Any, timeout_s: float | None = None) -> T:
        """``fn(*args)`` within the deadline. A missed deadline raises ServiceUnavailable;
        other exceptions propagate, and trip the breaker unless they are the library's
        own answers (DirectoryBoltError: not found, conflict…)."""
        future = self._submit(fn, *args)
        deadline = time.monotonic() + (timeout_s or self.timeout_s)
        try:
            while True:
                try:
                    result = future.result(max(0.0, min(POLL_S, deadline - time.monotonic())))
                    break
                except FutureTimeout:
                    if self.breaker.is_open:  # another call already found the dependency hung
                        future.cancel()
                        raise ServiceUnavailable(f"{self.name} did not answer in time; retry shortly") from None
                    if time.monotonic() >= deadline:
                        raise
        except FutureTimeout:
            raise self._failed(future, f"no answer in {timeout_s or self.timeout_s} s") from None
        except DirectoryBoltError:  # an answer (not found, conflict…): the dependency is up
            raise
        except Exception as exc:
            self.breaker.trip(exc)
            raise
        self.breaker.reset()
        return result

    async def acall(self, fn: Callable[..., T], *args: Any, timeout_s: float | None = None) -> T:
        """As :meth:`call`, awaited: the event loop and the server's thread pool stay free."""
        future = self._submit(fn, *args)
        try:
            result = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout_s or self.timeout_s)
        except TimeoutError:
            raise self._failed(future, f"no answer in {timeout_s or self.timeout_s} s") from None
        except DirectoryBoltError:
            raise
        except Exception as exc:
            self.breaker.trip(exc)
            raise
        self.breaker.reset()
        return result

    def shutdown(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None


def run_within(fn: Callable[[], T], timeout_s: float, *, name: str) -> T:
    """``fn()`` in a daemon thread of its own, waited for at most ``timeout_s``: its
    result, its exception re-raised here, or :class:`TimeoutError`. For one-shot checks
    (a browser launch, a doctor check) whose client may hang; at the deadline the
    thread is abandoned, and whatever it holds (a Playwright driver) stays in it."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=name, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {timeout_s:.0f} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]
