"""Sentry, through the real SDK over HTTP to a local receiver: tags present, PII absent."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import textwrap

from directorybolt.ops.sentry import REDACTED, scrub
from tests.conftest import ROOT

SCRIPT = textwrap.dedent(
    """
    import sentry_sdk
    from directorybolt.ops.sentry import capture_dead_letter
    try:
        raise RuntimeError("directory refused owner@boltplumbing.example, call +1 (503) 555-0142")
    except RuntimeError as exc:
        capture_dead_letter(exc, tags={"job_id": "J-1", "directory": "broken", "tier": "pro",
                                       "task": "tasks.submission.submit_directory"})
    sentry_sdk.flush(5)
    """
)


def _envelopes(receiver) -> list[bytes]:
    out = []
    for req in receiver.requests:
        body = req["body"]
        if req["headers"].get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        out.append(body)
    return out


def test_dead_letter_event_has_tags_and_no_pii(receiver):
    env = {**os.environ, "DIRECTORYBOLT_SENTRY_DSN": f"http://publickey@127.0.0.1:{receiver.port}/1"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    bodies = _envelopes(receiver)
    assert bodies, "no envelope reached the receiver"
    text = b"\n".join(bodies).decode()
    assert "owner@boltplumbing.example" not in text and "555-0142" not in text
    event = next(json.loads(line) for b in bodies for line in b.decode().splitlines()
                 if line.startswith("{") and '"tags"' in line)
    assert event["tags"]["job_id"] == "J-1" and event["tags"]["directory"] == "broken"
    assert event["tags"]["tier"] == "pro" and event["tags"]["task"] == "tasks.submission.submit_directory"
    assert any(req["path"].startswith("/api/1/envelope") for req in receiver.requests)


def test_scrub_redacts_by_key_and_shape():
    event = {"extra": {"email": "a@b.co", "note": "call 503-555-0142 or mail x@y.org", "phone": "1"},
             "list": ["z@w.io"]}
    s = scrub(event)
    assert s["extra"]["email"] == REDACTED and s["extra"]["phone"] == REDACTED
    assert "x@y.org" not in s["extra"]["note"] and "555" not in s["extra"]["note"]
    assert s["list"] == [REDACTED]


def test_scrub_keeps_identifiers_and_tags():
    job = "107bf7fd-c816-4867-a35a-b3b516c4bb46"
    s = scrub({"tags": {"job_id": job}, "message": f"job {job} at 2026-11-29T03:06:19 for +1 (503) 555-0142"})
    assert s["tags"]["job_id"] == job
    assert job in s["message"] and "03:06:19" in s["message"] and "555-0142" not in s["message"]
