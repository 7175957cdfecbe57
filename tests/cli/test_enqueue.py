"""Bad input at enqueue: a clear message, a non-zero exit, no traceback, nothing queued."""

from __future__ import annotations

import uuid

import pytest
from click.testing import CliRunner

from directorybolt.cli import main, seed
from directorybolt.core.queues import tier_queue
from directorybolt.store.services import redis_client


@pytest.fixture
def customer(clean) -> str:
    seed.upsert_directories([{
        "id": "plain", "name": "Plain", "url": "http://127.0.0.1:9/plain/", "tier": 1,
        "plan": {"steps": [{"action": "goto", "url": "http://127.0.0.1:9/plain/"},
                           {"action": "fill", "field": "business_name", "selector": "#n"},
                           {"action": "expect", "text": "ok"}]}}])
    return seed.customer()


def _queued() -> int:
    return sum(redis_client().llen(tier_queue(t)) for t in ("enterprise", "pro", "growth", "starter"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tier", "platinum"], "unknown tier 'platinum'"),
        (["--customer", str(uuid.UUID(int=7))], "does not exist"),
        (["--customer", "42"], "not a valid UUID"),
        (["--directories", "nowhere"], "unknown or inactive directories: nowhere"),
    ],
)
def test_enqueue_rejects_bad_input(customer, args, message):
    base = {"--customer": customer, "--tier": "starter"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    result = CliRunner().invoke(main, ["enqueue", *[x for kv in base.items() for x in kv]])
    assert result.exit_code != 0
    assert message in result.output and "Traceback" not in result.output
    assert _queued() == 0


@pytest.mark.parametrize(
    ("profile", "message"),
    [({"business_name": ""}, "business_name"), ({"website": "javascript:alert(1)"}, "http:// or https://")],
)
def test_bad_business_profile_is_refused_before_anything_is_stored(clean, profile, message):
    from directorybolt.core.errors import ValidationError

    with pytest.raises(ValidationError, match=message):
        seed.customer({**seed.DEMO_PROFILE, **profile})
    assert _queued() == 0


def test_enqueue_ok_prints_job_id_and_queues_one_message(customer):
    result = CliRunner().invoke(main, ["enqueue", "--customer", customer, "--tier", "starter", "--fast-track"])
    assert result.exit_code == 0, result.output
    uuid.UUID(result.output.strip())
    assert redis_client().llen(tier_queue("growth")) == 1


def test_status_of_unknown_job_is_a_clear_error(clean):
    result = CliRunner().invoke(main, ["status", str(uuid.UUID(int=1))])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_unreachable_database_is_a_clear_error(monkeypatch, tmp_path):
    import subprocess
    import sys

    env = {"DIRECTORYBOLT_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/x",
           "DIRECTORYBOLT_REDIS_URL": "redis://127.0.0.1:1/0", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-m", "directorybolt", "migrate"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode != 0
    assert "cannot reach a service" in out.stderr and "Traceback" not in out.stderr
