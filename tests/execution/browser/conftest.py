"""A real headless Chromium that cannot leave loopback, and a local page server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CI
from tests.execution.browser.pages import CHROMIUM, CHROMIUM_ARGS, PageServer, offline_context, realforms_dir


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        if CI:
            pytest.fail(f"{CHROMIUM} is missing (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield b
    finally:
        b.close()
        pw.stop()


@pytest.fixture
def pages() -> Iterator[PageServer]:
    server = PageServer()
    yield server
    server.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with offline_context(browser) as (context, _):
        yield context.new_page()


@pytest.fixture(scope="module")
def realforms() -> Iterator[PageServer]:
    folder = realforms_dir()
    if folder is None:
        msg = "the real forms are missing (../shared/data/realforms/ or DIRECTORYBOLT_REALFORMS_DIR)"
        if CI:
            pytest.fail(msg)
        pytest.skip(msg)
    server = PageServer(folder)
    yield server
    server.close()
