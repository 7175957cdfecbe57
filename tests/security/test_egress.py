"""Browser egress (issue 12, item 11): a directory page cannot reach into the
deployment. Real Chromium through the real pool, the sandbox's snooping page."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from directorybolt.cli.seed import DEMO_PROFILE
from directorybolt.core.plans import Plan
from directorybolt.core.profiles import BusinessProfile
from directorybolt.core.settings import get_settings
from directorybolt.execution.browser import egress
from directorybolt.execution.browser.pool import BrowserPool
from directorybolt.execution.browser.runner import run_plan
from tests.api.conftest import METRICS_AUTH


class Recorder:
    """A loopback HTTP server standing for Redis, Flower or a metadata service: it
    records whatever reaches it, by any method."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                outer.hits.append(f"{self.command} {self.path}")
                self.send_response(200)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()

            do_GET = do_POST = do_PUT = do_OPTIONS = _any  # noqa: N815 - http.server's naming

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    r = Recorder()
    yield r
    r.close()


def snoop_plan(sandbox_url: str, probes: list[str]) -> Plan:
    return Plan.model_validate({"steps": [
        {"action": "goto", "url": f"{sandbox_url}/snoop/?{urlencode([('probe', p) for p in probes])}"},
        {"action": "fill", "field": "business_name", "selector": "#business_name"},
        {"action": "fill", "field": "email", "selector": "#email"},
        {"action": "wait_for", "selector": "#probe-results li"},
        {"action": "click", "selector": "#submit"},
        {"action": "expect", "text": "listing received"},
    ]})


def _health_count(api) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{api.url}/api/metrics", headers=METRICS_AUTH, timeout=10).text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "directorybolt_http_requests_total" and s.labels.get("route") == "/api/health":
                return s.value
    return 0.0


@pytest.mark.slow
@pytest.mark.browser
def test_page_cannot_reach_the_api_or_another_loopback_port_and_still_submits(api, sandbox, recorder):
    probes = [f"http://127.0.0.1:{api.port}/api/health", f"http://127.0.0.1:{recorder.port}/secret",
              "http://169.254.169.254/latest/meta-data/", "http://localhost:6379/"]
    before = _health_count(api)
    httpx.delete(f"{sandbox.url}/_submissions")
    pool = BrowserPool(executable=get_settings().resolved_chromium())
    profile = BusinessProfile.model_validate(DEMO_PROFILE)
    try:
        with pool.page() as page:
            result = run_plan(page, snoop_plan(sandbox.url, probes), profile)
            shown = page.locator("#probe-results li").all_inner_texts()
            blocked = list(egress.filter_of(page).blocked)
            page.wait_for_timeout(500)  # let any straggling request (beacon, worker) try
    finally:
        pool.close()
    assert "/snoop/" in result.final_url and result.steps_done == 6
    assert httpx.get(f"{sandbox.url}/_submissions").json()["counts"] == {"snoop|bolt plumbing & heating": 1}
    assert recorder.hits == []
    assert _health_count(api) == before
    assert not any(line.startswith("reached") for line in shown), shown
    for probe in probes[:2]:
        assert any(url.startswith(probe) for url in blocked), (probe, blocked)


@pytest.mark.slow
@pytest.mark.browser
def test_without_the_allow_list_the_sandbox_itself_is_refused(sandbox, settings_env):
    settings_env(browser_allowed_origins="[]")
    pool = BrowserPool(executable=get_settings().resolved_chromium())
    try:
        with pool.page() as page:
            with pytest.raises(Exception, match="ERR_BLOCKED_BY_CLIENT"):
                page.goto(f"{sandbox.url}/plain/", timeout=10_000)
            assert egress.filter_of(page).blocked == [f"{sandbox.url}/plain/"]
    finally:
        pool.close()


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8765/plain/", True),          # the allow-listed sandbox origin
        ("http://127.0.0.1:8000/api/jobs", False),        # the API next door
        ("http://127.0.0.1:6379/", False),
        ("http://localhost:8765/", False),                # same port, other spelling: not listed
        ("http://0x7f000001:8765/", False),
        ("http://169.254.169.254/latest/meta-data/", False),
        ("http://[::1]:8765/", False),
        ("http://[::ffff:127.0.0.1]:8765/", False),
        ("http://10.0.0.5/", False),
        ("http://100.64.1.1/", False),
        ("http://redis:6379/", False),                    # not the directory's host
        ("http://flower:5555/", False),
        ("ftp://127.0.0.1:8765/", False),
        ("data:text/plain,hi", True),
    ],
)
def test_filter_decisions(url: str, allowed: bool) -> None:
    f = egress.EgressFilter(["127.0.0.1:8765"])
    f.allow_hosts(["127.0.0.1", "localhost"])
    assert f.permits(url) is allowed


def test_first_navigation_names_the_directory_and_the_plan_adds_hosts() -> None:
    f = egress.EgressFilter()
    assert f.permits("http://93.184.216.34/", first_navigation=True)     # a public address
    assert not f.permits("http://93.184.216.35/", first_navigation=True)  # only the first
    plan = Plan.model_validate({"steps": [{"action": "goto", "url": "https://www.listings.example/add"},
                                          {"action": "expect", "text": "ok"}], "allow_hosts": ["cdn.example"]})
    f.allow_plan(plan)
    assert f._host_allowed("listings.example") and f._host_allowed("forms.listings.example")
    assert f._host_allowed("static.cdn.example") and not f._host_allowed("evil.example")
