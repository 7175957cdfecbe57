"""The compiler from catalog entries to plans: translation of jQuery selectors,
the shape of the compiled plan, and what is rejected (always naming the entry)."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from directorybolt.catalog.compiler import (
    CompileError,
    Untranslatable,
    compile_entry,
    compile_plan,
    split_selector_list,
    translate_selector,
)
from directorybolt.catalog.schema import FORM_FIELDS, CatalogEntry
from directorybolt.core.plans import Plan
from tests.catalog import real_catalog

CONTAINS = re.compile(r":contains\(")


def _entry(**overrides: Any) -> dict[str, Any]:
    base = {
        "id": "example-dir", "name": "Example", "url": "https://example.org",
        "submissionUrl": "https://example.org/submit", "category": "general-directory",
        "domainAuthority": 50, "tier": 1, "requiresLogin": False, "hasCaptcha": False,
        "formMapping": {
            "businessName": ["#business-name", "input[name='company']"],
            "email": ["input[type='email']"],
            "state": ["#state", "select[name='state']"],
            "description": ["textarea[name='about']"],
        },
        "submitSelector": "#submit-btn, button[type='submit']",
        "successIndicators": [".success-message", "h1:contains('Thank you')"],
    }
    base.update(overrides)
    return base


@pytest.mark.parametrize(
    ("jquery", "playwright"),
    [
        ("h1:contains('Success')", 'h1:has-text("Success")'),
        ('h1:contains("Thank you")', 'h1:has-text("Thank you")'),
        ("div.note:contains(Done) > p", 'div.note:has-text("Done") > p'),
        ("p:contains('Say \"hi\"')", 'p:has-text("Say \\"hi\\"")'),
        ("p:contains('It\\'s done')", "p:has-text(\"It's done\")"),
        (".success-message", ".success-message"),
        ("a:first-child", "a:first-child"),
    ],
)
def test_contains_is_translated_to_has_text(jquery: str, playwright: str) -> None:
    assert translate_selector(jquery) == playwright


@pytest.mark.parametrize(
    "bad",
    ["h1:contains('')", "p:contains('open", "li:eq(2)", "tr:odd", "input:checkbox", "div:contains(a(b)", "  "],
)
def test_untranslatable_selectors_are_refused(bad: str) -> None:
    with pytest.raises(Untranslatable):
        translate_selector(bad)


def test_submit_selector_splits_on_top_level_commas_only() -> None:
    assert split_selector_list("#go, button[title='a, b'], form:has(a, b) .x") == [
        "#go", "button[title='a, b']", "form:has(a, b) .x",
    ]


def test_entry_compiles_to_a_valid_plan_with_the_documented_shape() -> None:
    compiled = compile_entry(CatalogEntry.model_validate(_entry()))
    assert compiled.errors == [] and compiled.translated == 1
    plan = Plan.model_validate(compiled.plan)
    steps = plan.steps
    assert steps[0].action == "goto" and steps[0].url == "https://example.org/submit"
    by_field = {s.field: s for s in steps if s.field}
    assert by_field["business_name"].action == "fill" and not by_field["business_name"].optional
    assert by_field["business_name"].selector == ["#business-name", "input[name='company']"]
    assert by_field["email"].optional and by_field["description"].selector == ["textarea[name='about']"]
    # Candidates that name an element all name <select>, so #state is that select too.
    assert by_field["state"].action == "select" and by_field["state"].optional
    assert by_field["state"].selector == ["select#state", "select[name='state']"]
    assert set(by_field) == {"business_name", "email", "state", "description"}
    assert [s.action for s in steps[-2:]] == ["click", "expect"]
    assert steps[-2].selector == ["#submit-btn", "button[type='submit']"]
    assert steps[-1].selector == [".success-message", 'h1:has-text("Thank you")']
    assert plan.submitted_fields() == ["business_name", "email", "state", "description"]


def test_login_or_captcha_entries_become_review_plans_without_steps() -> None:
    for flags, reason in [
        ({"requiresLogin": True}, "requires login"),
        ({"hasCaptcha": True}, "has CAPTCHA"),
        ({"requiresLogin": True, "hasCaptcha": True}, "requires login; has CAPTCHA"),
    ]:
        plan = Plan.model_validate(compile_plan(CatalogEntry.model_validate(_entry(**flags))))
        assert plan.review_reason == reason and plan.steps == []


def test_a_rejected_indicator_is_reported_and_the_rest_kept() -> None:
    compiled = compile_entry(CatalogEntry.model_validate(
        _entry(successIndicators=["li:eq(0)", "h1:contains('Thanks')"])))
    assert compiled.plan is not None
    assert [(r.where, r.selector) for r in compiled.rejected] == [("successIndicators", "li:eq(0)")]
    assert compiled.plan["steps"][-1]["selector"] == ['h1:has-text("Thanks")']


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"successIndicators": ["li:eq(0)", "h1:contains('')"]}, "no usable successIndicators"),
        ({"formMapping": {"email": ["#email"]}}, "formMapping.businessName"),
        ({"submitSelector": "  "}, "no usable submitSelector"),
    ],
)
def test_an_entry_that_cannot_become_a_plan_is_rejected_by_name(overrides: dict[str, Any], message: str) -> None:
    entry = CatalogEntry.model_validate(_entry(**overrides))
    with pytest.raises(CompileError, match=rf"'example-dir'.*{re.escape(message)}"):
        compile_plan(entry)


def test_a_review_entry_with_a_broken_form_mapping_still_compiles() -> None:
    """A person submits it, so the missing selectors are a warning, not a lost directory."""
    compiled = compile_entry(CatalogEntry.model_validate(_entry(hasCaptcha=True, formMapping={})))
    assert compiled.plan == {"review_reason": "has CAPTCHA"}
    assert any("businessName" in w for w in compiled.warnings)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"submissionUrl": "javascript:alert(1)"}, "submissionUrl"),
        ({"url": "ftp://example.org"}, "url"),
        ({"url": "https://"}, "url"),
        ({"id": "has space"}, "id"),
        ({"tier": 4}, "tier"),
        ({"domainAuthority": 101}, "domainAuthority"),
        ({"hasCaptch": True}, "hasCaptch"),
    ],
)
def test_schema_refuses_bad_values_naming_the_key(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        CatalogEntry.model_validate(_entry(**overrides))


def test_every_real_entry_compiles_and_validates_with_nothing_untranslated() -> None:
    entries = real_catalog()["directories"]
    translated = 0
    for raw in entries:
        compiled = compile_entry(CatalogEntry.model_validate(raw))
        assert compiled.errors == [], raw["id"]
        plan = Plan.model_validate(compiled.plan)
        assert not any(CONTAINS.search(sel) for step in plan.steps for sel in step.selector), raw["id"]
        if raw["requiresLogin"] or raw["hasCaptcha"]:
            assert plan.review_reason and not plan.steps
        else:
            assert plan.review_reason is None
            fields = {s.field for s in plan.steps if s.field}
            assert fields == set(FORM_FIELDS.values()), raw["id"]
            expect = plan.steps[-1]
            for indicator in raw["successIndicators"]:
                if CONTAINS.search(indicator):
                    assert translate_selector(indicator) in expect.selector
        n_contains = sum(1 for s in raw["successIndicators"] if CONTAINS.search(s))
        assert compiled.translated + len(compiled.rejected) >= n_contains, raw["id"]
        translated += compiled.translated
    assert translated == sum(1 for e in entries for s in e["successIndicators"] if CONTAINS.search(s))


def test_compiling_does_not_change_the_entry() -> None:
    raw = _entry()
    before = copy.deepcopy(raw)
    compile_plan(CatalogEntry.model_validate(raw))
    assert raw == before
