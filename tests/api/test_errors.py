"""The last-resort 500: JSON with a request id, no stack trace, logged once with that id.
In process (ASGI transport), since no real route fails on purpose."""

from __future__ import annotations

import asyncio
import logging

import httpx

from directorybolt.api.app import create_app


def _call(app, path: str, **kw) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as c:
            return await c.get(path, **kw)

    return asyncio.run(go())


def test_unhandled_exception_is_a_json_500_with_a_request_id(clean, caplog):
    app = create_app()

    def boom() -> None:
        raise RuntimeError("secret internal detail /srv/app/file.py")

    app.add_api_route("/api/boom", boom)
    with caplog.at_level(logging.ERROR, logger="directorybolt.api.errors"):
        r = _call(app, "/api/boom")
    assert r.status_code == 500
    body = r.json()
    assert body["error"] == "internal error" and body["request_id"] == r.headers["X-Request-ID"]
    assert "secret" not in r.text and "Traceback" not in r.text
    logged = [rec for rec in caplog.records if body["request_id"] in rec.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None


def test_request_id_is_echoed_when_sane(clean):
    app = create_app()
    assert _call(app, "/api/nowhere", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    forged = _call(app, "/api/nowhere", headers={"X-Request-ID": "a\tb" * 40}).headers["X-Request-ID"]
    assert len(forged) == 32 and "\t" not in forged
