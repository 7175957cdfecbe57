"""``directorybolt plan suggest`` as an operator runs it: a real process, the pooled
Chromium, pages served from loopback (``--same-host`` aborts everything else)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from directorybolt.catalog import stored_plan
from directorybolt.cli import seed
from directorybolt.store import cache, db
from tests.conftest import CI
from tests.execution.browser.pages import PageServer, realforms_dir
from tests.execution.browser.realforms import FORMS

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CLI = str(Path(sys.executable).with_name("directorybolt"))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, "plan", "suggest", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def realforms() -> Iterator[PageServer]:
    folder = realforms_dir()
    if folder is None:
        if CI:
            pytest.fail("the real forms are missing (../shared/data/realforms/)")
        pytest.skip("the real forms are missing (../shared/data/realforms/)")
    server = PageServer(folder)
    yield server
    server.close()


@pytest.mark.parametrize("form", FORMS, ids=[f.file[:2] for f in FORMS])
def test_suggest_and_try_on_every_real_form(realforms: PageServer, form: Any) -> None:
    out = run(f"{realforms.url}/{form.file}", "--json", "--try", "--same-host")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["review_reason"] == form.review, report["review_detail"]
    assert {"selector", "field", "confidence", "evidence"} <= set(report["fields"][0])
    assert isinstance(report["traps"], list) and report["steps"][0] == {"action": "goto",
                                                                        "url": f"{realforms.url}/{form.file}"}
    assert report["tried"]["completed"] is True, report["tried"]
    assert realforms.posts == [], "--try never sends the form"
    if form.file.startswith("10-"):
        assert report["traps"] == ['input[name="company_website"]']
        assert 'input[name="company_website"]' not in report["tried"]["values"]


def test_human_output_shows_evidence_traps_and_review(realforms: PageServer) -> None:
    out = run(f"{realforms.url}/10-b2b-honeypot.html", "--same-host")
    assert out.returncode == 0, out.stderr
    assert "business_name" in out.stdout and "<- label 'Business name *'" in out.stdout
    assert "trap, left empty: input[name=\"company_website\"] (aria-hidden, tabindex=-1" in out.stdout
    assert "review none" in out.stdout


def test_save_stores_the_draft_on_the_directory(clean, realforms: PageServer) -> None:
    seed.upsert_directories([{"id": "ie-pros", "name": "IE Pros", "url": f"{realforms.url}/"}])
    with db.session() as s:
        assert cache.get_directory(s, "ie-pros").plan is None  # cached before the save
    out = run(f"{realforms.url}/18-909pros-formspree.html", "--json", "--save", "ie-pros", "--same-host")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["saved"] == "ie-pros" and stored_plan("ie-pros") == report["plan"]
    with db.session() as s:
        assert cache.get_directory(s, "ie-pros").plan == report["plan"], "the cache forgot the old plan"
    fields = [s.get("field") for s in report["plan"]["steps"]]
    assert fields.count("business_name") == 1 and "contact_name" in fields


def test_save_with_a_review_reason_stores_it(clean, realforms: PageServer) -> None:
    seed.upsert_directories([{"id": "cornwall", "name": "Cornwall", "url": f"{realforms.url}/"}])
    out = run(f"{realforms.url}/12-cornwall-bootstrap-ids-only.html", "--save", "cornwall", "--same-host")
    assert out.returncode == 0, out.stderr
    assert stored_plan("cornwall")["review_reason"] == "upload_required"


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(("args", "env", "message"), [
    (["ftp://example.com/form"], {}, "not a page address"),
    (["not a url"], {}, "not a page address"),
    (["http://127.0.0.1:{port}/form"], {}, "egress rules refuse private and loopback addresses"),
    (["http://127.0.0.1:{port}/form"], {"DIRECTORYBOLT_BROWSER_ALLOWED_ORIGINS": '["127.0.0.1:{port}"]'},
     "cannot open http://127.0.0.1:{port}/form: net::ERR_CONNECTION_REFUSED"),
    (["http://127.0.0.1:{port}/form"], {"DIRECTORYBOLT_CHROMIUM_PATH": "/nonexistent/chromium"}, "browser"),
])
def test_errors_are_one_line_and_a_non_zero_exit(args, env, message) -> None:
    port = _closed_port()
    message = message.format(port=port)
    out = run(*(a.format(port=port) for a in args), env={k: v.replace("{port}", str(port)) for k, v in env.items()})
    assert out.returncode != 0
    assert message in out.stderr and "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_an_unknown_directory_fails_before_the_browser(clean) -> None:
    out = run("http://127.0.0.1:9/form", "--save", "nope", env={"DIRECTORYBOLT_CHROMIUM_PATH": "/nonexistent"})
    assert out.returncode == 1 and out.stderr.strip() == "Error: no directory 'nope' in the catalog"
