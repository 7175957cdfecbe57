"""The sandbox catalog: one directory per sign-up flow, each with its declarative plan.

The entries have the shape :func:`directorybolt.seed.upsert_directories` loads, so
the demo, the tests and the benchmarks seed the sandbox exactly like a real catalog.
Plans are plain dicts (what the database stores); each validates with
:class:`~directorybolt.browser.plans.Plan`.
"""

from __future__ import annotations

from typing import Any

#: Directory id (the URL path prefix) → display name, in catalog order.
DIRECTORY_NAMES: dict[str, str] = {
    "plain": "Plain Directory",
    "wizard": "Wizard Directory",
    "select": "Select Directory",
    "slow": "Slow Directory",
    "transient": "Flaky Directory",
    "ratelimited": "Rate-limited Directory",
    "broken": "Broken Directory",
    "captcha": "Captcha Directory",
    "changed": "Changed Directory",
    "nomap": "Unmapped Directory",
    "catalogstyle": "Catalog-style Directory",
}

#: id → (category, domain authority, tier). Authorities are distinct so that any
#: ordering by authority is deterministic.
_LISTING: dict[str, tuple[str, int, int]] = {
    "plain": ("general-directory", 90, 1),
    "wizard": ("local-business", 88, 2),
    "select": ("local-business", 86, 2),
    "slow": ("general-directory", 84, 1),
    "transient": ("general-directory", 82, 1),
    "ratelimited": ("business-directory", 80, 1),
    "broken": ("business-directory", 78, 1),
    "captcha": ("review-site", 76, 1),
    "changed": ("business-directory", 74, 1),
    "nomap": ("local-business", 72, 1),
    "catalogstyle": ("general-directory", 70, 3),
}

#: Every sandbox confirmation page shows both; asking for both means a 200 error page never passes.
EXPECT: dict[str, Any] = {"action": "expect", "selector": [".success-message"], "text": "Listing received"}


def _goto(url: str) -> dict[str, Any]:
    return {"action": "goto", "url": url}


def _fill(field: str, *selectors: str, optional: bool = False) -> dict[str, Any]:
    return {"action": "fill", "field": field, "selector": list(selectors), "optional": optional}


def _click(*selectors: str) -> dict[str, Any]:
    return {"action": "click", "selector": list(selectors)}


def _plain_plan(url: str) -> dict[str, Any]:
    """The plan of the plain form; slow, transient, rate-limited and broken share it."""
    return {"steps": [
        _goto(url),
        _fill("business_name", "#business_name"),
        _fill("email", "#email"),
        _fill("phone", "#phone", optional=True),
        _fill("website", "#website", optional=True),
        _fill("description", "#description", optional=True),
        _click("#submit"),
        EXPECT,
    ]}


def _plans(u: dict[str, str]) -> dict[str, dict[str, Any] | None]:
    """Plans by directory id; ``u`` maps an id to its form URL."""
    return {
        "plain": _plain_plan(u["plain"]),
        "wizard": {"steps": [
            _goto(u["wizard"]),
            _fill("business_name", "#company"),
            _fill("email", "#contact"),
            _click("button.next"),
            {"action": "wait_for", "selector": ["#telephone"]},
            _fill("phone", "#telephone", optional=True),
            _fill("website", "#homepage", optional=True),
            _click("button.next"),
            {"action": "wait_for", "selector": ["#about"]},
            _fill("description", "#about", optional=True),
            _click("button.finish"),
            EXPECT,
        ]},
        "select": {"steps": [
            _goto(u["select"]),
            _fill("business_name", "#biz_name"),
            _fill("email", "#biz_email"),
            {"action": "select", "field": "category", "selector": ["#category"]},
            _fill("city", "#city", optional=True),
            {"action": "select", "field": "state", "selector": ["#state"]},
            _fill("zip", "#zip", optional=True),
            _fill("description", "#desc", optional=True),
            {"action": "check", "selector": ["#terms"]},
            _click("#send"),
            EXPECT,
        ]},
        "slow": _plain_plan(u["slow"]),
        "transient": _plain_plan(u["transient"]),
        "ratelimited": _plain_plan(u["ratelimited"]),
        "broken": _plain_plan(u["broken"]),
        # A normal plan: the runner notices the widget on the page and stops for a person.
        "captcha": {"steps": [
            _goto(u["captcha"]),
            _fill("business_name", "#name"),
            _fill("email", "#email"),
            _click("#submit"),
            EXPECT,
        ]},
        # Written for the form as it was; the site now has #listing_title, so this must end as form_changed.
        "changed": {"steps": [
            _goto(u["changed"]),
            _fill("business_name", "#biz-name", "input[name='biz_name']"),
            _fill("email", "#biz-email"),
            _click("#publish"),
            EXPECT,
        ]},
        # No plan on purpose: the form-mapping fallback must place the fields itself.
        "nomap": None,
        # The product catalog's candidate lists and success indicators.
        "catalogstyle": {"steps": [
            _goto(u["catalogstyle"]),
            _fill("business_name", "#business-name", "input[name='business_name']"),
            _fill("email", "#email", "input[name='email']", "input[type='email']", optional=True),
            _fill("phone", "#phone", optional=True),
            _fill("website", "#website", optional=True),
            _fill("address", "#address", optional=True),
            _fill("city", "#city", optional=True),
            {"action": "select", "field": "state", "selector": ["#state", "select[name='state']"], "optional": True},
            _fill("zip", "#zip", optional=True),
            {"action": "select", "field": "category", "selector": ["#category", "select[name='category']"],
             "optional": True},
            _fill("description", "#description", "textarea[name='about']", optional=True),
            _click("#submit-btn", "button[type='submit']"),
            {"action": "expect", "selector": [".success-message", "h1:has-text(\"Thank you\")"]},
        ]},
    }


def sandbox_directories(base_url: str, *, clones: int = 0) -> list[dict[str, Any]]:
    """The sandbox catalog for a sandbox served at ``base_url``.

    ``clones`` appends plain directories ``plain-1`` … ``plain-N`` (served by the app
    too) for tests and benchmarks that need many directories; their authorities
    count down from 69, below every named directory (distinct for up to 68 clones).
    """
    base = base_url.rstrip("/")
    urls = {d: f"{base}/{d}/" for d in DIRECTORY_NAMES}
    plans = _plans(urls)

    def entry(did: str, name: str, category: str, da: int, tier: int, plan: dict[str, Any] | None) -> dict[str, Any]:
        url = f"{base}/{did}/"
        return {"id": did, "name": name, "url": url, "submission_url": url, "category": category,
                "domain_authority": da, "tier": tier, "plan": plan}

    entries = [entry(d, name, *_LISTING[d], plans[d]) for d, name in DIRECTORY_NAMES.items()]
    for i in range(1, clones + 1):
        did = f"plain-{i}"
        entries.append(entry(did, f"Plain Directory {i}", "general-directory", max(1, 70 - i), 1,
                             _plain_plan(f"{base}/{did}/")))
    return entries
