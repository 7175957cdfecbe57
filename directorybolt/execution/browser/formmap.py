"""Form-mapping fallback for a directory without a plan.

It reads the page's first form and places business fields by the hints a person
would use: the label, ``autocomplete``, ``name``/``id`` and placeholder. A field is
placed only when exactly one input claims it; a required input that nothing maps
to, or two inputs claiming one field, ends as ``needs_review``: never a guess.
The result is an ordinary :class:`Plan`, run by the ordinary runner.
"""

from __future__ import annotations

import re
from typing import Any

from directorybolt.core.errors import NeedsReview
from directorybolt.core.plans import Plan

#: autocomplete tokens (WHATWG) that identify a field with certainty.
AUTOCOMPLETE = {
    "organization": "business_name",
    "email": "email",
    "tel": "phone",
    "url": "website",
    "street-address": "address",
    "address-line1": "address",
    "address-level2": "city",
    "address-level1": "state",
    "postal-code": "zip",
}

#: Words in a label, name, id or placeholder, most specific first.
HINTS: list[tuple[str, re.Pattern[str]]] = [
    ("description", re.compile(r"descri|about|summary|details", re.I)),
    (
        "business_name",
        re.compile(
            r"(business|company|organi[sz]ation|listing)[ _-]?(name|title)|^(company|organi[sz]ation)$|biz", re.I
        ),
    ),
    ("email", re.compile(r"e-?mail", re.I)),
    ("phone", re.compile(r"phone|tel\b|telephone|mobile", re.I)),
    ("website", re.compile(r"website|homepage|\burl\b|web[ _-]?site", re.I)),
    ("zip", re.compile(r"\bzip\b|postal|postcode", re.I)),
    ("city", re.compile(r"\bcity\b|town", re.I)),
    ("state", re.compile(r"\bstate\b|province|region", re.I)),
    ("address", re.compile(r"address|street", re.I)),
    ("category", re.compile(r"categor|industry", re.I)),
]

_COLLECT_JS = """
form => Array.from(form.querySelectorAll('input, textarea, select')).map((el, i) => {
  const labels = el.labels ? Array.from(el.labels).map(l => l.innerText) : [];
  return {
    index: i, tag: el.tagName.toLowerCase(), type: (el.getAttribute('type') || '').toLowerCase(),
    name: el.getAttribute('name') || '', id: el.id || '', placeholder: el.getAttribute('placeholder') || '',
    autocomplete: (el.getAttribute('autocomplete') || '').toLowerCase(), label: labels.join(' '),
    aria: el.getAttribute('aria-label') || '', required: el.required, hidden: el.type === 'hidden'
  };
})
"""

SKIP_TYPES = {"hidden", "submit", "button", "checkbox", "radio", "file", "image", "reset", "password"}


def classify(field: dict[str, Any]) -> str | None:
    """The business field an input is for, or None when no hint is certain."""
    auto = field["autocomplete"].split()[-1] if field["autocomplete"] else ""
    if auto in AUTOCOMPLETE:
        return AUTOCOMPLETE[auto]
    if field["type"] == "email":
        return "email"
    if field["type"] == "tel":
        return "phone"
    if field["type"] == "url":
        return "website"
    for source in (field["label"], field["aria"], field["name"], field["id"], field["placeholder"]):
        if not source:
            continue
        for name, pattern in HINTS:
            if pattern.search(source):
                return name
    return None


def _selector(form_sel: str, field: dict[str, Any]) -> str:
    if field["id"]:
        return f"{form_sel} >> [id='{field['id']}']"
    if field["name"]:
        return f"{form_sel} >> [name='{field['name']}']"
    return f"{form_sel} >> input, textarea, select >> nth={field['index']}"


def map_form(page: Any, url: str, profile_fields: set[str]) -> Plan:
    """Build a plan for the form currently shown in ``page`` (already at ``url``)."""
    forms = page.locator("form")
    if forms.count() == 0:
        raise NeedsReview("no form found on the page", category="unmapped_form")
    form_sel = "form >> nth=0"
    fields = [f for f in forms.first.evaluate(_COLLECT_JS) if f["type"] not in SKIP_TYPES and not f["hidden"]]
    claims: dict[str, list[dict[str, Any]]] = {}
    unmapped_required: list[str] = []
    for f in fields:
        name = classify(f)
        if name is None:
            if f["required"]:
                unmapped_required.append(f["label"] or f["name"] or f["id"] or f"field {f['index']}")
            continue
        claims.setdefault(name, []).append(f)
    ambiguous = [n for n, fs in claims.items() if len(fs) > 1]
    if ambiguous:
        raise NeedsReview(f"several inputs look like {', '.join(ambiguous)}", category="unmapped_form")
    if unmapped_required:
        raise NeedsReview(f"required fields we cannot place: {', '.join(unmapped_required)}", category="unmapped_form")
    if "business_name" not in claims:
        raise NeedsReview("no input for the business name", category="unmapped_form")
    steps: list[dict[str, Any]] = [{"action": "goto", "url": url}]
    for name, (f,) in claims.items():
        if name not in profile_fields:
            continue
        action = "select" if f["tag"] == "select" else "fill"
        steps.append(
            {"action": action, "field": name, "selector": [_selector(form_sel, f)], "optional": action == "select"}
        )
    submit = [f"{form_sel} >> [type='submit']", f"{form_sel} >> button:not([type='button'])"]
    steps.append({"action": "click", "selector": submit})
    steps.append({"action": "expect", "selector": ["text=/thank you|received|success|submitted/i"]})
    return Plan.model_validate({"steps": steps})
