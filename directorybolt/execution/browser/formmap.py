"""The form mapper: turns a directory's page into a draft plan, or says why a person
must do it.

Used by ``directorybolt plan suggest`` and, for a directory without a plan, by the
production fallback (:func:`fallback_plan`). It picks the page's listing form (not the
search box or the newsletter form), walks a wizard one step at a time (Next/Continue),
reads every control (:mod:`fieldmap`), leaves honeypots and hidden inputs empty, ticks a
terms consent and no other checkbox, keeps a priced plan on its free option and never
clicks reset. Whatever it cannot place with confidence ends in a ``review_reason``:
``captcha``, ``login``, ``upload_required``, ``no_form``, ``email_only`` or
``ambiguous``. Ambiguity is never resolved by guessing.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from directorybolt.core.errors import NeedsReview
from directorybolt.core.plans import Plan
from directorybolt.core.profiles import BusinessProfile
from directorybolt.execution.browser import fieldmap as fm
from directorybolt.execution.browser import options as opts
from directorybolt.execution.browser import pagescan
from directorybolt.execution.browser.pagescan import Control, PageScan
from directorybolt.execution.browser.synonyms import fold
from directorybolt.execution.browser.vocabulary import has_word
from directorybolt.execution.browser.wizard import Walk

REVIEW_REASONS = ("captcha", "login", "upload_required", "no_form", "email_only", "ambiguous")
#: A listing form names at least this many distinct business fields.
MIN_LISTING_FIELDS = 2
#: Confirmation text after sending, in the mapper's languages.
SUCCESS = ("text=/thank|received|success|submitted|gracias|recibid|merci|reçu|danke|erhalten|obrigad|"
           "recebid|谢谢|感谢|成功|köszönjük|sikeres/i")
#: Typed into a wizard's steps by ``plan suggest`` to reach the next step (and used by
#: ``--try``): obviously made up, so a directory's moderators see what it is.
SAMPLE_PROFILE: dict[str, str] = {
    "business_name": "Example Bakery (DirectoryBolt test)", "email": "owner@example.com",
    "phone": "+1 503 555 0100", "website": "https://example.com", "address": "1 Example Street",
    "city": "Portland", "state": "OR", "zip": "97214", "country": "United States",
    "description": "A sample listing typed by DirectoryBolt's plan suggest; not a real business.",
    "category": "Restaurant", "tagline": "Sample listing", "contact_name": "Alex Example",
    "logo_url": "https://example.com/logo.png", "social_facebook": "https://facebook.com/example",
    "social_x": "https://x.com/example", "social_instagram": "https://instagram.com/example",
    "social_linkedin": "https://linkedin.com/company/example",
}
_LOGIN_TO_SUBMIT = re.compile(
    r"\b(log ?in|logged in|sign ?in|signed in|sign up|create an account|register)( \w+){0,4} "
    r"(to|before) (submit|add|list|post|claim)"
)
#: An embedded frame this big may hold the form (Google Forms, Typeform, JotForm…).
FRAME_MIN_PX = (250, 200)
#: Frames that never hold a listing form.
_NOT_FORMS = re.compile(r"youtube|vimeo|maps|recaptcha|hcaptcha|challenges\.cloudflare|facebook\.com/plugins|"
                        r"twitter|instagram|doubleclick|googletagmanager")


@dataclass
class FormMap:
    """The mapper's answer: a draft plan plus everything it saw, for a person to judge."""

    url: str
    form: str | None = None
    readings: list[fm.Reading] = field(default_factory=list)
    traps: list[tuple[str, list[str]]] = field(default_factory=list)
    review_reason: str | None = None
    review_detail: str | None = None
    steps: list[dict[str, Any]] = field(default_factory=list)
    captcha: list[str] = field(default_factory=list)
    wizard_steps: int = 1

    @property
    def fields(self) -> list[fm.Reading]:
        return [r for r in self.readings if r.key is not None]

    def plan(self, *, keep_review: bool = True) -> Plan:
        """The draft as a :class:`Plan`; ``keep_review=False`` gives the steps alone (``--try``)."""
        reason = self.review_reason if keep_review else None
        return Plan.model_validate({"steps": self.steps, "review_reason": reason})

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url, "form": self.form, "wizard_steps": self.wizard_steps,
            "fields": [r.as_dict() for r in self.fields],
            "unmapped": [{"selector": r.control.selector, "label": r.control.describe(), "required": r.control.must,
                          "kind": r.control.kind} for r in self.readings if r.key is None],
            "traps": [sel for sel, _ in self.traps],
            "trap_signs": {sel: signs for sel, signs in self.traps},
            "captcha": self.captcha, "review_reason": self.review_reason, "review_detail": self.review_detail,
            "steps": self.steps,
        }


def fallback_plan(page: Any, url: str, profile: BusinessProfile) -> Plan:
    """Production fallback for a directory with no plan: a plan, or :class:`NeedsReview`
    whose category is the review reason."""
    found = map_form(page, url, profile)
    if found.review_reason:
        raise NeedsReview(found.review_detail or found.review_reason, category=found.review_reason)
    return found.plan()


def map_form(page: Any, url: str, profile: BusinessProfile | None = None, *, settle_ms: int = 3000) -> FormMap:
    """Map the form shown in ``page`` (already at ``url``). A wizard is walked with
    ``profile``'s values (``plan suggest``: :data:`SAMPLE_PROFILE`)."""
    _settle(page, settle_ms)
    values = {k: profile.field(k) for k in fm.FILLABLE} if profile is not None else dict(SAMPLE_PROFILE)
    scan = pagescan.scan(page)
    form, reason, detail = choose_form(scan)
    if form is None and reason in ("no_form", "email_only"):
        scan = _rescan_late(page, scan)  # a form drawn by a script after the page loaded
        form, reason, detail = choose_form(scan)
    result = FormMap(url=url, captcha=list(scan.captcha))
    if form is None:
        result.review_reason, result.review_detail = reason, detail
        return result
    walk = Walk(page, scan, form, values)
    walk.run()
    _conclude(result, walk)
    return result


def _settle(page: Any, timeout_ms: int) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_load_state("load", timeout=timeout_ms)
    except PlaywrightTimeout:
        pass  # a slow third-party script must not stop us reading what is there


def _rescan_late(page: Any, scan: PageScan, wait_s: float = 2.0) -> PageScan:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        time.sleep(0.25)
        later = pagescan.scan(page)
        if len(later.controls) > len(scan.controls):
            return later
    return scan


def _listing_keys(controls: list[Control]) -> set[str]:
    readings = [fm.read(c) for c in controls if c.visible and not c.traps and c.kind in ("text", "select")]
    return {r.key for r in readings if r.key in fm.FILLABLE or r.key in fm.GENERIC}


def choose_form(scan: PageScan) -> tuple[int | None, str | None, str | None]:
    """The listing form's index (-1: inputs outside any <form>), or a review reason."""
    groups = sorted({f.index for f in scan.forms} | {c.form for c in scan.controls if c.form == -1})
    ranked: list[tuple[int, int]] = []
    for g in groups:
        controls = scan.controls_of(g)
        keys = _listing_keys(controls)
        if g == -1 and not any(b.visible and has_word("submit", b.text) for b in scan.buttons_of(-1)):
            continue
        if len(keys) >= MIN_LISTING_FIELDS:
            ranked.append((len(keys) + 2 * ("business_name" in keys) + ("description" in keys), g))
    ranked.sort(reverse=True)
    if not ranked:
        if any(c.kind == "password" and c.visible for c in scan.controls):
            return None, "login", "the page only offers an account form"
        frames = [f for f in scan.frames if f.width >= FRAME_MIN_PX[0] and f.height >= FRAME_MIN_PX[1]
                  and not _NOT_FORMS.search(f.src)]
        if frames:
            return None, "ambiguous", f"the form may be embedded from another page ({frames[0].src[:120]})"
        if scan.mailto or any(f.action.lower().startswith("mailto:") for f in scan.forms):
            return None, "email_only", "the page asks for submissions by email"
        if _LOGIN_TO_SUBMIT.search(fold(scan.text)):
            return None, "login", "the page asks visitors to log in before submitting"
        return None, "no_form", "no form on the page asks for a business listing"
    if len(ranked) > 1 and ranked[0][0] == ranked[1][0]:
        return None, "ambiguous", "two forms on the page look like the listing form"
    best = ranked[0][1]
    if best >= 0 and scan.forms[best].action.lower().startswith("mailto:"):
        return None, "email_only", "the form is sent by the visitor's mail program (mailto:)"
    return best, None, None


def _conclude(result: FormMap, walk: Walk) -> None:
    """Readings, traps, review reason and plan steps from what the walk saw."""
    result.form = walk.form_selector
    result.wizard_steps = len(walk.nexts) + 1
    everything = walk.scan.controls_of(walk.form)
    readings: list[fm.Reading] = []
    widgets: list[str] = []
    for control, step in walk.seen.values():
        if control.traps:
            if control.kind == "text":
                result.traps.append((control.selector, control.traps))
            elif control.must:  # e.g. a <select> replaced by a scripted widget: never driven, never guessed
                widgets.append(f"required {control.describe()!r} is hidden from people ({', '.join(control.traps)})")
            continue
        r = _read_any(control)
        r.step = step
        readings.append(r)
    account = any(r.control.kind == "password" for r in readings)
    fm.resolve_generic(readings, account)
    seen = set(walk.seen)
    if walk.stuck is None:
        for c in everything:
            if c.selector not in seen and c.kind == "text" and not c.disabled:
                result.traps.append((c.selector, ["hidden", *c.traps]))
    problems = widgets + _decide_actions(readings)
    result.readings = readings
    result.review_reason, result.review_detail = _review(result, walk, readings, problems)
    result.steps = _steps(result.url, readings, walk)


def _read_any(c: Control) -> fm.Reading:
    if c.kind == "checkbox":
        agreed = fm.consent(c)
        evidence = {"source": "label", "text": c.describe()}
        if agreed:
            return fm.Reading(c, "terms", 0.9, evidence, action="check")
        return fm.Reading(c, None, 0.0, evidence, note="opt-in: left unticked" if agreed is False else None)
    if c.kind == "radio":
        return fm.Reading(c, None, 0.0, {"source": "label", "text": c.describe()})
    if c.kind == "file":
        return fm.Reading(c, "photo", 0.8, {"source": "type", "text": "file"}, note="upload")
    return fm.read(c)


def _decide_actions(readings: list[fm.Reading]) -> list[str]:
    """Set each reading's action; return what stops an unattended submission."""
    problems: list[str] = []
    for r in readings:
        c = r.control
        if r.action == "check" or c.kind in ("file", "password", "checkbox", "radio"):
            continue
        if fm.priced(c):
            _keep_free(r, problems)
        elif c.readonly or c.disabled:
            r.note = "read-only: left as the site set it"
        elif r.secondary and r.key in fm.FILLABLE:
            r.note = f"a second {r.key}: left empty"
        elif r.key in fm.FILLABLE:
            r.action = "select" if c.kind == "select" else "fill"
    by_key: dict[str, list[fm.Reading]] = {}
    for r in readings:
        if r.fillable and not r.confirm and r.key != "description":
            by_key.setdefault(str(r.key), []).append(r)
    for key, claims in by_key.items():
        if len(claims) < 2:
            continue
        claims.sort(key=lambda r: r.confidence, reverse=True)
        if claims[0].confidence - claims[1].confidence < 0.1:
            problems.append(f"several inputs look like {key}: " + ", ".join(r.control.describe() for r in claims))
        for r in claims[1:]:
            r.action, r.note = "none", f"a weaker reading of {key} than {claims[0].control.describe()!r}"
    _radio_groups(readings, problems)
    return problems


def _keep_free(r: fm.Reading, problems: list[str]) -> None:
    c = r.control
    chosen = next((o for o in c.options if o.selected), c.options[0] if c.options else None)
    r.key = r.key or "plan"
    if chosen is not None and not opts.is_paid(chosen.label):
        r.action, r.note = "keep", f"priced options: keeps {chosen.label!r}"
        return
    free = opts.free_choice(c.options)
    if free is None:
        problems.append(f"{c.describe()!r} defaults to a paid option and offers no single free one")
        return
    r.action, r.value, r.note = "select", free.value, f"priced options: chooses the free {free.label!r}"


def _radio_groups(readings: list[fm.Reading], problems: list[str]) -> None:
    groups: dict[str, list[fm.Reading]] = {}
    for r in readings:
        if r.control.kind == "radio":
            groups.setdefault(r.control.name or r.control.selector, []).append(r)
    for name, radios in groups.items():
        labels = [r.control.describe() for r in radios]
        checked = [r for r in radios if r.control.checked]
        if opts.carries_prices(labels):
            if checked and not opts.is_paid(checked[0].control.describe()):
                for r in radios:
                    r.key, r.note = "plan", "priced choice: the free option stays checked"
                continue
            free = [r for r in radios if opts.is_free(r.control.describe())]
            if len(free) == 1:
                free[0].key, free[0].action, free[0].note = "plan", "check", "priced choice: the free option"
                continue
            problems.append(f"the choice {name!r} has prices and no single free option")
        elif not checked and any(r.control.must for r in radios):
            problems.append(f"the required choice {name!r} has no business field")


def _review(
    result: FormMap, walk: Walk, readings: list[fm.Reading], problems: list[str]
) -> tuple[str | None, str | None]:
    if result.captcha or any(r.key == "captcha" for r in readings):
        return "captcha", f"the page shows a CAPTCHA ({', '.join(result.captcha) or 'a challenge field'})"
    if walk.scan.mailto_submit:
        return "email_only", "the form's script sends it to a mailto: address; nothing reaches the directory"
    if any(r.control.kind == "password" for r in readings):
        return "login", "the form creates an account with a password; a person must own those credentials"
    uploads = [r for r in readings if r.control.kind == "file" and r.control.must and not r.control.disabled]
    if uploads:
        return "upload_required", f"the form requires a file: {uploads[0].control.describe()!r}"
    problems = list(problems)
    if walk.stuck:
        problems.insert(0, walk.stuck)
    if walk.submit is None and not walk.stuck:
        problems.append("no button sends the form")
    if not any(r.key == "business_name" and r.action == "fill" for r in readings):
        problems.append("no input for the business name")
    for r in readings:
        c = r.control
        if not c.must or r.action in ("fill", "select", "check", "keep") or c.kind in ("radio", "file"):
            continue
        if c.kind == "checkbox":
            problems.append(f"required checkbox {c.describe()!r} is not a terms consent")
        elif c.empty and not (c.readonly or c.disabled):
            what = f"is {r.key}, which no business profile has" if r.key else "has no business field"
            problems.append(f"required {c.describe()!r} {what}")
    problems += [f"required {sel} looks like a honeypot" for sel, signs in result.traps
                 if any(c.selector == sel and c.must and "hidden" not in signs for c, _ in walk.seen.values())]
    if problems:
        return "ambiguous", "; ".join(problems)
    return None, None


def _steps(url: str, readings: list[fm.Reading], walk: Walk) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = [{"action": "goto", "url": url}]
    nexts = dict(walk.nexts)
    last = max([r.step for r in readings] + [s for s, _ in walk.nexts] + [0])
    for step in range(last + 1):
        for r in (r for r in readings if r.step == step):
            sel = [r.control.selector]
            optional = not r.control.must
            if r.action == "fill":
                steps.append({"action": "fill", "field": r.key, "selector": sel, "optional": optional})
            elif r.action == "select" and r.value is not None:
                steps.append({"action": "select", "value": r.value, "selector": sel})
            elif r.action == "select":
                steps.append({"action": "select", "field": r.key, "selector": sel, "optional": optional})
            elif r.action == "check":
                steps.append({"action": "check", "selector": sel})
        if step in nexts:
            steps.append({"action": "next", "selector": [nexts[step].selector]})
    if walk.submit is not None:
        steps.append({"action": "click", "selector": [walk.submit.selector]})
    steps.append({"action": "expect", "selector": [SUCCESS]})
    return steps
