"""A real catalog entry, compiled and driven by real headless Chromium against the
sandbox's catalog-style page: proves the compiled selectors (candidate lists, the
``select`` inference, the translated ``:contains`` indicators) work in a browser,
not only in ``Plan.model_validate``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from directorybolt.catalog.compiler import compile_plan
from directorybolt.catalog.schema import CatalogEntry
from directorybolt.core.plans import Plan
from directorybolt.core.profiles import BusinessProfile
from directorybolt.execution.browser.runner import run_plan
from tests.catalog import real_catalog
from tests.conftest import CI

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
PROFILE = {
    "business_name": "Catalog Test Bakery",
    "email": "owner@catalogtest.example",
    "phone": "+1 503 555 0100",
    "website": "https://catalogtest.example",
    "address": "12 Flour Lane",
    "city": "Portland",
    "state": "OR",
    "zip": "97214",
    "description": "Sourdough since 2001.",
    "category": "Retail",
}


@pytest.fixture
def page() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if CI:
            pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browser = pw.chromium.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync"],
    )
    try:
        context = browser.new_context()
        yield context.new_page()
        context.close()
    finally:
        browser.close()
        pw.stop()


def test_a_real_entry_submits_the_catalog_style_form(page: Any, sandbox: Any) -> None:
    raw = next(e for e in real_catalog()["directories"] if not e["hasCaptcha"] and not e["requiresLogin"])
    entry = CatalogEntry.model_validate({**raw, "submissionUrl": f"{sandbox.url}/catalogstyle/"})
    plan = Plan.model_validate(compile_plan(entry))
    profile = BusinessProfile.model_validate(PROFILE, context={"allow_private_websites": True})
    httpx.delete(f"{sandbox.url}/_submissions")

    result = run_plan(page, plan, profile)

    assert result.final_url.startswith(f"{sandbox.url}/catalogstyle/")
    # Only the candidates that do not exist on this page may be skipped; every field is on it.
    assert result.skipped_fields == []
    body = httpx.get(f"{sandbox.url}/_submissions").json()
    assert body["counts"] == {f"catalogstyle|{PROFILE['business_name'].lower()}": 1}
    [submission] = body["submissions"]
    fields = submission["fields"]
    expected = {k: v for k, v in PROFILE.items() if k != "description"}
    assert {k: fields.get(k) for k in expected} == expected
    assert fields["about"] == PROFILE["description"]  # the catalog's 4th description candidate
