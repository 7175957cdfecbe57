"""The sandbox over real HTTP (a real uvicorn server, no browser): every flow answers
the way the browser tests and the chaos tests rely on."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from directorybolt.core.plans import BUSINESS_FIELDS, Plan
from directorybolt.sandbox import SandboxServer, sandbox_directories

SUCCESS = '<div class="success-message">Thank you! Your listing has been received.</div>'
DIRECTORIES = [d["id"] for d in sandbox_directories("http://127.0.0.1:1")]

#: A good POST body for each flow whose form is one page.
GOOD: dict[str, dict[str, str]] = {
    "plain": {"business_name": "Bolt Plumbing", "email": "a@b.example", "phone": "555", "website": "https://b.example",
              "description": "Pipes"},
    "select": {"biz_name": "Bolt Plumbing", "biz_email": "a@b.example", "category": "Plumbing", "city": "Portland",
               "state": "OR", "zip": "97214", "desc": "Pipes", "terms": "yes"},
    "captcha": {"name": "Bolt Plumbing", "email": "a@b.example", "g-recaptcha-response": "solved-token"},
    "changed": {"listing_title": "Bolt Plumbing", "listing_mail": "a@b.example"},
    "nomap": {"entry.1001": "Bolt Plumbing", "entry.1002": "a@b.example", "entry.1003": "555", "entry.1008": ""},
    "catalogstyle": {"business_name": "Bolt Plumbing", "email": "a@b.example", "state": "OR", "category": "Plumbing",
                     "about": "Pipes"},
}


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    with SandboxServer(port=0) as s:
        yield s


@pytest.fixture
def client(server: SandboxServer) -> Iterator[httpx.Client]:
    """A client on a clean sandbox with fast knobs (the defaults are made for browser runs)."""
    with httpx.Client(base_url=server.url, trust_env=False, timeout=5) as c:
        c.delete("/_submissions")
        c.post("/_control", json={"slow_delay": 0.05, "transient_failures": 1, "retry_after": 1,
                                  "broken_mode": "fail", "fail_at": "page"})
        yield c


def counts(client: httpx.Client) -> dict[str, int]:
    return client.get("/_submissions").json()["counts"]


def test_health_and_index_link_every_directory(client: httpx.Client) -> None:
    assert client.get("/_health").json() == {"ok": True}
    index = client.get("/").text
    for d in DIRECTORIES:
        assert f"href='/{d}/'" in index


@pytest.mark.parametrize("directory", DIRECTORIES)
def test_form_page_loads_with_labelled_post_form(client: httpx.Client, directory: str) -> None:
    client.post("/_control", json={"fail_at": "submit"})  # the failing flows' pages load too
    r = client.get(f"/{directory}/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<form method="post"' in r.text.replace("'", '"')
    assert "<label" in r.text and "type=\"submit\"" in r.text.replace("'", '"')


@pytest.mark.parametrize("flow", sorted(GOOD))
def test_good_post_is_recorded_and_confirmed(client: httpx.Client, flow: str) -> None:
    r = client.post(f"/{flow}/submit", data=GOOD[flow])
    assert r.status_code == 200
    assert SUCCESS in r.text.replace("'", '"') and "<h1>Listing received</h1>" in r.text
    [sub] = client.get("/_submissions", params={"directory": flow}).json()["submissions"]
    assert (sub["directory"], sub["business_name"], sub["email"]) == (flow, "Bolt Plumbing", "a@b.example")
    assert sub["fields"] == GOOD[flow] and re.match(r"\d{4}-\d\d-\d\dT", sub["at"])
    assert counts(client) == {f"{flow}|bolt plumbing": 1}


def test_only_catalogstyle_confirms_with_thank_you_heading(client: httpx.Client) -> None:
    assert "<h1>Thank you</h1>" in client.post("/catalogstyle/submit", data=GOOD["catalogstyle"]).text
    assert "<h1>Thank you</h1>" not in client.post("/plain/submit", data=GOOD["plain"]).text


def test_wizard_carries_answers_through_three_steps(client: httpx.Client) -> None:
    step1 = client.get("/wizard/").text
    assert "name='company'" in step1 and "action='/wizard/step2'" in step1
    step2 = client.post("/wizard/step2", data={"company": "Bolt <Plumbing>", "contact": "a@b.example"}).text
    assert "id='telephone'" in step2 and "value='Bolt &lt;Plumbing&gt;'" in step2 and "/wizard/step3" in step2
    carried = {"company": "Bolt <Plumbing>", "contact": "a@b.example", "telephone": "555", "homepage": ""}
    step3 = client.post("/wizard/step3", data=carried).text
    assert "id='about'" in step3 and "Submit listing" in step3 and "name='telephone' value='555'" in step3
    done = client.post("/wizard/submit", data={**carried, "about": "Pipes"})
    assert done.status_code == 200 and "Listing received" in done.text
    assert counts(client) == {"wizard|bolt <plumbing>": 1}
    assert client.post("/wizard/step2", data={"company": ""}).status_code == 400


def test_echoed_input_is_escaped(client: httpx.Client) -> None:
    r = client.post("/plain/submit", data={**GOOD["plain"], "business_name": "<script>alert(1)</script>"})
    assert "<script>alert" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text


def test_failing_pages_fail_before_the_form_is_sent(client: httpx.Client) -> None:
    """The default: the failure comes when the form page loads, so a retry is safe."""
    client.post("/_control", json={"transient_failures": 2, "retry_after": 3})
    assert [client.get("/transient/").status_code for _ in range(3)] == [500, 500, 200]
    first = client.get("/ratelimited/")
    assert first.status_code == 429 and first.headers["Retry-After"] == "3"
    assert client.get("/ratelimited/").status_code == 200
    assert [client.get("/broken/").status_code for _ in range(2)] == [500, 500]
    assert client.post("/transient/submit", data=GOOD["plain"]).status_code == 200, "the post itself succeeds"
    body = client.get("/_submissions").json()
    assert body["counts"] == {"transient|bolt plumbing": 1}
    assert body["attempts"]["transient|(page)"] == 3


def test_transient_fails_k_times_per_listing_then_succeeds(client: httpx.Client) -> None:
    client.post("/_control", json={"transient_failures": 2, "fail_at": "submit"})
    statuses = [client.post("/transient/submit", data=GOOD["plain"]).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    other = {**GOOD["plain"], "business_name": "Other Co"}
    assert client.post("/transient/submit", data=other).status_code == 500  # counted per listing
    body = client.get("/_submissions").json()
    assert body["counts"] == {"transient|bolt plumbing": 1}
    assert body["attempts"] == {"transient|bolt plumbing": 3, "transient|other co": 1}


def test_ratelimited_answers_429_with_retry_after_once(client: httpx.Client) -> None:
    client.post("/_control", json={"retry_after": 3, "fail_at": "submit"})
    first = client.post("/ratelimited/submit", data=GOOD["plain"])
    assert first.status_code == 429 and first.headers["Retry-After"] == "3"
    assert client.post("/ratelimited/submit", data=GOOD["plain"]).status_code == 200
    assert counts(client) == {"ratelimited|bolt plumbing": 1}


def test_broken_always_500_until_switched_ok(client: httpx.Client) -> None:
    client.post("/_control", json={"fail_at": "submit"})
    assert [client.post("/broken/submit", data=GOOD["plain"]).status_code for _ in range(3)] == [500] * 3
    assert counts(client) == {}
    assert client.post("/_control", json={"broken_mode": "ok"}).json()["broken_mode"] == "ok"
    assert client.post("/broken/submit", data=GOOD["plain"]).status_code == 200
    assert counts(client) == {"broken|bolt plumbing": 1}


def test_select_refuses_without_terms(client: httpx.Client) -> None:
    r = client.post("/select/submit", data={k: v for k, v in GOOD["select"].items() if k != "terms"})
    assert r.status_code == 400 and "terms" in r.text
    assert client.post("/select/submit", data={**GOOD["select"], "state": "ZZ"}).status_code == 400
    page = client.get("/select/").text
    for option in ("Restaurant", "Plumbing", "Legal", "Retail", "Other", "CA", "NY", "TX", "WA", "OR"):
        assert f"<option value='{option}'>" in page
    assert counts(client) == {}


def test_captcha_page_has_widget_and_post_needs_a_token(client: httpx.Client) -> None:
    assert '<div class="g-recaptcha" data-sitekey="sandbox"></div>' in client.get("/captcha/").text
    no_token = {k: v for k, v in GOOD["captcha"].items() if k != "g-recaptcha-response"}
    assert client.post("/captcha/submit", data=no_token).status_code == 400
    assert counts(client) == {}


def test_changed_form_no_longer_has_the_planned_fields(client: httpx.Client, server: SandboxServer) -> None:
    page = client.get("/changed/").text
    plan = next(d["plan"] for d in sandbox_directories(server.url) if d["id"] == "changed")
    planned_ids = [s[1:] for step in plan["steps"] for s in step.get("selector", []) if s.startswith("#")]
    assert planned_ids and not any(f"id='{i}'" in page for i in planned_ids)
    assert client.post("/changed/submit", data={"biz_name": "Old", "biz_email": "a@b.example"}).status_code == 400


def test_slow_takes_its_delay_and_the_server_stays_responsive(client: httpx.Client, server: SandboxServer) -> None:
    client.post("/_control", json={"slow_delay": 0.4})
    done: dict[str, Any] = {}

    def slow_get() -> None:
        with httpx.Client(trust_env=False) as c:
            start = time.monotonic()
            done["status"] = c.get(f"{server.url}/slow/").status_code
            done["took"] = time.monotonic() - start

    t = threading.Thread(target=slow_get)
    t.start()
    time.sleep(0.05)
    start = time.monotonic()
    assert client.get("/_health").status_code == 200
    assert time.monotonic() - start < 0.2
    t.join(5)
    assert done["status"] == 200 and done["took"] >= 0.4


def test_submissions_filter_counts_and_delete(client: httpx.Client) -> None:
    client.post("/plain/submit", data=GOOD["plain"])
    client.post("/plain/submit", data={**GOOD["plain"], "business_name": "BOLT PLUMBING"})
    client.post("/nomap/submit", data=GOOD["nomap"])
    body = client.get("/_submissions").json()
    assert len(body["submissions"]) == 3
    assert body["counts"] == {"plain|bolt plumbing": 2, "nomap|bolt plumbing": 1}
    only = client.get("/_submissions", params={"directory": "nomap"}).json()
    assert [s["directory"] for s in only["submissions"]] == ["nomap"] and only["counts"] == {"nomap|bolt plumbing": 1}
    assert client.delete("/_submissions").status_code == 200
    assert client.get("/_submissions").json() == {"submissions": [], "counts": {}, "attempts": {}}


def test_control_sets_reports_and_rejects(client: httpx.Client, server: SandboxServer) -> None:
    got = client.post("/_control", json={"slow_delay": 0.2, "transient_failures": 2, "retry_after": 5}).json()
    assert got == {"slow_delay": 0.2, "transient_failures": 2, "retry_after": 5, "broken_mode": "fail",
                   "fail_at": "page"}
    assert client.get("/_control").json() == got
    assert (server.state.slow_delay, server.state.transient_failures) == (0.2, 2)
    for bad in ({"broken_mode": "maybe"}, {"fail_at": "later"}, {"retry_after": -1}, {"transient_failures": 1.5},
                {"slowdelay": 1}, {"slow_delay": True}, {"slow_delay": 0.1, "retry_after": "x"}):
        r = client.post("/_control", json=bad)
        assert r.status_code == 400 and r.json()["error"], bad
    assert client.post("/_control", content=b"not json").status_code == 400
    assert client.get("/_control").json() == got  # all or none: nothing half-applied


def test_clones_are_served_and_recorded_under_their_own_id(server: SandboxServer, client: httpx.Client) -> None:
    [clone] = [d for d in sandbox_directories(server.url, clones=3) if d["id"] == "plain-3"]
    assert "action='/plain-3/submit'" in client.get(clone["url"]).text.replace('"', "'")
    assert client.post("/plain-3/submit", data=GOOD["plain"]).status_code == 200
    assert counts(client) == {"plain-3|bolt plumbing": 1}


def test_catalog_entries_and_plans_validate(server: SandboxServer) -> None:
    entries = sandbox_directories(server.url + "/")
    assert [e["id"] for e in entries] == ["plain", "wizard", "select", "slow", "transient", "ratelimited",
                                          "broken", "captcha", "changed", "nomap", "catalogstyle"]
    das = [e["domain_authority"] for e in entries]
    assert len(set(das)) == len(das) and all(40 <= da <= 90 for da in das)
    assert {e["id"]: e["tier"] for e in entries if e["tier"] != 1} == {"wizard": 2, "select": 2, "catalogstyle": 3}
    for e in entries:
        assert e["url"] == f"{server.url}/{e['id']}/"
        if e["id"] == "nomap":
            assert e["plan"] is None
            continue
        plan = Plan.model_validate(e["plan"])
        assert plan.steps[0].url == e["url"] and any(s.action == "expect" for s in plan.steps)
        assert set(plan.submitted_fields()) <= set(BUSINESS_FIELDS)
    select = Plan.model_validate(next(e["plan"] for e in entries if e["id"] == "select"))
    assert {s.field for s in select.steps if s.action == "select"} == {"category", "state"}
    assert any(s.action == "check" for s in select.steps)
    wizard = Plan.model_validate(next(e["plan"] for e in entries if e["id"] == "wizard"))
    assert [s.selector for s in wizard.steps if s.action == "wait_for"] == [["#telephone"], ["#about"]]


def test_server_picks_a_free_port_and_releases_it() -> None:
    with SandboxServer(port=0) as a, SandboxServer(port=0) as b:
        assert a.port != b.port and a.port > 0
        assert httpx.get(f"{a.url}/_health", trust_env=False).status_code == 200
        port = a.port
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        pass
