"""Probes 3, 5, 6, 8, 9, 12, 13 and 7 of issue 12, each against a real API server."""

from __future__ import annotations

import socket
import time
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from directorybolt.cli import main
from directorybolt.lifecycle import jobs
from directorybolt.store import apikeys, db, scopes
from directorybolt.store.models import Customer, Job
from tests.api.conftest import Keys, profile

BYPASSES = [
    "http://0x7f000001/", "http://2130706433/", "http://127.1", "http://0177.0.0.1", "http://0",
    "http://localhost./", "http://metadata.google.internal.", "http://%31%32%37.0.0.1",
    "http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ", "http://１２７.０.０.１", "http://100.64.0.1", "http://example.com:99999/",
    "http://" + "a" * 2030 + ".com/", "http://" + "a" * 64 + ".com/", "http://169.254.169.254/latest/",
    "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://10.0.0.1/", "http://192.168.1.1/", "http://172.16.0.1/",
    "http://0.0.0.0/", "http://localhost/", "http://LOCALHOST:8000/", "http://foo.localhost/", "http://redis:6379/",
    "http://printer.local/", "http://intranet.corp/", "http://router.home.arpa/", "http://1.1.1.1/",
    "http://127.0.0.1.nip.io.", "http://0x7f.0x0.0x0.0x1/", "http://017700000001/", "http://example.com:0/",
    "http://user:pw@example.com/", "http://example.com@127.0.0.1/", "javascript:alert(1)", "file:///etc/passwd",
    "http://exa mple.com/", "http://example.com\\@evil.test/", "http://under_score.com/", "http://-bad-.com/",
    "http://xn--.com/", "http://a.b.c.123/", "http://ｌｏｃａｌｈｏｓｔ/", "http://127。0。0。1/",
]


@pytest.mark.slow
def test_website_bypasses_are_all_422(roomy_api, keys, clean):
    assert len(BYPASSES) >= 30
    with roomy_api.client() as c:
        answers = {w: c.post("/api/jobs", json={"customer": profile(website=w), "tier": "starter"},
                             headers=Keys.bearer(keys.producer)) for w in BYPASSES}
    wrong = {w[:60]: r.status_code for w, r in answers.items() if r.status_code != 422}
    assert not wrong
    assert all("website" in r.json()["error"] for r in answers.values())
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == 0


def test_public_websites_still_pass_normalised(api, keys, clean):
    with api.client() as c:
        r = c.post("/api/jobs", json={"customer": profile(website="https://Café.fr/menu?x=1"), "tier": "starter"},
                   headers=Keys.bearer(keys.producer))
    assert r.status_code == 202, r.text
    with db.session() as s:
        assert s.scalar(select(Customer.website)) == "https://xn--caf-dma.fr/menu?x=1"


@pytest.mark.parametrize("change", [
    {"customer": profile(business_name="Other Name")}, {"tier": "pro"}, {"fast_track": True},
    {"directories": ["alpha"]},
])
def test_idempotency_key_reused_for_a_different_request_is_409(api, keys, clean, change):
    from directorybolt.cli import seed
    from tests.api.test_jobs import DIRECTORIES

    seed.upsert_directories(DIRECTORIES)
    first = {"customer": profile(), "tier": "starter", "directories": ["alpha", "beta"]}
    headers = {**Keys.bearer(keys.producer), "Idempotency-Key": f"order-{uuid.uuid4().hex}"}
    with api.client() as c:
        assert c.post("/api/jobs", json=first, headers=headers).status_code == 202
        same = c.post("/api/jobs", json={**first, "directories": ["beta", "alpha"]}, headers=headers)
        other = c.post("/api/jobs", json={**first, **change}, headers=headers)
    assert same.status_code == 200
    assert other.status_code == 409 and "Idempotency-Key" in other.json()["error"]
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 1


def test_tenant_scoping(api, keys, clean):
    other = apikeys.create("other tenant")[1]
    with api.client() as c:
        mine = c.post("/api/jobs", json={"customer": profile(), "tier": "starter"}, headers=Keys.bearer(keys.producer))
        job_id = mine.json()["job_id"]
        with db.session() as s:
            customer_id = str(s.get(Job, job_id).customer_id)
        theirs_read = c.get(f"/api/jobs/{job_id}", headers=Keys.bearer(other))
        theirs_enqueue = c.post("/api/jobs", json={"customer_id": customer_id, "tier": "enterprise",
                                                   "fast_track": True},
                                headers=Keys.bearer(other))
        staff = c.get(f"/api/jobs/{job_id}", headers=Keys.bearer(keys.staff))
        own = c.get(f"/api/jobs/{job_id}", headers=Keys.bearer(keys.producer))
        scopes.grant(other[:12], uuid.UUID(customer_id), granted_by=None)
        granted = c.get(f"/api/jobs/{job_id}", headers=Keys.bearer(other))
    assert mine.status_code == 202 and own.status_code == 200 and staff.status_code == 200
    assert theirs_read.status_code == 404 and "does not exist" in theirs_read.json()["error"]
    assert theirs_enqueue.status_code == 404 and "does not exist" in theirs_enqueue.json()["error"]
    assert granted.status_code == 200
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Job)) == 1


def _raw(port: int, data: bytes, pieces: int = 1) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        step = max(1, len(data) // pieces)
        try:
            for i in range(0, len(data), step):
                sock.sendall(data[i:i + step])
                if pieces > 1:
                    time.sleep(0.02)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before the rest of the head: that is the point
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
                if b"\r\n\r\n" in answer and b"}" in answer:
                    break
        except ConnectionResetError:
            pass
    return answer


@pytest.mark.parametrize("size_kib", [17, 64, 100])
@pytest.mark.parametrize("pieces", [1, 40])
def test_head_over_16_kib_is_431_however_it_arrives(api, size_kib, pieces):
    head = (f"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {'a' * size_kib * 1024}\r\n\r\n").encode()
    answer = _raw(api.port, head, pieces)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert b'"error"' in answer


def test_no_redirect_trusts_the_host_header(api, keys, customer_id):
    with api.client(follow_redirects=False) as c:
        r = c.get(f"/api/jobs/{uuid.uuid4()}/", headers={**Keys.bearer(keys.producer), "Host": "evil.example"})
    assert r.status_code == 404 and "location" not in r.headers


@pytest.mark.parametrize("body", [b'{"tier": "\xff\xfe"}', b"[" * 100_000 + b"]" * 100_000,
                                  b'{"tier": ' + b"9" * 5000 + b"}"])
def test_undecodable_bodies_are_422(api, keys, body):
    with api.client() as c:
        r = c.post("/api/jobs", content=body, headers={**Keys.bearer(keys.producer),
                                                        "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["details"][0]["type"] == "json_invalid"


def test_allow_lists_every_method_of_a_path(api, keys):
    with api.client() as c:
        r = c.request("OPTIONS", "/api/admin/dlq/1", headers=Keys.bearer(keys.staff))
    assert r.status_code == 405 and r.headers["Allow"] == "DELETE, GET"


def test_schema_has_the_tier_enum_and_every_status(api):
    with api.client() as c:
        schema = c.get("/api/openapi.json").json()
    assert schema["components"]["schemas"]["JobRequest"]["properties"]["tier"]["enum"][:4] == [
        "enterprise", "pro", "growth", "starter"]
    statuses = set(schema["paths"]["/api/jobs"]["post"]["responses"])
    assert {"200", "202", "401", "403", "404", "409", "413", "414", "415", "422", "429", "431", "500",
            "503"} <= statuses


@pytest.mark.parametrize(("key", "status"), [("dbk_00000000_wrong", 401), (None, 401)])
def test_auth_is_checked_before_the_body_is_read(api, key, status):
    """Headers announce 9 MB and not a byte follows: the answer comes anyway."""
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    head = (f"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\n"
            f"Content-Length: {9 * 1024 * 1024}\r\n\r\n").encode()
    answer = _raw(api.port, head)
    assert answer.startswith(f"HTTP/1.1 {status}".encode()), answer[:200]


def test_rate_limit_is_checked_before_the_body_is_read(start_api, keys):
    server = start_api(api_rate_per_ip="1/minute")
    head = (f"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {keys.producer}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {9 * 1024 * 1024}\r\n\r\n").encode()
    with server.client() as c:
        c.get("/api/jobs/00000000-0000-0000-0000-000000000000", headers=Keys.bearer(keys.producer))
    assert _raw(server.port, head).startswith(b"HTTP/1.1 429")


@pytest.mark.parametrize(("args", "message"), [
    (["--basic-auth", ":"], "non-empty user and password"),
    (["--basic-auth", "admin:"], "non-empty user and password"),
    (["--basic-auth", ":Str0ngPassw0rd!"], "non-empty user and password"),
    (["--basic-auth", "a:a", "--address", "0.0.0.0"], "at least 12 characters"),
    (["--basic-auth", "admin:Str0ngPassw0rd,x"], "comma"),
    (["--address", "0.0.0.0"], "required on 0.0.0.0"),
    (["--insecure-local-only", "--address", "0.0.0.0"], "127.0.0.1"),
])
def test_flower_refuses_weak_credentials(args, message):
    result = CliRunner().invoke(main, ["flower", *args])
    assert result.exit_code == 2 and message in result.output, result.output


def test_library_scope_check(clean, keys):
    info = apikeys.verify(keys.producer)
    from directorybolt.cli import seed

    cid = uuid.UUID(seed.customer())
    with db.session() as s:
        assert not scopes.customer_in_scope(s, info, cid)
        job, _ = jobs.create_job(s, customer_id=cid, tier="starter")
    with pytest.raises(Exception, match="does not exist"):
        scopes.require_job(info, job.id)
