"""Only one Beat runs the schedule: it holds a lock in Redis and renews it. A second
Beat started meanwhile waits in standby, and takes over within ``TTL_S`` once the
first one dies (its lock simply expires). A Beat that loses its lock exits, so two
never schedule at once."""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

LOCK_KEY = "dbolt:beat:lock"
TTL_S = 30
RENEW_S = 10

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


@contextmanager
def hold_beat_lock(*, poll_s: float = 2.0, max_wait_s: float | None = None) -> Iterator[str]:
    from directorybolt.store.services import redis_client

    client = redis_client()
    token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
    waited = 0.0
    while not client.set(LOCK_KEY, token, nx=True, ex=TTL_S):
        if waited == 0:
            log.warning("another beat holds the schedule (%s); standing by", client.get(LOCK_KEY))
        if max_wait_s is not None and waited >= max_wait_s:
            raise TimeoutError("beat lock not acquired")
        time.sleep(poll_s)
        waited += poll_s
    renew = client.register_script(_RENEW)
    stop = threading.Event()

    def keep() -> None:
        while not stop.wait(RENEW_S):
            try:
                if not renew(keys=[LOCK_KEY], args=[token, TTL_S * 1000]):
                    log.error("beat lock lost; exiting so two beats never run")
                    os._exit(3)
            except Exception as exc:  # Redis briefly away: keep trying until the TTL runs out
                log.warning("beat lock renewal failed: %s", exc)

    threading.Thread(target=keep, name="beat-lock", daemon=True).start()
    try:
        yield token
    finally:
        stop.set()
        if client.get(LOCK_KEY) == token.encode():
            client.delete(LOCK_KEY)
