"""Turns a catalog entry into our declarative :class:`~directorybolt.browser.plans.Plan`.

The catalog was written for a jQuery-era tool: its success indicators use
``:contains('X')``, which Playwright rejects. Each such selector is translated to
Playwright's ``:has-text("X")``; anything that still is not a selector Playwright
understands is dropped *and reported with the entry id*, never passed on for the
browser to choke on in the middle of a customer's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from directorybolt.catalog.schema import FORM_FIELDS, CatalogEntry
from directorybolt.core.errors import ValidationError
from directorybolt.core.plans import Plan

_CAMEL = {ours: theirs for theirs, ours in FORM_FIELDS.items()}

# :contains('a'), :contains("a"), :contains(a) — the three forms jQuery accepts.
_CONTAINS_RE = re.compile(
    r""":contains\(\s*(?:'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|([^'"()]*?))\s*\)"""
)
# jQuery extensions that are not CSS and that Playwright does not implement.
_JQUERY_ONLY_RE = re.compile(
    r":(?:eq|gt|lt)\(|:(?:even|odd|first|last|header|animated|input|button|submit|reset|image|file"
    r"|password|radio|checkbox|selected|parent|hidden)(?![\w-])"
)
_QUOTED_RE = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*\"""")
_TYPE_RE = re.compile(r"^([A-Za-z][\w-]*)")


class Untranslatable(ValueError):
    """A selector that cannot be turned into one Playwright accepts."""


class CompileError(ValidationError):
    """An entry that cannot become a runnable plan; the message names the entry."""


@dataclass
class Rejected:
    where: str
    selector: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"where": self.where, "selector": self.selector, "reason": self.reason}


@dataclass
class Compiled:
    """What compiling one entry produced. ``plan`` is None exactly when ``errors`` is not empty."""

    entry_id: str
    plan: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    translated: int = 0
    rejected: list[Rejected] = field(default_factory=list)

    def require(self) -> dict[str, Any]:
        if self.plan is None:
            raise CompileError(f"catalog entry {self.entry_id!r}: {'; '.join(self.errors)}")
        return self.plan


def _scan(selector: str) -> list[int] | None:
    """Positions of top-level commas, or None when quotes/brackets do not balance."""
    commas: list[int] = []
    closing = {"(": ")", "[": "]"}
    stack: list[str] = []
    quote = ""
    escaped = False
    for i, ch in enumerate(selector):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch in closing:
            stack.append(closing[ch])
        elif ch in ")]":
            if not stack or stack.pop() != ch:
                return None
        elif ch == "," and not stack:
            commas.append(i)
    return None if quote or stack or escaped else commas


def split_selector_list(selectors: str) -> list[str]:
    """Split ``"a, b[title='x, y']"`` on top-level commas only, into candidates tried in order."""
    commas = _scan(selectors)
    if commas is None:
        raise Untranslatable(f"unbalanced quotes or brackets in {selectors!r}")
    bounds = [-1, *commas, len(selectors)]
    parts = [selectors[a + 1 : b].strip() for a, b in zip(bounds, bounds[1:], strict=False)]
    return [p for p in parts if p]


def _has_text(match: re.Match[str]) -> str:
    raw = next((g for g in match.groups() if g is not None), "")
    text = re.sub(r"\\(.)", r"\1", raw).strip()
    if not text:
        raise Untranslatable(":contains() with empty text matches everything")
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f':has-text("{escaped}")'


def translate_selector(selector: str) -> str:
    """``h1:contains('Thank you')`` → ``h1:has-text("Thank you")``; other selectors pass
    unchanged once checked. Raises :class:`Untranslatable` with the reason.

    ``:has-text`` is case-insensitive and ignores extra whitespace, so it is a
    slightly looser match than jQuery's; a success page differs from a form page
    by far more than letter case.
    """
    selector = selector.strip()
    if not selector:
        raise Untranslatable("empty selector")
    if _scan(selector) is None:
        raise Untranslatable("unbalanced quotes or brackets")
    out = _CONTAINS_RE.sub(_has_text, selector)
    if ":contains(" in out:
        raise Untranslatable("a :contains() form that cannot be translated")
    jquery = _JQUERY_ONLY_RE.search(_QUOTED_RE.sub('""', out))
    if jquery:
        raise Untranslatable(f"jQuery-only pseudo-class {jquery.group(0).rstrip('(')!r} has no Playwright equivalent")
    return out


def _element_type(selector: str) -> str | None:
    m = _TYPE_RE.match(selector)
    return m.group(1).lower() if m else None


def _only_selects(selector: str) -> str:
    """Narrow an untyped simple selector (``#state``) to ``select#state``, so that on a
    site where it is an ``<input>`` the optional select step is skipped instead of
    failing on an element that has no options."""
    simple = _scan(selector) == [] and not re.search(r"[\s>+~]", _QUOTED_RE.sub('""', selector))
    if simple and _element_type(selector) is None:
        return "select" + selector
    return selector


def _translate_all(where: str, selectors: list[str], result: Compiled) -> list[str]:
    out = []
    for sel in selectors:
        try:
            translated = translate_selector(sel)
        except Untranslatable as exc:
            result.rejected.append(Rejected(where, sel, str(exc)))
            continue
        if translated != sel.strip():
            result.translated += 1
            if translated.startswith(":has-text("):
                result.warnings.append(f"{where}: {sel!r} names no element, so it matches the text anywhere")
        out.append(translated)
    return out


def _field_steps(ours: str, candidates: list[str], result: Compiled) -> list[dict[str, Any]]:
    """A ``select`` step when the candidates that name an element type all name
    ``select`` (ids like ``#state`` are taken to be the same element); else ``fill``."""
    optional = ours != "business_name"
    types = {t for t in map(_element_type, candidates) if t}
    if "select" not in types:
        return [{"action": "fill", "field": ours, "selector": candidates, "optional": optional}]
    if types == {"select"}:
        return [{"action": "select", "field": ours, "selector": [_only_selects(c) for c in candidates],
                 "optional": optional}]
    selects = [c for c in candidates if _element_type(c) == "select"]
    others = [c for c in candidates if _element_type(c) != "select"]
    result.warnings.append(f"formMapping.{_CAMEL[ours]} mixes <select> and other elements; tried as select, then fill")
    return [
        {"action": "select", "field": ours, "selector": selects, "optional": True},
        {"action": "fill", "field": ours, "selector": others, "optional": True},
    ]


def review_reason(entry: CatalogEntry) -> str | None:
    """Why a person, not the browser, must submit this directory (None: the browser may)."""
    reasons = [r for flag, r in ((entry.requires_login, "requires login"), (entry.has_captcha, "has CAPTCHA")) if flag]
    return "; ".join(reasons) or None


def compile_entry(entry: CatalogEntry) -> Compiled:
    """Compile one validated entry. Problems land in ``errors``/``warnings``/``rejected``
    rather than being raised, so the import can report every entry in one pass."""
    result = Compiled(entry.id)
    problems: list[str] = []
    steps: list[dict[str, Any]] = [{"action": "goto", "url": entry.submission_url}]

    for key in entry.form_mapping:
        if key not in FORM_FIELDS:
            result.warnings.append(f"formMapping.{key} is not a business field; ignored")
    for theirs, ours in FORM_FIELDS.items():  # the catalog file knows only the core fields
        candidates = _translate_all(f"formMapping.{theirs}", entry.form_mapping.get(theirs, []), result)
        if candidates:
            steps.extend(_field_steps(ours, candidates, result))
        elif ours == "business_name":
            problems.append(f"no usable selector for formMapping.{theirs} (the business name is required)")
        else:
            result.warnings.append(f"no usable selector for formMapping.{theirs}; {ours} will not be submitted")

    try:
        submit = split_selector_list(entry.submit_selector)
    except Untranslatable as exc:
        result.rejected.append(Rejected("submitSelector", entry.submit_selector, str(exc)))
        submit = []
    submit = _translate_all("submitSelector", submit, result)
    if submit:
        steps.append({"action": "click", "selector": submit})
    else:
        problems.append("no usable submitSelector")

    indicators = _translate_all("successIndicators", entry.success_indicators, result)
    if indicators:
        steps.append({"action": "expect", "selector": indicators})
    else:
        problems.append("no usable successIndicators (success would have to be assumed)")

    reason = review_reason(entry)
    if reason:
        # A person submits it, so a broken form mapping costs nothing yet: reported, not fatal.
        result.warnings.extend(f"{p} (irrelevant while it {reason})" for p in problems)
        plan: dict[str, Any] = {"review_reason": reason}
    elif problems:
        result.errors.extend(problems)
        return result
    else:
        plan = {"steps": steps}
    try:
        validated = Plan.model_validate(plan)
    except ValueError as exc:  # pydantic's error is a ValueError; a compiler bug, but report it per entry
        result.errors.append(f"compiled plan does not validate: {exc}")
        return result
    result.plan = validated.model_dump(mode="json", exclude_defaults=True)
    return result


def compile_plan(entry: CatalogEntry) -> dict[str, Any]:
    """The plan for one entry, or :class:`CompileError` naming it."""
    return compile_entry(entry).require()
