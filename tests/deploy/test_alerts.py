"""The alert rules and the Grafana dashboard: valid for Prometheus, firing when they
should (promtool unit tests on synthetic series), and using only metric names the
API actually exports."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import required_tool

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "docs/prometheus/alerts.yml"
PROMETHEUS = ROOT / "docs/prometheus/prometheus.yml"
DASHBOARD = ROOT / "docs/grafana/directorybolt.json"

#: The contract of GET /api/metrics (docs/api.md): base names as exposed.
EXPORTED = {
    "directorybolt_http_requests_total": "counter",
    "directorybolt_http_request_duration_seconds": "histogram",
    "directorybolt_queue_depth": "gauge",
    "directorybolt_dlq_depth": "gauge",
    "directorybolt_jobs": "gauge",
    "directorybolt_jobs_finished_total": "counter",
    "directorybolt_submissions_total": "counter",
    "directorybolt_submission_errors_total": "counter",
    "directorybolt_workers": "gauge",
    "directorybolt_job_duration_seconds": "gauge",
    "directorybolt_review_open": "gauge",
    "directorybolt_review_oldest_seconds": "gauge",
    "directorybolt_review_turnaround_seconds": "gauge",
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
NAME = re.compile(r"\bdirectorybolt_[a-z0-9_]+")


def promtool() -> str:
    return required_tool("promtool", "prometheus")


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"promtool {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def alert_exprs() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text())
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dash["panels"] for t in p.get("targets", []) if t.get("expr")]


def test_promtool_checks_rules_and_config(tmp_path):
    out = run_promtool("check", "rules", str(ALERTS)).stdout
    assert "SUCCESS" in out
    # The scrape reads the metrics token from a file the compose stack writes at start.
    config = yaml.safe_load(PROMETHEUS.read_text())
    auth = config["scrape_configs"][0]["authorization"]
    assert auth["type"] == "Bearer" and auth["credentials_file"] == "/prometheus/metrics-token"
    (tmp_path / "token").write_text("t")
    auth["credentials_file"] = str(tmp_path / "token")
    (tmp_path / "alerts.yml").write_text(ALERTS.read_text())
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    run_promtool("check", "config", str(tmp_path / "prometheus.yml"))


def test_every_dashboard_query_parses(tmp_path):
    """promtool has no bare expression check, so each panel query becomes a recording rule."""
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:panel_{i}", "expr": e} for i, e in enumerate(dashboard_exprs())]}]}
    f = tmp_path / "dashboard-rules.yml"
    f.write_text(yaml.safe_dump(rules))
    run_promtool("check", "rules", str(f))


def test_rules_cover_what_the_operators_asked_for():
    rules = {r["alert"]: r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"] if "alert" in r}
    assert rules["DirectoryBoltQueueBacklog"]["for"] == "10m" and "> 100" in rules["DirectoryBoltQueueBacklog"]["expr"]
    assert "[15m]" in rules["DirectoryBoltSubmissionErrorRate"]["expr"]
    assert "> 0.10" in rules["DirectoryBoltSubmissionErrorRate"]["expr"]
    assert rules["DirectoryBoltWorkersDown"]["for"] == "5m" and rules["DirectoryBoltMetricsDown"]["for"] == "5m"
    assert rules["DirectoryBoltAllSubmissionWorkersDegraded"]["for"] == "2m"
    assert rules["DirectoryBoltAllSubmissionWorkersDegraded"]["labels"]["severity"] == "critical"
    assert 'state="degraded"' in rules["DirectoryBoltAllSubmissionWorkersDegraded"]["expr"]
    assert rules["DirectoryBoltWorkerDegraded"]["for"] == "10m"
    assert "directorybolt_dlq_depth > 0" in rules["DirectoryBoltDeadLetters"]["expr"]
    overdue = rules["DirectoryBoltEnterpriseReviewOverdue"]["expr"]
    assert 'directorybolt_review_oldest_seconds{tier="enterprise"}' in overdue


SCRAPE = 'job="directorybolt-api", instance="api:8000"'


def _series(name: str, labels: str, values: str) -> dict[str, str]:
    return {"series": f"{name}{{{SCRAPE}{', ' + labels if labels else ''}}}", "values": values}


def _expect(alert: str, at: str, fired: list[dict[str, str]]) -> dict:
    return {"eval_time": at, "alertname": alert, "exp_alerts": [{"exp_labels": labels} for labels in fired]}


def test_alerts_fire_on_synthetic_series(tmp_path):
    """promtool's rule unit tests: each alert fires on a bad series, after its `for`,
    and stays quiet on a healthy one."""
    scrape = {"job": "directorybolt-api", "instance": "api:8000"}
    tests = [
        {   # backlog: 150 waiting on starter (fires after 10 m); the dead-letter queue is not a backlog
            "interval": "1m",
            "input_series": [
                _series("directorybolt_queue_depth", 'queue="submissions.starter"', "150x30"),
                _series("directorybolt_queue_depth", 'queue="submissions.pro"', "30x30"),
                _series("directorybolt_queue_depth", 'queue="dead_letter"', "500x30"),
            ],
            "alert_rule_test": [
                _expect("DirectoryBoltQueueBacklog", "5m", []),
                _expect("DirectoryBoltQueueBacklog", "15m",
                        [{"severity": "warning", "queue": "submissions.starter"}]),
            ],
        },
        {   # error rate: 2 failed per 10 submitted per minute = 17 % -> fires
            "interval": "1m",
            "input_series": [
                _series("directorybolt_submissions_total", 'outcome="failed"', "0+2x40"),
                _series("directorybolt_submissions_total", 'outcome="submitted"', "0+10x40"),
                _series("directorybolt_submissions_total", 'outcome="pending"', "500x40"),
            ],
            "alert_rule_test": [_expect("DirectoryBoltSubmissionErrorRate", "30m", [{"severity": "critical"}])],
        },
        {   # error rate: 1 failed per 20 submitted = 5 % -> quiet
            "interval": "1m",
            "input_series": [
                _series("directorybolt_submissions_total", 'outcome="failed"', "0+1x40"),
                _series("directorybolt_submissions_total", 'outcome="submitted"', "0+20x40"),
            ],
            "alert_rule_test": [_expect("DirectoryBoltSubmissionErrorRate", "30m", [])],
        },
        {   # error rate on a trickle (1 of 2 failed) does not page anyone
            "interval": "5m",
            "input_series": [
                _series("directorybolt_submissions_total", 'outcome="failed"', "0+1x12"),
                _series("directorybolt_submissions_total", 'outcome="submitted"', "0+1x12"),
            ],
            "alert_rule_test": [_expect("DirectoryBoltSubmissionErrorRate", "50m", [])],
        },
        {   # a worker stops heartbeating at 10 m: expected 2, seen 1 -> fires after 5 m
            "interval": "1m",
            "input_series": [_series("directorybolt_workers", 'role="submissions", state="ok"', "2x9 1x20"),
                             _series("directorybolt_workers", 'role="submissions", state="degraded"', "0x30")],
            "alert_rule_test": [
                _expect("DirectoryBoltWorkersDown", "12m", []),
                _expect("DirectoryBoltWorkersDown", "17m", [{"severity": "critical", **scrape}]),
            ],
        },
        {   # the only submission worker's browser stops launching at 5 m: degraded, none ok
            "interval": "1m",
            "input_series": [_series("directorybolt_workers", 'role="submissions", state="ok"', "2x4 0x20"),
                             _series("directorybolt_workers", 'role="submissions", state="degraded"', "0x4 2x20"),
                             _series("directorybolt_workers", 'role="maintenance", state="ok"', "1x25")],
            "alert_rule_test": [
                _expect("DirectoryBoltAllSubmissionWorkersDegraded", "6m", []),
                _expect("DirectoryBoltAllSubmissionWorkersDegraded", "8m", [{"severity": "critical", **scrape}]),
                _expect("DirectoryBoltWorkerDegraded", "14m", []),
                _expect("DirectoryBoltWorkerDegraded", "16m", [{"severity": "warning", **scrape}]),
            ],
        },
        {   # one of two submission workers degraded: the others carry the load, no page
            "interval": "1m",
            "input_series": [_series("directorybolt_workers", 'role="submissions", state="ok"', "2x20"),
                             _series("directorybolt_workers", 'role="submissions", state="degraded"', "1x20")],
            "alert_rule_test": [_expect("DirectoryBoltAllSubmissionWorkersDegraded", "10m", [])],
        },
        {   # the API cannot be scraped at all
            "interval": "1m",
            "input_series": [{"series": f"up{{{SCRAPE}}}", "values": "0x10"}],
            "alert_rule_test": [_expect("DirectoryBoltMetricsDown", "7m",
                                        [{"severity": "critical", **scrape}, {"severity": "critical"}])],
        },
        {   # one dead letter
            "interval": "1m",
            "input_series": [_series("directorybolt_dlq_depth", "", "0x3 1x5")],
            "alert_rule_test": [
                _expect("DirectoryBoltDeadLetters", "2m", []),
                _expect("DirectoryBoltDeadLetters", "6m", [{"severity": "warning", **scrape}]),
            ],
        },
        {   # an enterprise review item passes its 8 h turnaround at 30 m (7.5 h old at 0 m);
            # a starter item far older than 8 h is within its own 7-day promise
            "interval": "1m",
            "input_series": [
                _series("directorybolt_review_oldest_seconds", 'tier="enterprise"', "27000+60x90"),
                _series("directorybolt_review_turnaround_seconds", 'tier="enterprise"', "28800x90"),
                _series("directorybolt_review_oldest_seconds", 'tier="starter"', "90000x90"),
                _series("directorybolt_review_turnaround_seconds", 'tier="starter"', "604800x90"),
            ],
            "alert_rule_test": [
                _expect("DirectoryBoltEnterpriseReviewOverdue", "20m", []),
                _expect("DirectoryBoltEnterpriseReviewOverdue", "60m",
                        [{"severity": "critical", "tier": "enterprise", **scrape}]),
            ],
        },
    ]
    # promtool compares annotations too; the wording is not under test, the firing is.
    rules = yaml.safe_load(ALERTS.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    bare = tmp_path / "alerts.yml"
    bare.write_text(yaml.safe_dump(rules))
    spec = tmp_path / "alerts_test.yml"
    spec.write_text(yaml.safe_dump({"rule_files": [str(bare)], "evaluation_interval": "1m", "tests": tests}))
    proc = subprocess.run([promtool(), "test", "rules", "--run", ".*", str(spec)], capture_output=True, text=True,
                          timeout=60)
    if proc.returncode != 0 and "--run" in proc.stderr:  # older promtool without --run
        proc = subprocess.run([promtool(), "test", "rules", str(spec)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def referenced_names() -> dict[str, set[str]]:
    return {
        "docs/prometheus/alerts.yml": {n for e in alert_exprs() for n in NAME.findall(e)},
        "docs/grafana/directorybolt.json": {n for e in dashboard_exprs() for n in NAME.findall(e)},
    }


def base_name(name: str) -> str:
    for suffix in HISTOGRAM_SUFFIXES:
        stem = name.removesuffix(suffix)
        if stem != name and EXPORTED.get(stem) == "histogram":
            return stem
    return name


def test_only_contract_metric_names_are_used():
    refs = referenced_names()
    used = set().union(*refs.values())
    assert {"directorybolt_queue_depth", "directorybolt_submissions_total", "directorybolt_dlq_depth",
            "directorybolt_workers"} <= refs["docs/prometheus/alerts.yml"]
    assert {base_name(n) for n in refs["docs/grafana/directorybolt.json"]} == set(EXPORTED), \
        "the dashboard shows every exported metric"
    unknown = {n for n in used if base_name(n) not in EXPORTED}
    assert not unknown, f"not in the /api/metrics contract: {sorted(unknown)}"


def exposed_sample_names(text: str) -> set[str]:
    """Every sample name a scrape can contain, from the families' declared types (a
    labelled family with no children yet exposes its type but no sample)."""
    from prometheus_client.parser import text_string_to_metric_families

    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        if family.type == "counter":
            names |= {f"{family.name}_total", f"{family.name}_created"}
        elif family.type == "histogram":
            names |= {family.name, *(family.name + s for s in (*HISTOGRAM_SUFFIXES, "_created"))}
        else:
            names.add(family.name)
        names |= {s.name for s in family.samples}
    return names


def test_referenced_names_are_really_exported(clean):
    if importlib.util.find_spec("directorybolt.api.metrics") is None:
        pytest.skip("directorybolt.api.metrics does not exist yet")
    from prometheus_client import generate_latest

    from directorybolt.api.metrics import build_registry

    exposed = exposed_sample_names(generate_latest(build_registry()).decode())
    missing = {n for names in referenced_names().values() for n in names if n not in exposed}
    assert not missing, f"referenced but not exported by /api/metrics: {sorted(missing)}"
    assert {n for n in EXPORTED if n not in exposed} == set(), "the contract list matches the exporter"
