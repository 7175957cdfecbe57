"""Probe 10: /api/metrics needs the metrics token or a staff key, and a scrape serves
a snapshot instead of running the aggregates (the cost on 1,000,000 rows is measured
by bench/metrics_scrape.py, figures in docs/benchmarks.md)."""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, generate_latest

from directorybolt.api.metrics import SystemOfRecordCollector
from tests.api.conftest import METRICS_AUTH, Keys


def test_metrics_need_the_token_or_a_staff_key(api, keys):
    with api.client() as c:
        anonymous = c.get("/api/metrics")
        wrong = c.get("/api/metrics", headers={"Authorization": "Bearer not-the-token"})
        producer = c.get("/api/metrics", headers=Keys.bearer(keys.producer))
        staff = c.get("/api/metrics", headers=Keys.bearer(keys.staff))
        token = c.get("/api/metrics", headers=METRICS_AUTH)
    assert anonymous.status_code == 401 and wrong.status_code == 401 and producer.status_code == 403
    assert staff.status_code == 200 and token.status_code == 200
    assert "directorybolt_metrics_snapshot_age_seconds" in token.text and "directorybolt_jobs" in token.text


def test_scrapes_serve_a_snapshot_refreshed_in_the_background(clean, monkeypatch):
    reads = []
    collector = SystemOfRecordCollector(ttl_s=0.5, wait_s=30)
    original = collector.read_now
    monkeypatch.setattr(collector, "read_now", lambda: reads.append(1) or original())
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    generate_latest(registry)  # the first scrape waits for the first snapshot
    for _ in range(20):
        generate_latest(registry)
    assert len(reads) == 1  # 21 scrapes, one read of the sources
    time.sleep(0.6)
    generate_latest(registry)  # stale: served, and a refresh starts behind it
    deadline = time.monotonic() + 10
    while len(reads) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(reads) == 2
