"""The pool grows with the broker backlog and shrinks back when the queue is empty,
without flapping in between: the rule on sequences of depths, then a real worker."""

from __future__ import annotations

import pytest

from directorybolt.core.queues import tier_queue
from directorybolt.queueing.autoscale import QueueDepthAutoscaler, ScalingRule
from directorybolt.queueing.celery_app import app
from directorybolt.queueing.redis_layout import priority_keys, queue_depth
from directorybolt.store.services import redis_client
from tests.conftest import wait_until

RULE = ScalingRule(up_depth=50, down_depth=10, cooldown_s=60, up_step=2, down_step=1)


def simulate(depths: list[int], *, lo: int = 1, hi: int = 10, start: int | None = None,
             step_s: float = 5.0) -> list[int]:
    """Feed one depth per poll (every ``step_s``) through the rule the way the autoscaler
    does; return the pool size after each poll."""
    procs, last_change, low_since, sizes = start or lo, -1e9, None, []
    for i, depth in enumerate(depths):
        now = i * step_s
        low_since = (now if low_since is None else low_since) if depth < RULE.down_depth else None
        target = RULE.next_size(procs, depth, lo=lo, hi=hi, since_change_s=now - last_change,
                                low_for_s=0.0 if low_since is None else now - low_since)
        if target != procs:
            procs, last_change = target, now
        sizes.append(procs)
    return sizes


def test_backlog_grows_pool_in_steps_up_to_max():
    sizes = simulate([500] * 100)
    assert sizes[0] == 3 and max(sizes) == 10
    changes = [i for i in range(1, len(sizes)) if sizes[i] != sizes[i - 1]]
    assert all(b - a >= 12 for a, b in zip(changes, changes[1:], strict=False)), "one change per 60 s cooldown"


def test_hysteresis_band_holds_and_oscillating_depth_never_flaps():
    assert simulate([30] * 50, lo=4) == [4] * 50, "between the thresholds the pool holds"
    # Depth swinging across both thresholds every poll: each low spell is too short to shrink.
    sizes = simulate([80, 5] * 60)
    assert sizes == sorted(sizes), "only ever grows while the backlog keeps coming back"
    downs = sum(1 for a, b in zip(sizes, sizes[1:], strict=False) if b < a)
    assert downs == 0


def test_sustained_empty_queue_shrinks_one_at_a_time_to_min():
    sizes = simulate([0] * 200, lo=1, hi=10, start=10)
    assert sizes[:12] == [10] * 12, "nothing shrinks before the low backlog lasted a cooldown"
    assert all(a - b in (0, 1) for a, b in zip(sizes, sizes[1:], strict=False)), "one process at a time"
    assert sizes[-1] == 1
    assert simulate([0] * 50, lo=2, hi=10, start=2) == [2] * 50, "never below MIN"


def test_worker_bounds_narrow_the_settings(settings_env):
    settings_env(autoscale_min=2, autoscale_max=8)

    class Pool:
        num_processes = 1

    scaler = QueueDepthAutoscaler(Pool(), 4, 1)
    assert scaler.bounds == (2, 4)
    settings_env(autoscale_min=1, autoscale_max=3)
    assert QueueDepthAutoscaler(Pool(), 6, 1).bounds == (1, 3)


def test_misordered_thresholds_are_refused(settings_env):
    settings_env(autoscale_up_depth=5, autoscale_down_depth=20)
    with pytest.raises(ValueError, match="hysteresis"):
        QueueDepthAutoscaler(object(), 4, 1)


def test_depth_counts_every_kombu_priority_list(clean):
    client = redis_client()
    q = tier_queue("starter")
    for i, key in enumerate(priority_keys(q)):
        client.rpush(key, *[b"m"] * (i + 1))
    assert queue_depth(client, [q, tier_queue("pro")]) == 1 + 2 + 3 + 4


def test_autoscale_is_the_configured_autoscaler():
    assert app.conf.worker_autoscaler == "directorybolt.queueing.autoscale:QueueDepthAutoscaler"


def _live(pids: list[int]) -> int:
    import psutil

    n = 0
    for pid in pids:
        try:
            n += psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            pass
    return n


@pytest.mark.slow
def test_real_worker_grows_on_backlog_and_shrinks_when_empty(clean, settings_env, start_worker):
    from tests.queueing.autoscale_tasks import busy

    settings_env(autoscale_up_depth=5, autoscale_down_depth=2, autoscale_cooldown_s=1)
    q = tier_queue("starter")
    w = start_worker(queues=[q], extra=["--autoscale", "4,1", "-I", "tests.queueing.autoscale_tasks"])
    assert _live(w.children()) == 1, "starts at MIN"
    for _ in range(60):
        busy.apply_async(args=[0.5], queue=q)
    grown = wait_until(lambda: (n := _live(w.children())) >= 2 and n, 30, what="pool to grow")
    peak = max(grown, wait_until(lambda: _live(w.children()) >= 3 and _live(w.children()), 30, what="pool at 3+"))
    assert peak <= 4, "MAX of --autoscale bounds the pool"
    wait_until(lambda: queue_depth(redis_client(), [q]) == 0, 60, what="backlog drained")
    wait_until(lambda: _live(w.children()) == 1, 60, what="pool to shrink back to 1")
    log = w.log.read_text()
    print(f"pool grew to {peak} processes on a backlog of 60, shrank back to 1")
    assert "autoscale: backlog" in log and "growing 1 -> 3" in log and "shrinking" in log
