"""API keys: hashed at rest, verified in constant time, revocable at once; the CLI."""

from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import select

from directorybolt.cli import main
from directorybolt.store import apikeys, db
from directorybolt.store.models import ApiKey
from tests.api.conftest import Keys


def test_only_a_hash_is_stored(clean):
    info, key = apikeys.create("webhook")
    assert key.startswith(info.prefix + "_") and len(key) > 50
    with db.session() as s:
        row = s.scalar(select(ApiKey))
    assert row.key_hash == apikeys.hash_key(key) and key not in (row.key_hash, row.prefix)
    verified = apikeys.verify(key)
    assert verified is not None and (verified.id, verified.role, verified.name) == (row.id, "producer", "webhook")


def test_verify_refuses_wrong_malformed_and_revoked_keys(clean):
    info, key = apikeys.create("webhook")
    assert apikeys.verify(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert apikeys.verify("dbk_00000000_" + key[13:]) is None
    for junk in ("", "Bearer", "dbk_", key[:12], "x" * 500):
        assert apikeys.verify(junk) is None
    apikeys.revoke(info.prefix)
    assert apikeys.verify(key) is None


def test_bad_and_revoked_keys_get_401_over_http(api, keys):
    with api.client() as c:
        assert c.get("/api/admin/workers", headers=Keys.bearer(keys.staff)).status_code == 200
        assert c.get("/api/admin/workers", headers={"X-API-Key": keys.staff}).status_code == 200
        wrong = c.get("/api/admin/workers", headers=Keys.bearer(keys.staff + "x"))
        assert wrong.status_code == 401 and wrong.json() == {"error": "invalid or revoked API key"}
        basic = c.get("/api/admin/workers", headers={"Authorization": "Basic Zm9vOmJhcg=="})
        assert basic.status_code == 401 and "missing API key" in basic.json()["error"]
        apikeys.revoke(keys.staff[:12])
        assert c.get("/api/admin/workers", headers=Keys.bearer(keys.staff)).status_code == 401


def test_last_used_is_recorded(api, keys):
    with api.client() as c:
        c.get("/api/admin/workers", headers=Keys.bearer(keys.staff))
    used = {k.prefix: k.last_used_at for k in apikeys.list_keys()}
    assert used[keys.staff[:12]] is not None and used[keys.producer[:12]] is None


def test_cli_create_list_revoke(clean):
    runner = CliRunner()
    created = runner.invoke(main, ["apikey", "create", "--name", "ops", "--staff", "--json"])
    assert created.exit_code == 0, created.output
    made = json.loads(created.output)
    assert made["role"] == "staff" and apikeys.verify(made["key"]) is not None

    plain = runner.invoke(main, ["apikey", "create", "--name", "stripe"])
    assert plain.exit_code == 0 and "key: dbk_" in plain.output and "cannot be shown again" in plain.output

    listed = json.loads(runner.invoke(main, ["apikey", "list", "--json"]).output)
    assert [k["name"] for k in listed] == ["ops", "stripe"] and all("key" not in k for k in listed)
    assert made["key"] not in runner.invoke(main, ["apikey", "list"]).output

    by_id = runner.invoke(main, ["apikey", "revoke", str(made["id"])])
    assert by_id.exit_code == 0 and "revoked staff key" in by_id.output
    assert apikeys.verify(made["key"]) is None
    by_prefix = runner.invoke(main, ["apikey", "revoke", listed[1]["prefix"]])
    assert by_prefix.exit_code == 0
    missing = runner.invoke(main, ["apikey", "revoke", "dbk_ffffffff"])
    assert missing.exit_code != 0 and "no API key" in missing.output and "Traceback" not in missing.output
