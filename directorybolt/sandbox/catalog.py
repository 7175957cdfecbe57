"""The sandbox catalog: one directory per sign-up flow, with its declarative plan."""

from __future__ import annotations

from typing import Any

EXPECT = {"action": "expect", "selector": [".success-message"], "text": "Listing received"}


def _fill(field: str, *selectors: str, optional: bool = False) -> dict[str, Any]:
    return {"action": "fill", "field": field, "selector": list(selectors), "optional": optional}


def _plain_plan(url: str) -> dict[str, Any]:
    return {"steps": [
        {"action": "goto", "url": url},
        _fill("business_name", "#business_name"),
        _fill("email", "#email"),
        _fill("phone", "#phone", optional=True),
        _fill("website", "#website", optional=True),
        _fill("description", "#description", optional=True),
        {"action": "click", "selector": ["#submit"]},
        EXPECT,
    ]}


def sandbox_directories(base_url: str, *, clones: int = 0) -> list[dict[str, Any]]:
    """The sandbox catalog; ``clones`` adds plain directories ``plain-1`` … for tests
    and benchmarks that need many directories."""
    base = base_url.rstrip("/")

    def entry(did: str, name: str, da: int, tier: int, plan: dict[str, Any] | None) -> dict[str, Any]:
        return {"id": did, "name": name, "url": f"{base}/{did}/", "submission_url": f"{base}/{did}/",
                "category": "general-directory", "domain_authority": da, "tier": tier, "plan": plan}

    u = lambda d: f"{base}/{d}/"  # noqa: E731
    wizard = {"steps": [
        {"action": "goto", "url": u("wizard")},
        _fill("business_name", "#company"), _fill("email", "#contact"),
        {"action": "click", "selector": ["button.next"]},
        {"action": "wait_for", "selector": ["#telephone"]},
        _fill("phone", "#telephone", optional=True), _fill("website", "#homepage", optional=True),
        {"action": "click", "selector": ["button.next"]},
        {"action": "wait_for", "selector": ["#about"]},
        _fill("description", "#about", optional=True),
        {"action": "click", "selector": ["button.finish"]},
        EXPECT,
    ]}
    select = {"steps": [
        {"action": "goto", "url": u("select")},
        _fill("business_name", "#biz_name"), _fill("email", "#biz_email"),
        {"action": "select", "field": "category", "selector": ["#category"]},
        _fill("city", "#city", optional=True),
        {"action": "select", "field": "state", "selector": ["#state"]},
        _fill("zip", "#zip", optional=True), _fill("description", "#desc", optional=True),
        {"action": "check", "selector": ["#terms"]},
        {"action": "click", "selector": ["#send"]},
        EXPECT,
    ]}
    captcha = {"steps": [
        {"action": "goto", "url": u("captcha")},
        _fill("business_name", "#name"), _fill("email", "#email"),
        {"action": "click", "selector": ["#submit"]}, EXPECT,
    ]}
    changed = {"steps": [
        {"action": "goto", "url": u("changed")},
        _fill("business_name", "#biz-name", "input[name='biz_name']"), _fill("email", "#biz-email"),
        {"action": "click", "selector": ["#publish"]}, EXPECT,
    ]}
    catalogstyle = {"steps": [
        {"action": "goto", "url": u("catalogstyle")},
        _fill("business_name", "#business-name", "input[name='business_name']"),
        _fill("email", "#email", "input[name='email']", "input[type='email']", optional=True),
        _fill("phone", "#phone", optional=True), _fill("website", "#website", optional=True),
        _fill("address", "#address", optional=True), _fill("city", "#city", optional=True),
        {"action": "select", "field": "state", "selector": ["#state", "select[name='state']"], "optional": True},
        _fill("zip", "#zip", optional=True),
        {"action": "select", "field": "category", "selector": ["#category"], "optional": True},
        _fill("description", "#description", "textarea[name='about']", optional=True),
        {"action": "click", "selector": ["#submit-btn", "button[type='submit']"]},
        {"action": "expect", "selector": [".success-message", "h1:has-text(\"Thank you\")"]},
    ]}
    return [
        entry("plain", "Plain Directory", 90, 1, _plain_plan(u("plain"))),
        entry("wizard", "Wizard Directory", 88, 2, wizard),
        entry("select", "Select Directory", 86, 2, select),
        entry("slow", "Slow Directory", 84, 1, _plain_plan(u("slow"))),
        entry("transient", "Flaky Directory", 82, 1, _plain_plan(u("transient"))),
        entry("ratelimited", "Rate-limited Directory", 80, 1, _plain_plan(u("ratelimited"))),
        entry("broken", "Broken Directory", 78, 1, _plain_plan(u("broken"))),
        entry("captcha", "Captcha Directory", 76, 1, captcha),
        entry("changed", "Changed Directory", 74, 1, changed),
        entry("nomap", "Unmapped Directory", 72, 1, None),
        entry("catalogstyle", "Catalog-style Directory", 70, 3, catalogstyle),
    ] + [entry(f"plain-{i}", f"Plain Directory {i}", max(1, 60 - i), 1, _plain_plan(u(f"plain-{i}")))
         for i in range(1, clones + 1)]
