"""The staff console in real headless Chromium (Playwright) against the real API
server, with a real Celery worker submitting to the sandbox where a test needs one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from directorybolt.cli import seed
from directorybolt.execution.browser.pool import CHROMIUM_ARGS
from directorybolt.store import db
from directorybolt.store import staff as accounts
from directorybolt.store.services import redis_client
from tests.conftest import CI, wait_until
from tests.execution.conftest import FAST, enqueue, make_customer, wait_finished
from tests.lifecycle.review_jobs import finished_job

pytestmark = [pytest.mark.slow, pytest.mark.browser]

HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    from directorybolt.core.settings import get_settings

    executable = get_settings().resolved_chromium()
    if executable is None:
        if CI:
            pytest.fail("Chromium is required in CI (apt-get install chromium)")
        pytest.skip("Chromium is not installed")
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()
    pw.stop()


@pytest.fixture
def browser(chromium: Any) -> Iterator[Any]:
    """Opens pages in fresh contexts (one per staff member), closed after the test."""
    contexts: list[Any] = []

    class Opener:
        def page(self) -> Any:
            context = chromium.new_context(viewport={"width": 1280, "height": 860})
            context.set_default_timeout(15_000)
            contexts.append(context)
            return context.new_page()

    yield Opener()
    for c in contexts:
        c.close()


def sign_in(page: Any, base: str, name: str, password: str | None = None, goto: str = "/console") -> Any:
    password = password or accounts.create(name)
    page.goto(base + goto)
    assert "/console/sign-in" in page.url
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    return page


def test_unauthenticated_redirect_then_sign_in_lands_where_asked(api, browser, clean):
    page = browser.page()
    page.goto(api.url + "/console/workers")
    assert page.url == api.url + "/console/sign-in?next=/console/workers"
    sign_in(page, api.url, "ann", goto="/console/workers")
    page.wait_for_url(api.url + "/console/workers")
    assert page.locator("h1").inner_text() == "Workers"
    assert page.locator(".who").inner_text() == "ann"


def test_wrong_password_then_the_rate_limit(start_api, browser, clean):
    server = start_api(console_signin_rate="4/minute")
    password = accounts.create("ann")
    page = browser.page()
    sign_in(page, server.url, "ann", password)
    page.wait_for_url(server.url + "/console")
    page.click("text=Sign out")
    page.wait_for_url(f"{server.url}/console/sign-in")
    answers = []
    page.on("response", lambda r: answers.append(r.status) if r.request.method == "POST" else None)
    for _ in range(3):
        page.fill("input[name=name]", "ann")
        page.fill("input[name=password]", "not-the-password")
        page.click("button[type=submit]")
        page.wait_for_load_state()
        assert page.locator(".error").inner_text() == "Wrong name or password."
    page.fill("input[name=name]", "ann")
    page.fill("input[name=password]", password)  # even the right one: the address is over its limit
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".error").inner_text().startswith("Too many sign-in attempts")
    assert answers == [401, 401, 401, 429]


def test_watch_a_job_live_then_finish_its_review_item(api, browser, clean, settings_env, sandbox, start_worker):
    settings_env(**FAST)
    httpx.delete(f"{sandbox.url}/_submissions")
    httpx.post(f"{sandbox.url}/_control", json={"slow_delay": 1.5})
    seed.seed_sandbox(sandbox.url)
    start_worker(concurrency=1)
    job_id = enqueue(make_customer(), ["plain", "select", "slow", "wizard", "captcha"])
    page = browser.page()
    sign_in(page, api.url, "ann", goto=f"/console/jobs/{job_id}")
    page.wait_for_url(api.url + f"/console/jobs/{job_id}")
    page.evaluate("window.__samePage = true")
    seen = {page.locator("#progress-count").inner_text()}
    wait_until(lambda: seen.add(page.locator("#progress-count").inner_text()) or "5 / 5" in seen, 90,
               interval=0.25, what="the job page to show progress")
    assert len(seen) >= 3, f"the count moved on the open page: {sorted(seen)}"
    assert page.evaluate("window.__samePage") is True, "updated in place, not reloaded"
    page.locator(".progress .s-waiting_for_staff").wait_for()
    assert wait_finished(job_id)["status"] == "partial"

    page.click("text=review #")
    page.click("text=Claim this item")
    assert "You hold this item" in page.locator(".flash").inner_text()
    assert page.locator("#field-business_name").inner_text() == "Bolt Plumbing & Heating"
    assert page.locator("#directory-url").get_attribute("href").startswith(sandbox.url)
    page.fill("input[name=evidence_url]", f"{sandbox.url}/captcha/listing/1")
    page.click("button[value=submitted]")
    assert page.locator(".flash").inner_text() == "Resolved as submitted; the job is completed."
    page.click(f"a[href='/console/jobs/{job_id}']")
    assert page.locator(".progress .status").first.inner_text() == "completed"
    with httpx.Client(base_url=api.url) as c:
        from directorybolt.store import apikeys

        staff_key = apikeys.create("browser test staff", "staff")[1]
        seen_by_api = c.get(f"/api/jobs/{job_id}", headers={"Authorization": f"Bearer {staff_key}"}).json()
    assert (seen_by_api["status"], seen_by_api["counts"]["submitted"]) == ("completed", 5)


def test_a_lapsed_lease_opens_the_item_again(start_api, browser, clean):
    server = start_api(review_lease_s=2)
    finished_job({"a": "needs_review"})
    page = browser.page()
    sign_in(page, server.url, "ann", goto="/console/reviews")
    page.click("text=#1")
    page.click("text=Claim this item")
    assert page.locator("form.resolve").count() == 1
    with db.session() as s:
        s.execute(text("SELECT pg_sleep(2.2)"))  # the database's clock decides
    page.reload()
    assert page.locator("h1 .status").inner_text() == "open"
    assert page.locator("text=Claim this item").count() == 1


def test_two_staff_resolve_the_same_item_at_once_one_wins(start_api, browser, clean):
    """ann claims; her lease lapses and bob claims; ann's page still shows the resolve
    form. Both press Submitted at the same moment: bob's counts, ann is told why not."""
    server = start_api(review_lease_s=2)
    job_id = finished_job({"a": "submitted", "b": "needs_review"})
    ann, bob = browser.page(), browser.page()
    sign_in(ann, server.url, "ann", goto="/console/reviews/1")
    ann.click("text=Claim this item")
    with db.session() as s:
        s.execute(text("SELECT pg_sleep(2.2)"))
    sign_in(bob, server.url, "bob", goto="/console/reviews/1")
    bob.click("text=Claim this item")
    for page in (ann, bob):
        page.fill("textarea[name=note]", "listed by hand")
    press = "document.querySelector('form.resolve button[value=submitted]').click()"
    ann.evaluate(press)
    bob.evaluate(press)
    for page in (ann, bob):
        page.wait_for_url("**/console/reviews/1?msg=*")
    messages = {ann.locator(".flash").inner_text(), bob.locator(".flash").inner_text()}
    assert messages == {"Resolved as submitted; the job is completed.",
                        "review item 1 is claimed by bob; only they can resolve it"}, messages
    assert "Resolved" in bob.locator(".flash").inner_text()
    with db.session() as s:
        events = s.scalar(text("SELECT count(*) FROM queue_history WHERE job_id = :j AND event = 'review_submitted'"),
                          {"j": job_id})
        status = s.scalar(text("SELECT status FROM jobs WHERE id = :j"), {"j": job_id})
    assert (events, status) == (1, "completed")


def test_replay_a_dead_letter_from_the_console(api, browser, clean, customer_id):
    from tests.api.test_admin import _failed_submission

    job_id, dl_id = _failed_submission(customer_id)
    redis_client().delete("submissions.growth")
    page = browser.page()
    sign_in(page, api.url, "ann", goto="/console/dead-letters")
    page.click(f"text=#{dl_id}")
    page.click("text=Replay…")
    assert page.locator(".confirm").inner_text().startswith(f"Replay dead letter #{dl_id}?")
    page.click("text=Yes, replay")
    assert page.locator(".flash").inner_text() == f"Dead letter {dl_id} replayed by ann."
    with db.session() as s:
        assert s.scalar(text("SELECT state FROM dead_letters WHERE id = :i"), {"i": dl_id}) == "replayed"
    assert redis_client().llen("submissions.growth") == 1, "back on its tier queue"


def test_a_post_without_the_csrf_token_is_refused(api, browser, clean):
    finished_job({"a": "needs_review"})
    page = browser.page()
    sign_in(page, api.url, "ann", goto="/console/reviews/1")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.click("text=Claim this item")
    assert answer.value.status == 403
    assert "without its security token" in page.locator(".error").inner_text()
    with db.session() as s:
        assert s.scalar(text("SELECT state FROM review_items")) == "open"


def test_a_hostile_business_name_renders_as_text(api, browser, clean):
    job_id = finished_job({"a": "needs_review"})
    with db.session() as s:
        s.execute(text("UPDATE customers SET business_name = :v"), {"v": HOSTILE})
        s.execute(text("UPDATE job_results SET error_message = :v"), {"v": HOSTILE})
    page = browser.page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, api.url, "ann", goto="/console/reviews/1")
    assert page.locator("#field-business_name").inner_text() == HOSTILE
    assert HOSTILE in page.locator(".reason").inner_text()
    for path in ("/console/reviews", f"/console/jobs/{job_id}", "/console/jobs"):
        page.goto(api.url + path)
        assert HOSTILE in page.locator("main").inner_text()
        assert page.evaluate("window.__pwned") is None
        assert page.evaluate("document.querySelectorAll('main script, main img[src=x]').length") == 0
    assert dialogs == []
    with contextlib.suppress(Exception):
        page.close()
