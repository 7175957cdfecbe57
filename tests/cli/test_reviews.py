"""``directorybolt review`` and ``directorybolt staff``: the workflow from a terminal,
clear messages and non-zero exits for refusals, never a traceback."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from directorybolt.cli import main
from directorybolt.store import staff as accounts
from tests.lifecycle.review_jobs import finished_job


def run(*args: str, ok: bool = True) -> str:
    result = CliRunner().invoke(main, list(args))
    assert (result.exit_code == 0) == ok, result.output
    assert "Traceback" not in result.output
    return result.output


def test_open_to_resolved_and_the_job_to_completed(clean):
    job_id = finished_job({"a": "submitted", "b": "needs_review"}, tier="pro")
    listing = run("review", "list")
    assert re.search(r"pro\s+1 waiting", listing) and "captcha" in listing
    (item,) = json.loads(run("review", "list", "--json"))["items"]
    assert item["state"] == "open"
    assert json.loads(run("review", "list", "--tier", "enterprise", "--json"))["items"] == []
    shown = run("review", "show", str(item["id"]))
    assert "directory_url: http://127.0.0.1:9/b/" in shown and "business_name:" in shown
    assert "claimed review item" in run("review", "claim", str(item["id"]), "--staff", "ann")
    refused = run("review", "claim", str(item["id"]), "--staff", "bob", ok=False)
    assert "claimed by ann" in refused
    assert "needs evidence" in run("review", "resolve", str(item["id"]), "--as", "submitted", "--staff", "ann",
                                   ok=False)
    done = run("review", "resolve", str(item["id"]), "--as", "submitted", "--evidence", "https://d.example/l/9",
               "--staff", "ann")
    assert f"job {job_id} is completed (finalised: completed)" in done
    assert "already resolved" in run("review", "resolve", str(item["id"]), "--as", "failed", "--note", "x",
                                     "--staff", "ann", ok=False)
    assert "does not exist" in run("review", "show", "424242", ok=False)
    assert "unknown tier" in run("review", "list", "--tier", "gold", ok=False)
    assert "Missing option '--staff'" in run("review", "claim", "1", ok=False)


def test_staff_create_prints_a_one_time_password_stored_hashed(clean):
    out = run("staff", "create", "ann")
    password = out.rsplit(": ", 1)[1].strip()
    assert len(password) >= 16
    signed = accounts.sign_in("ann", password, 60)
    assert signed is not None and signed[1].name == "ann"
    assert accounts.sign_in("ann", password + "x", 60) is None
    assert "exists already" in run("staff", "create", "ann", ok=False)
    assert "without spaces" in run("staff", "create", "a b", ok=False)
    from sqlalchemy import text

    from directorybolt.store import db
    with db.session() as s:
        stored = s.scalar(text("SELECT password_hash FROM staff_accounts WHERE name = 'ann'"))
    assert stored.startswith("$argon2id$") and password not in stored
