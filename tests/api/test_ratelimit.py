"""Rate limits in Redis: per client address (moving window) and per API key."""

from __future__ import annotations

import httpx
import pytest

from directorybolt.api.ratelimit import client_ip, storage_uri
from tests.api.conftest import METRICS_AUTH, Keys


def _job(api, keys, customer_id) -> str:
    with api.client() as c:
        r = c.post("/api/jobs", json={"customer_id": customer_id, "tier": "pro"}, headers=Keys.bearer(keys.producer))
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


def _statuses(client: httpx.Client, path: str, n: int, headers: dict[str, str]) -> list[httpx.Response]:
    return [client.get(path, headers=headers) for _ in range(n)]


def test_per_address_limit_allows_100_a_minute_and_answers_429_with_retry_after(api, keys, customer_id):
    job = _job(api, keys, customer_id)  # request 1 of this address's 100
    with api.client() as c:
        answers = _statuses(c, f"/api/jobs/{job}", 149, Keys.bearer(keys.producer))
    codes = [r.status_code for r in answers]
    assert codes.count(200) == 99 and codes.count(429) == 50
    assert codes[:99] == [200] * 99  # the first 100 pass, every later one is refused
    refused = answers[-1]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["error"].startswith("rate limit exceeded: 100/minute per client address")
    assert refused.json()["retry_after"] == int(refused.headers["Retry-After"])

    # Another address is unaffected: connect from 127.0.0.2 (all of 127/8 is loopback).
    other = httpx.Client(base_url=api.url, transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=10)
    with other:
        assert other.get(f"/api/jobs/{job}", headers=Keys.bearer(keys.producer)).status_code == 200
        # Monitoring is exempt from the per-address limit.
    with api.client() as c:
        assert c.get("/api/health").status_code == 200
        assert c.get("/api/metrics", headers=METRICS_AUTH).status_code == 200


def test_forwarded_for_counts_only_behind_a_trusted_proxy(start_api, api, keys, customer_id):
    job = _job(api, keys, customer_id)
    path, auth = f"/api/jobs/{job}", Keys.bearer(keys.producer)
    proxied = start_api(api_rate_per_ip="5/minute", api_trusted_proxies='["127.0.0.1/32"]')
    with proxied.client() as c:
        first = [c.get(path, headers={**auth, "X-Forwarded-For": "203.0.113.9"}).status_code for _ in range(7)]
        assert first == [200] * 5 + [429] * 2
        # A forged left-most entry does not change the address: the proxy appended the real one.
        forged = c.get(path, headers={**auth, "X-Forwarded-For": "198.51.100.1, 203.0.113.9"})
        assert forged.status_code == 429
        assert c.get(path, headers={**auth, "X-Forwarded-For": "203.0.113.10"}).status_code == 200
    # Without trusted proxies the header is ignored: the socket address is the client.
    with api.client() as c:
        codes = {c.get(path, headers={**auth, "X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(110)}
    assert codes == {200, 429}


def test_per_key_limit(start_api, keys, customer_id):
    server = start_api(api_rate_per_key="5/hour")
    with server.client() as c:
        produced = [c.post("/api/jobs", json={"customer_id": customer_id, "tier": "starter"},
                           headers=Keys.bearer(keys.producer)) for _ in range(6)]
        assert [r.status_code for r in produced] == [202] * 5 + [429]
        refused = produced[-1]
        assert "per API key" in refused.json()["error"]
        assert 3000 < int(refused.headers["Retry-After"]) <= 3600
        # Another key has its own budget, from the same address.
        assert c.get(f"/api/jobs/{produced[0].json()['job_id']}", headers=Keys.bearer(keys.staff)).status_code == 200


def test_unauthenticated_requests_spend_the_address_budget(start_api, clean):
    """Guessing keys costs the guesser its budget like any other request."""
    server = start_api(api_rate_per_ip="3/minute")
    with server.client() as c:
        codes = [c.get("/api/admin/workers", headers={"X-API-Key": "dbk_00000000_guess"}).status_code for _ in range(5)]
    assert codes == [401, 401, 401, 429, 429]


def test_storage_uri_for_limits():
    assert storage_uri("unix:///run/redis.sock?db=3") == "redis+unix:///run/redis.sock?db=3"
    assert storage_uri("redis://127.0.0.1:6379/2") == "redis://127.0.0.1:6379/2"


@pytest.mark.parametrize(
    ("peer", "xff", "trusted", "expected"),
    [
        ("198.51.100.7", "1.2.3.4", [], "198.51.100.7"),
        ("10.0.0.2", "1.2.3.4", ["10.0.0.0/8"], "1.2.3.4"),
        ("10.0.0.2", "6.6.6.6, 1.2.3.4", ["10.0.0.0/8"], "1.2.3.4"),
        ("10.0.0.2", "1.2.3.4, 10.0.0.9", ["10.0.0.0/8"], "1.2.3.4"),
        ("10.0.0.2", "10.0.0.5, 10.0.0.9", ["10.0.0.0/8"], "10.0.0.5"),
        ("10.0.0.2", "garbage", ["10.0.0.0/8"], "10.0.0.2"),
        ("10.0.0.2", None, ["10.0.0.0/8"], "10.0.0.2"),
        ("198.51.100.7", "1.2.3.4", ["10.0.0.0/8"], "198.51.100.7"),
    ],
)
def test_client_ip(settings_env, peer, xff, trusted, expected):
    import json

    settings_env(api_trusted_proxies=json.dumps(trusted))
    headers = [(b"x-forwarded-for", xff.encode())] if xff else []
    assert client_ip({"client": (peer, 5000), "headers": headers}) == expected


def test_a_route_can_override_the_limits_with_its_own_counter(keys):
    """In process: a route declared with ``require(..., per_ip=...)`` counts apart
    from the default budget."""
    import asyncio

    from fastapi import Depends

    from directorybolt.api.app import create_app
    from directorybolt.api.auth import require

    app = create_app()

    @app.get("/api/expensive", dependencies=[Depends(require("producer", per_ip="2/minute"))])
    def expensive() -> dict[str, bool]:
        return {"ok": True}

    async def go() -> tuple[list[int], int]:
        transport = httpx.ASGITransport(app=app, client=("192.0.2.44", 4000))
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            h = Keys.bearer(keys.producer)
            codes = [(await c.get("/api/expensive", headers=h)).status_code for _ in range(3)]
            other = (await c.get("/api/admin/workers", headers=Keys.bearer(keys.staff))).status_code
            return codes, other

    codes, other = asyncio.run(go())
    assert codes == [200, 200, 429] and other == 200
