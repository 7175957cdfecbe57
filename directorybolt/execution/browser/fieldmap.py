"""Which business field each control of a form is for, and how sure we are.

Evidence is read in the order a person would trust it: the control's own label
(``for`` or wrapping), ``aria-label``/``aria-labelledby``, the ``autocomplete`` token,
the nearest preceding label/heading/table cell, the placeholder, then ``name`` and
``id``; the input type (email, tel, url) only when no words say anything. The first
source that names a field decides; agreeing sources raise the confidence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from directorybolt.core.plans import BUSINESS_FIELDS
from directorybolt.execution.browser import options as opts
from directorybolt.execution.browser.pagescan import Control
from directorybolt.execution.browser.synonyms import classify
from directorybolt.execution.browser.vocabulary import has_word

FILLABLE = frozenset(BUSINESS_FIELDS)

#: WHATWG autocomplete tokens that name a field with certainty.
AUTOCOMPLETE = {
    "organization": "business_name", "email": "email", "tel": "phone", "tel-national": "phone", "url": "website",
    "street-address": "address", "address-line1": "address", "address-line2": "address2",
    "address-level2": "city", "address-level1": "state", "postal-code": "zip", "country": "country",
    "country-name": "country", "name": "contact_name", "given-name": "first_name", "family-name": "last_name",
    "username": "username", "new-password": "password", "current-password": "password",
}

SOURCES: tuple[tuple[str, float], ...] = (
    ("label", 0.95), ("aria", 0.9), ("autocomplete", 0.9), ("preceding", 0.75), ("placeholder", 0.7),
    ("title", 0.7), ("name", 0.65), ("id", 0.6),
)

#: What an input type allows; a label that says otherwise is not trusted.
TYPE_KEYS: dict[str, frozenset[str]] = {
    "email": frozenset({"email", "username"}),
    "tel": frozenset({"phone"}),
    "url": frozenset({"website", "logo_url", "social_facebook", "social_x", "social_instagram", "social_linkedin",
                      "video", "photo"}),
    "number": frozenset({"phone", "zip", "rating", "company_size", "price_range", "tax_id"}),
}
TYPE_DEFAULT = {"email": "email", "tel": "phone", "url": "website"}

#: Keys a <select> can stand for; any other reading of a select's label is noise.
SELECT_KEYS = frozenset({"category", "subcategory", "country", "state", "city", "region", "location", "industry",
                         "pricing", "price_range", "plan", "rating", "company_size", "referral", "hours"})
#: Readings that depend on the rest of the form.
GENERIC = frozenset({"name", "location"})


@dataclass
class Reading:
    """One control as the mapper understood it."""

    control: Control
    key: str | None
    confidence: float
    evidence: dict[str, Any]
    confirm: bool = False  # "Repeat password", "Confirm email": same value as its twin
    secondary: bool = False  # "Phone 2", "Alternative email": left empty
    step: int = 0
    note: str | None = None
    action: str = "none"  # fill | select | check | keep | none
    value: str | None = None  # a literal option value (the free plan)
    extra: list[str] = field(default_factory=list)

    @property
    def fillable(self) -> bool:
        return self.key in FILLABLE and self.action in ("fill", "select")

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "selector": self.control.selector, "field": self.key, "confidence": round(self.confidence, 2),
            "evidence": self.evidence, "action": self.action, "required": self.control.must, "step": self.step + 1,
        }
        if self.note:
            d["note"] = self.note
        if self.value is not None:
            d["value"] = self.value
        return d


def _texts(c: Control) -> list[tuple[str, float, str]]:
    return [(src, w, getattr(c, src)) for src, w in SOURCES if getattr(c, src)]


#: "What is 3 + 4?": a question only a person is meant to answer.
MATH_QUESTION = re.compile(
    r"(?:what is|how much is|solve|calculate|wie viel ist|cuánto es|combien font|quanto é|mennyi)\s*"
    r"\d+\s*(?:[-+x×*]|plus|minus|times)\s*\d+|\d+\s*(?:\+|×|plus|times)\s*\d+\s*(?:=|\?)", re.I)
#: Secondary readings are looked for only in short labels ("Phone 2", not a sentence).
SECONDARY_MAX_WORDS = 4


def read(c: Control) -> Reading:
    """The field a text-like control or select is for (``key`` None: nothing says)."""
    hits: list[tuple[str, float, str, str, str, str]] = []
    for source in ("label", "aria", "preceding", "placeholder"):
        text = getattr(c, source)
        if text and MATH_QUESTION.search(text):
            return Reading(c, "captcha", 0.9, {"source": source, "text": text, "phrase": "arithmetic"})
    for source, weight, text in _texts(c):
        if source == "autocomplete":
            token = text.split()[-1]
            if token in AUTOCOMPLETE:
                hits.append((source, weight, text, AUTOCOMPLETE[token], token, "whatwg"))
            continue
        m = classify(text)
        if m is not None:
            hits.append((source, weight, text, m.key, m.phrase, m.lang))
    confirm = any(has_word("confirm", text) for source, _, text in _texts(c) if source != "autocomplete")
    if c.kind == "password":
        return Reading(c, "password", 0.95, _evidence(hits[0]) if hits else {"source": "type", "text": "password"},
                       confirm=confirm)
    if not hits:
        # An email or tel input says what it holds; a url input with a label we cannot
        # read ("Video", "Menu") may be any link.
        worded = any(getattr(c, s) for s in ("label", "aria", "preceding"))
        if c.type in TYPE_DEFAULT and not (c.type == "url" and worded):
            return Reading(c, TYPE_DEFAULT[c.type], 0.6, {"source": "type", "text": c.type})
        return Reading(c, None, 0.0, {})
    source, weight, text, key, phrase, lang = hits[0]
    allowed = TYPE_KEYS.get(c.type)
    if allowed is not None and key not in allowed and key not in GENERIC:
        if c.type in ("email", "tel"):
            return Reading(c, TYPE_DEFAULT[c.type], 0.55, {"source": "type", "text": c.type},
                           note=f"{source} says {key}, the input type says otherwise")
        return Reading(c, None, 0.0, _evidence(hits[0]), note=f"{key} does not fit a {c.type} input")
    if c.kind == "select" and key not in SELECT_KEYS:
        return Reading(c, None, 0.0, _evidence(hits[0]), note=f"{key} does not fit a select")
    agree = sum(1 for h in hits[1:] if h[3] == key)
    conflict = any(h[3] != key and h[3] in FILLABLE and h[1] >= weight - 0.05 for h in hits[1:])
    confidence = min(0.99, weight + 0.02 * agree) - (0.15 if conflict else 0.0) - (0.12 if phrase[:1] == "~" else 0.0)
    short = re.sub(r"\([^)]*\)", " ", text)
    secondary = len(short.split()) <= SECONDARY_MAX_WORDS and has_word("secondary", short)
    return Reading(c, key, confidence, _evidence(hits[0]), confirm=confirm, secondary=secondary)


def _evidence(hit: tuple[str, float, str, str, str, str]) -> dict[str, Any]:
    source, _, text, _, phrase, lang = hit
    return {"source": source, "text": text, "phrase": phrase.lstrip("=~"), "lang": lang}


def resolve_generic(readings: list[Reading], account_form: bool) -> None:
    """A bare "Name" is the business's unless the form also asks for the business name
    or is an account sign-up (then it is the person's); a "Location" list is the city."""
    keys = {r.key for r in readings}
    for r in readings:
        if r.key == "name":
            if account_form or "business_name" in keys:
                r.key = "contact_name" if "contact_name" not in keys else None
            else:
                r.key = "business_name"
            r.confidence = min(r.confidence, 0.6)
            r.note = "a bare 'name'" + (" in an account form" if account_form else "")
        elif r.key == "location":
            wanted = "city" if r.control.kind == "select" else "address"
            if wanted not in keys:
                r.key, r.confidence, r.note = wanted, min(r.confidence, 0.6), "a 'location'"


def consent(c: Control) -> bool | None:
    """True: a terms/privacy consent to tick; False: an opt-in (newsletter, offers) to
    leave; None: some other checkbox."""
    text = " ".join(t for t in (c.label, c.aria, c.preceding, c.name, c.id) if t)
    if has_word("opt_in", text):
        return False
    return True if has_word("consent", text) else None


def priced(c: Control) -> bool:
    return c.kind == "select" and opts.carries_prices(o.label for o in c.options)
