"""Cluster-wide pacing: a minimum interval between two submissions to the same
directory, whichever worker on whichever machine sends them.

Written by hand as one Redis script because the well-kept limiters (``limits``)
count requests per whole-second window; what we need is a spacing in milliseconds
with the *slot reserved* atomically, using the Redis server's clock so workers
with skewed clocks still agree.
"""

from __future__ import annotations

from typing import Any

from directorybolt.core.settings import TierSpec, get_settings

# KEYS[1] = pacing key; ARGV = interval_ms, max_wait_ms. Returns wait_ms (>= 0) when a
# slot was reserved, or -wait_ms when the wait would exceed max_wait_ms (nothing reserved).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(now, last + interval)
local wait = slot - now
if wait > tonumber(ARGV[2]) then
  return -wait
end
redis.call('SET', KEYS[1], slot, 'PX', math.max(1, wait + interval * 2))
return wait
"""


def interval_ms(tier: TierSpec) -> int:
    s = get_settings()
    return max(int(s.base_pacing_ms * tier.pacing_multiplier), tier.pacing_floor_ms)


class Pacer:
    """Reserves the next free slot for a directory; the caller sleeps until it comes."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._script = client.register_script(_RESERVE)

    def reserve(self, directory_id: str, interval: int, *, max_wait_s: float) -> float:
        """Seconds to wait for our reserved slot; negative means "too long, come back
        later" (nothing reserved, the caller reschedules instead of blocking a worker)."""
        wait_ms = int(self._script(keys=[f"dbolt:pace:{directory_id}"], args=[interval, int(max_wait_s * 1000)]))
        return wait_ms / 1000.0
