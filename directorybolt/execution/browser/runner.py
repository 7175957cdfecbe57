"""Executes a plan in a page and classifies what happened.

The outcome is decided by evidence on the page (HTTP status of the document, a
CAPTCHA widget, a success indicator), never assumed: no confirmation seen means
``needs_review``, not ``submitted``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from directorybolt.core.errors import (
    DirectoryBoltError,
    EgressRefused,
    NavigationTimeout,
    NeedsReview,
    PlanError,
    RateLimited,
    SiteRejected,
    SiteUnavailable,
)
from directorybolt.core.plans import Plan, Step
from directorybolt.core.profiles import BusinessProfile
from directorybolt.execution.browser import egress
from directorybolt.execution.browser.options import Option, best_option


@dataclass
class RunResult:
    final_url: str = ""
    steps_done: int = 0
    skipped_fields: list[str] = field(default_factory=list)
    stopped_before: int | None = None  # the final click's index, when asked to stop there


class _DocumentStatus:
    """Remembers the HTTP status of the last main-frame document, so a form POST that
    answers 500 or 429 is seen even though the browser renders it as a page."""

    def __init__(self, page: Any) -> None:
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self._page = page
        page.on("response", self._on_response)

    def _on_response(self, response: Any) -> None:
        req = response.request
        if req.resource_type == "document" and response.frame == self._page.main_frame:
            self.status = response.status
            self.headers = response.headers

    def check(self) -> None:
        status = self.status
        if status is None or status < 400:
            return
        if status == 429:
            raise RateLimited("directory rate-limited us (HTTP 429)", retry_after_s=_retry_after(self.headers))
        if status >= 500:
            raise SiteUnavailable(f"directory answered HTTP {status}")
        raise SiteRejected(f"directory rejected the submission (HTTP {status})")


def _retry_after(headers: dict[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value and value.strip().isdigit():
        return float(value.strip())
    return None


def _first_present(page: Any, candidates: list[str]) -> Any | None:
    for sel in candidates:
        loc = page.locator(sel)
        try:
            if loc.count() > 0:
                return loc.first
        except Exception as exc:  # an invalid selector is a plan bug, not a site problem
            raise PlanError(f"invalid selector {sel!r}: {str(exc).splitlines()[0]}") from exc
    return None


def _any_of(page: Any, candidates: list[str]) -> Any:
    loc = page.locator(candidates[0])
    for sel in candidates[1:]:
        loc = loc.or_(page.locator(sel))
    return loc.first


_OPTIONS_JS = "el => Array.from(el.options).map(o => [o.value, o.label || o.text, o.disabled])"


def _matching_option(select: Any, wanted: str, *, key: str | None = None, country: str | None = None) -> str | None:
    """A literal value must equal an option's value or label; a business field's value
    picks the clearly best option (``options.best_option``: never a paid one)."""
    if not wanted:
        return None
    options = [Option(str(v), str(label), bool(d)) for v, label, d in select.evaluate(_OPTIONS_JS)]
    if key is None:
        w = wanted.strip().lower()
        return next((o.value for o in options if w in (o.value.strip().lower(), o.label.strip().lower())), None)
    chosen = best_option(options, wanted, key, country)
    return chosen.value if chosen is not None else None


def detect_captcha(page: Any, plan: Plan) -> None:
    if plan.captcha_selectors and _first_present(page, list(plan.captcha_selectors)) is not None:
        raise NeedsReview("the page shows a CAPTCHA; a person must finish this submission", category="captcha")


def _final_click_index(plan: Plan) -> int:
    """The click that sends the form: the last click before the first expect."""
    first_expect = next(i for i, s in enumerate(plan.steps) if s.action == "expect")
    clicks = [i for i, s in enumerate(plan.steps[:first_expect]) if s.action == "click"]
    return clicks[-1] if clicks else -1


def run_plan(
    page: Any,
    plan: Plan,
    profile: BusinessProfile,
    *,
    step_timeout_ms: int = 5000,
    navigation_timeout_ms: int = 15000,
    on_commit: Callable[[], None] | None = None,
    stop_before_commit: bool = False,
) -> RunResult:
    """Run every step; ``on_commit`` is called just before the click that sends the
    form, so a crash after that point is known to be ambiguous. ``stop_before_commit``
    (``plan suggest --try``) runs everything up to that click and sends nothing."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    if plan.review_reason:
        raise NeedsReview(plan.review_reason, category="manual")
    guard = egress.filter_of(page)
    if guard is not None:
        guard.allow_plan(plan)
    doc = _DocumentStatus(page)
    page.set_default_timeout(step_timeout_ms)
    page.set_default_navigation_timeout(navigation_timeout_ms)
    commit_at = _final_click_index(plan)
    result = RunResult()
    for i, step in enumerate(plan.steps):
        if stop_before_commit and (i == commit_at or (commit_at < 0 and step.action == "expect")):
            result.stopped_before = i
            break
        try:
            _run_step(page, plan, step, profile, result, doc, on_commit if i == commit_at else None)
        except PlaywrightTimeout as exc:
            doc.check()
            if step.action == "goto":
                raise NavigationTimeout(f"page did not load in {navigation_timeout_ms} ms") from exc
            if step.action == "expect":
                detect_captcha(page, plan)
                raise NeedsReview("no confirmation appeared after submitting", category="unconfirmed") from exc
            raise NeedsReview(
                f"step {i + 1} ({step.action}) timed out; the form may have changed", category="form_changed"
            ) from exc
        except PlaywrightError as exc:
            if step.action != "goto" or "net::ERR_" not in str(exc):
                raise
            raise _navigation_error(str(exc)) from exc
        result.steps_done = i + 1
    result.final_url = page.url
    return result


def _navigation_error(message: str) -> DirectoryBoltError:
    """A page that did not load: refused by our own egress rules (a plan or setting to
    fix, never retried), or a network failure of the site (worth another try)."""
    code = message.split("net::", 1)[1].split()[0]
    if code == "ERR_BLOCKED_BY_CLIENT":
        return EgressRefused("the browser's egress rules refused this directory's address; allow it in its plan "
                             "or in DIRECTORYBOLT_BROWSER_ALLOWED_ORIGINS")
    return SiteUnavailable(f"the directory's page did not load ({code})")


def _run_step(
    page: Any,
    plan: Plan,
    step: Step,
    profile: BusinessProfile,
    result: RunResult,
    doc: _DocumentStatus,
    on_commit: Callable[[], None] | None,
) -> None:
    a = step.action
    timeout = step.timeout_ms
    if a == "goto":
        page.goto(step.url, wait_until="domcontentloaded", timeout=timeout)
        doc.check()
        detect_captcha(page, plan)
        return
    if a == "expect":
        if step.selector:
            _any_of(page, step.selector).wait_for(state="visible", timeout=timeout)
        if step.text:
            page.get_by_text(re.compile(re.escape(step.text), re.I)).first.wait_for(state="visible", timeout=timeout)
        doc.check()
        return
    if a == "wait_for":
        _any_of(page, step.selector).wait_for(state="visible", timeout=timeout)
        return
    target = _first_present(page, step.selector)
    if target is None:
        if step.optional:
            if step.field:
                result.skipped_fields.append(step.field)
            return
        raise NeedsReview(
            f"the form changed: none of {step.selector} is on the page", category="form_changed"
        )
    if a in ("fill", "select") and step.field and not profile.field(step.field):
        _missing(target, step, result)
        return
    if a == "fill":
        assert step.field
        target.fill(profile.field(step.field), timeout=timeout)
    elif a == "select":
        value = profile.field(step.field) if step.field else (step.value or "")
        option = _matching_option(target, value, key=step.field, country=profile.country)
        if option is None:
            if step.optional:
                return
            raise NeedsReview(f"no option matches {value!r} in {step.selector[0]}", category="unmapped_option")
        target.select_option(value=option, timeout=timeout)
    elif a == "check":
        target.check(timeout=timeout)
    elif a in ("next", "click"):
        if on_commit is not None:
            on_commit()
        target.click(timeout=timeout)
        page.wait_for_load_state("domcontentloaded")
        doc.check()
        detect_captcha(page, plan)


def _missing(target: Any, step: Step, result: RunResult) -> None:
    """The customer has no value for this field: leave the input alone, unless the
    form insists on it (then a person decides: we never make a value up)."""
    if step.optional or not target.evaluate("el => el.required || el.getAttribute('aria-required') === 'true'"):
        result.skipped_fields.append(str(step.field))
        return
    raise NeedsReview(f"the form requires {step.field}, which the business profile does not have",
                      category="missing_field")
