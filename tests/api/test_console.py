"""The staff console over plain HTTP against the real server: sign-in, cookies, CSRF,
redirects, escaping, screenshots only from the state dir. (The browser tests are in
test_console_browser.py.)"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from directorybolt.store import db
from directorybolt.store import staff as accounts
from tests.api.conftest import ApiServer
from tests.lifecycle.review_jobs import finished_job

HOSTILE = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in(api: ApiServer, name: str = "ann") -> tuple[httpx.Client, str]:
    """A client signed in as a new staff member; returns it and the session's CSRF token."""
    password = accounts.create(name)
    c = api.client(follow_redirects=False)
    page = c.get("/console/sign-in")
    token = CSRF.search(page.text).group(1)
    answer = c.post("/console/sign-in", data={"csrf_token": token, "name": name, "password": password,
                                              "next": "/console/reviews"})
    assert answer.status_code == 303 and answer.headers["location"] == "/console/reviews", answer.text
    dashboard = c.get("/console")
    assert dashboard.status_code == 200
    return c, CSRF.search(dashboard.text).group(1)


def test_unauthenticated_pages_redirect_to_sign_in(api, clean):
    with api.client(follow_redirects=False) as c:
        for path in ("/console", "/console/jobs?status=partial", "/console/reviews/1", "/console/workers",
                     "/console/screenshots/1", "/console/dead-letters"):
            answer = c.get(path)
            assert answer.status_code == 303, path
            assert answer.headers["location"].startswith("/console/sign-in?next=/console"), path
        assert c.post("/console/reviews/1/claim", data={"csrf_token": "x"}).status_code == 303


def test_session_cookie_flags_and_sign_out(api, clean):
    password = accounts.create("ann")
    with api.client(follow_redirects=False) as c:
        token = CSRF.search(c.get("/console/sign-in").text).group(1)
        answer = c.post("/console/sign-in", data={"csrf_token": token, "name": "ann", "password": password})
        cookie = answer.headers["set-cookie"]
        assert "dbolt_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
        assert "Secure" not in cookie, "plain http on loopback"
        csrf = CSRF.search(c.get("/console").text).group(1)
        assert c.post("/console/sign-out", data={"csrf_token": csrf}).status_code == 303
        assert c.get("/console").status_code == 303, "the session ended on the server"


def test_wrong_password_and_sign_in_rate_limit(start_api, clean):
    api = start_api(console_signin_rate="3/minute")
    accounts.create("ann")
    with api.client(follow_redirects=False) as c:
        token = CSRF.search(c.get("/console/sign-in").text).group(1)
        codes = [c.post("/console/sign-in", data={"csrf_token": token, "name": "ann", "password": "guess"})
                 for _ in range(4)]
    assert [a.status_code for a in codes] == [401, 401, 401, 429]
    assert "Wrong name or password" in codes[0].text and "Too many sign-in attempts" in codes[3].text
    assert int(codes[3].headers["Retry-After"]) > 0


def test_a_post_without_the_csrf_token_is_refused(api, clean):
    job_id = finished_job({"a": "needs_review"})
    c, csrf = sign_in(api)
    with contextlib.closing(c):
        item = c.get(f"/console/jobs/{job_id}").text
        item_id = re.search(r"/console/reviews/(\d+)", item).group(1)
        assert c.post(f"/console/reviews/{item_id}/claim").status_code == 403
        assert c.post(f"/console/reviews/{item_id}/claim", data={"csrf_token": "forged"}).status_code == 403
        assert "without its security token" in c.post(f"/console/reviews/{item_id}/claim").text
        with db.session() as s:
            assert s.scalar(text("SELECT state FROM review_items")) == "open"
        assert c.post(f"/console/reviews/{item_id}/claim", data={"csrf_token": csrf}).status_code == 303
        # the sign-in form has its own token (no session yet)
        assert c.post("/console/sign-in", data={"name": "ann", "password": "x"}).status_code == 403


def test_hostile_business_name_is_rendered_as_text(api, clean):
    """Intake strips markup from profiles, so the hostile values are written straight
    into the tables (a row from before the sanitiser, a directory's own error text,
    catalog data): the console must still show them as text."""
    job_id = finished_job({"a": "needs_review"})
    with db.session() as s:
        s.execute(text("UPDATE customers SET business_name = :v, description = :d"), {"v": HOSTILE, "d": HOSTILE})
        s.execute(text("UPDATE job_results SET error_message = :v"), {"v": HOSTILE})
        s.execute(text("UPDATE directories SET name = :v"), {"v": HOSTILE})
    c, _ = sign_in(api)
    with contextlib.closing(c):
        pages = [c.get(f"/console/jobs/{job_id}"), c.get("/console/jobs"), c.get("/console/reviews"),
                 c.get(f"/console/jobs?customer={HOSTILE[:50]}")]
        item_id = re.search(r"/console/reviews/(\d+)", pages[0].text).group(1)
        pages.append(c.get(f"/console/reviews/{item_id}"))
    for page in pages:
        assert page.status_code == 200
        assert "<script>alert" not in page.text and "onerror=alert(1)>" not in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in pages[-1].text


def test_screenshots_only_from_the_state_dir(api, clean, services, tmp_path):
    shots = Path(services.state_dir) / "screenshots" / "job"
    shots.mkdir(parents=True, exist_ok=True)
    good = shots / "a.png"
    good.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 32)
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"\x89PNG secret")
    job_id = finished_job({"a": "needs_review", "b": "failed", "c": "failed", "d": "failed"},
                          screenshot=str(good))
    with db.session() as s:
        ids = dict(s.execute(text("SELECT directory_id, id FROM job_results WHERE job_id = :j"), {"j": job_id}).all())
        s.execute(text("UPDATE job_results SET screenshot_path = :p WHERE id = :id"),
                  [{"p": str(shots / ".." / ".." / ".." / outside.name), "id": ids["b"]},
                   {"p": "/etc/passwd", "id": ids["c"]},
                   {"p": str(outside), "id": ids["d"]}])
    c, _ = sign_in(api)
    with contextlib.closing(c):
        ok = c.get(f"/console/screenshots/{ids['a']}")
        assert ok.status_code == 200 and ok.headers["content-type"] == "image/png"
        assert ok.content.startswith(b"\x89PNG")
        for d in ("b", "c", "d"):
            refused = c.get(f"/console/screenshots/{ids[d]}")
            assert refused.status_code == 404 and b"secret" not in refused.content and b"root:" not in refused.content
        assert c.get("/console/screenshots/..%2f..%2fetc%2fpasswd").status_code in (404, 422)
        assert c.get("/console/static/..%2fpages.py").status_code == 404


@pytest.mark.parametrize("path", ["/console", "/console/jobs", "/console/reviews", "/console/dead-letters",
                                  "/console/workers"])
def test_every_page_renders(api, clean, path):
    finished_job({"a": "submitted", "b": "needs_review"})
    c, _ = sign_in(api)
    with contextlib.closing(c):
        answer = c.get(path)
    assert answer.status_code == 200 and "<h1>" in answer.text
