"""Size, URL and content-type limits, and input validation, through a real server."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import select

from directorybolt.store import db
from directorybolt.store.models import Customer, Job
from tests.api.conftest import Keys, profile

ELEVEN_MB = 11 * 1024 * 1024


def test_declared_body_over_the_limit_is_refused_before_it_is_read(api, keys):
    """Headers only: the 413 arrives although not one byte of the body was sent."""
    head = (
        f"POST /api/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {keys.producer}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {ELEVEN_MB}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", api.port), timeout=5) as sock:
        sock.sendall(head.encode())
        answer = b""
        while chunk := sock.recv(65536):  # the server closes after answering
            answer += chunk
    answer = answer.decode()
    assert answer.startswith("HTTP/1.1 413"), answer
    assert '"error"' in answer and "request body too large" in answer


def test_eleven_megabyte_body_is_413(api, keys):
    with api.client() as c:
        r = c.post("/api/jobs", content=b"x" * ELEVEN_MB,
                   headers={**Keys.bearer(keys.producer), "Content-Type": "application/json"})
    assert r.status_code == 413 and "at most" in r.json()["error"]


def test_chunked_body_is_cut_off_at_the_limit(api, keys):
    sent = 0

    def chunks():
        nonlocal sent
        for _ in range(11):
            sent += 1
            yield b" " * (1024 * 1024)

    with api.client() as c:
        r = c.post("/api/jobs", content=chunks(),
                   headers={**Keys.bearer(keys.producer), "Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert "request body too large" in r.json()["error"]
    assert db_jobs() == 0


def test_body_just_under_the_limit_reaches_validation(start_api, keys):
    server = start_api(api_max_body_bytes=2048)
    with server.client() as c:
        r = c.post("/api/jobs", content=b'{"tier": "pro", "pad": "' + b"x" * 1900 + b'"}',
                   headers={**Keys.bearer(keys.producer), "Content-Type": "application/json"})
        assert r.status_code == 422
        big = c.post("/api/jobs", content=b"{" + b" " * 3000 + b"}",
                     headers={**Keys.bearer(keys.producer), "Content-Type": "application/json"})
        assert big.status_code == 413


def test_long_url_is_414(api, keys):
    with api.client() as c:
        r = c.get("/api/jobs/" + "a" * 3000, headers=Keys.bearer(keys.producer))
    assert r.status_code == 414 and "URL too long" in r.json()["error"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_non_json_post_is_415(api, keys, customer_id, content_type):
    with api.client() as c:
        r = c.post("/api/jobs", content=f'{{"customer_id": "{customer_id}", "tier": "pro"}}',
                   headers={**Keys.bearer(keys.producer), "Content-Type": content_type})
    assert r.status_code == 415 and "application/json" in r.json()["error"]
    assert db_jobs() == 0


def test_post_without_body_needs_no_content_type(api, keys):
    """A replay is a bare POST; only bodies must be JSON."""
    with api.client() as c:
        r = c.post("/api/admin/dlq/1/replay", headers=Keys.bearer(keys.staff))
    assert r.status_code == 404


@pytest.mark.parametrize(
    ("website", "reason"),
    [
        ("javascript:alert(1)", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("http://127.0.0.1/admin", "public address"),
        ("http://10.0.0.8/", "public address"),
        ("http://user:pw@example.com/", "credentials"),
    ],
)
def test_unsafe_websites_are_422(api, keys, clean, website, reason):
    with api.client() as c:
        r = c.post("/api/jobs", json={"customer": profile(website=website), "tier": "growth"},
                   headers=Keys.bearer(keys.producer))
    assert r.status_code == 422, r.text
    assert reason in r.json()["error"]
    with db.session() as s:
        assert s.scalar(select(Customer.id)) is None


def test_script_in_description_is_stripped_before_it_is_stored(api, keys, clean):
    description = 'Best pipes in town.<script>alert("x")</script> <b>Open</b> 24/7'
    with api.client() as c:
        r = c.post("/api/jobs", json={"customer": profile(description=description), "tier": "starter"},
                   headers=Keys.bearer(keys.producer))
    assert r.status_code == 202, r.text
    with db.session() as s:
        stored = s.scalar(select(Customer.description))
    assert "<script" not in stored and "alert" not in stored and "<b>" not in stored
    assert stored.startswith("Best pipes in town.") and "Open 24/7" in stored


def test_validation_errors_name_each_field(api, keys):
    with api.client() as c:
        r = c.post("/api/jobs", json={"customer_id": "not-a-uuid", "fast_track": "sometimes", "colour": "red"},
                   headers=Keys.bearer(keys.producer))
    assert r.status_code == 422
    body = r.json()
    fields = {d["field"] for d in body["details"]}
    assert {"body.customer_id", "body.fast_track", "body.tier", "body.colour"} <= fields
    assert body["error"].startswith("invalid request: ")
    assert all(d["message"] for d in body["details"])


def test_malformed_json_is_422(api, keys):
    with api.client() as c:
        r = c.post("/api/jobs", content=b'{"tier": ', headers={**Keys.bearer(keys.producer),
                                                                "Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["details"][0]["type"] == "json_invalid"


def test_nul_characters_are_422_not_a_database_error(api, keys):
    with api.client() as c:
        r = c.post("/api/jobs", json={"customer": profile(city="Port\x00land"), "tier": "pro"},
                   headers=Keys.bearer(keys.producer))
    assert r.status_code == 422 and "NUL" in r.text


def test_library_errors_keep_their_status(api, keys, customer_id):
    with api.client() as c:
        h = Keys.bearer(keys.producer)
        assert c.post("/api/jobs", json={"customer_id": customer_id, "tier": "platinum"}, headers=h).status_code == 422
        missing = c.post("/api/jobs", json={"customer_id": "00000000-0000-0000-0000-000000000007", "tier": "pro"},
                         headers=h)
        assert missing.status_code == 404 and "does not exist" in missing.json()["error"]
        bad_dir = c.post("/api/jobs", json={"customer_id": customer_id, "tier": "pro", "directories": ["nowhere"]},
                         headers=h)
        assert bad_dir.status_code == 422 and "nowhere" in bad_dir.json()["error"]
        assert c.get("/api/nothing-here").json() == {"error": "no such route"}


def db_jobs() -> int:
    with db.session() as s:
        return len(s.scalars(select(Job.id)).all())
