"""Scoring the mapper on the ten real forms of ``../shared/data/realforms/``.

The expected mapping below is test data written from ``FORMS.md`` (label as rendered →
control → profile key); the locators are ours, written to find each control without
relying on the mapper. The pages themselves are read from the shared folder at run
time and never copied here.

How a form is scored (``bench/forms.py`` prints the same table):

* **mappable field**: a control of the listing form whose ``FORMS.md`` entry names a
  profile key (the canonical keys, ``social_*``, and ``terms`` for a consent box).
  Controls marked ``—``, the passwords ("generated credential", not a profile key),
  TRAPs and controls outside the form are not mappable.
* **right**: the mapper reports that control with exactly that key.
* The draft plan is then run on the page by the real runner, stopping before the final
  click, with a profile whose category/city fit the form's options. Every control whose
  state the run changed (value ≠ ``defaultValue``, checked ≠ ``defaultChecked``,
  selection ≠ ``defaultSelected``), anywhere on the page, is a *fill*:
  a **wrong fill** is a fill of a control that is not mappable, or one holding something
  other than the profile's value for its key (for a select: other than the option this
  data expects); a **trap filled** is a fill of a TRAP; a **paid option** is a priced
  plan control not left on its free option.
* **review_reason**: what the mapper says against the reason written here, chosen by the
  rules in ``directorybolt/execution/browser/formmap.py`` (a required file →
  ``upload_required``; a password → ``login``; a submit handler that opens a
  ``mailto:`` address → ``email_only``; a required control no profile key can answer →
  ``ambiguous``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from directorybolt.core.profiles import BusinessProfile
from directorybolt.execution.browser.formmap import map_form
from directorybolt.execution.browser.runner import run_plan
from tests.execution.browser.pages import PageServer, offline_context

TRAP = "TRAP"


@dataclass(frozen=True)
class Expect:
    label: str
    locate: str
    key: str | None  # a profile key, None for "—", TRAP for a honeypot


@dataclass(frozen=True)
class RealForm:
    file: str
    review: str | None
    fields: tuple[Expect, ...]
    profile: dict[str, str] = field(default_factory=dict)  # fits the form's options
    options: dict[str, str] = field(default_factory=dict)  # select locator -> option value the run must pick
    free: dict[str, str] = field(default_factory=dict)  # priced control -> its free option (value / radio id)


PROFILE: dict[str, str] = {
    "business_name": "Kiln & Crumb Bakery", "email": "hello@kilnandcrumb.example", "phone": "+1 503 555 0188",
    "website": "https://kilnandcrumb.example", "address": "410 Hearth Street", "city": "Portland", "state": "OR",
    "zip": "97214", "country": "United States", "description": "Wood-fired sourdough and pastries since 2009.",
    "category": "Restaurant", "tagline": "Bread from a wood-fired kiln", "contact_name": "Maya Okafor",
    "logo_url": "https://kilnandcrumb.example/logo.png", "social_facebook": "https://facebook.com/kilnandcrumb",
    "social_x": "https://x.com/kilnandcrumb", "social_instagram": "https://instagram.com/kilnandcrumb",
    "social_linkedin": "https://linkedin.com/company/kilnandcrumb",
}


def _x(label: str, locate: str, key: str | None) -> Expect:
    return Expect(label, locate, key)


def _none(*locates: str) -> tuple[Expect, ...]:
    return tuple(Expect("(leave alone)", loc, None) for loc in locates)


FORMS: tuple[RealForm, ...] = (
    RealForm("02-globalbiz-multistep-wizard.html", None, (
        _x("Business Name*", "#business-name", "business_name"),
        _x("Category*", "#business-category", "category"),
        _x("Description*", "#business-description", "description"),
        _x("Address*", "#business-address", "address"),
        _x("City*", "#business-city", "city"),
        _x("Country*", "#business-country", "country"),
        _x("Postal/Zip Code", "#business-postal", "zip"),
        _x("State/Region", "#business-region", "state"),
        _x("Phone Number*", "#business-phone", "phone"),
        _x("Email Address*", "#business-email", "email"),
        _x("Website", "#business-website", "website"),
        _x("Facebook URL", "input[name='business-facebook']", "social_facebook"),
        _x("Twitter URL", "input[name='business-twitter']", "social_x"),
        _x("Instagram URL", "input[name='business-instagram']", "social_instagram"),
        _x("LinkedIn URL", "input[name='business-linkedin']", "social_linkedin"),
        _x("I agree to the Terms of Service …*", "#terms-agree", "terms"),
        *_none("#business-photos", "#wifi", "#parking", "#delivery", "#outdoor", "#wheelchair", "#credit-cards",
               "#search-input", "form.subscribe-form input"),
    ), options={"#business-category": "restaurant", "#business-country": "US"}),
    RealForm("04-biztoolzai-submit-tool.html", "ambiguous", (
        _x("Tool Name *", "#toolName", "business_name"),
        _x("Website URL *", "#toolUrl", "website"),
        _x("Category *", "#category", "category"),
        _x("Tagline *", "#tagline", "tagline"),
        _x("Description *", "#description", "description"),
        _x("Contact Email *", "#contactEmail", "email"),
        *_none("#pricing", "#affiliateProgram"),
    ), profile={"category": "Productivity"}, options={"#category": "productivity"}),
    RealForm("05-toolscout-wrapped-labels.html", None, (
        _x("Tool name", "form.submit-form label:nth-of-type(1) input", "business_name"),
        _x("Website URL", "form.submit-form label:nth-of-type(2) input", "website"),
        _x("Category", "form.submit-form label:nth-of-type(3) select", "category"),
        _x("Short description", "form.submit-form label:nth-of-type(4) textarea", "description"),
        _x("Contact email", "form.submit-form label:nth-of-type(6) input", "email"),
        *_none("form.submit-form label:nth-of-type(5) input"),
    ), profile={"category": "Productivity"},
        options={"form.submit-form label:nth-of-type(3) select": "productivity-automation"}),
    RealForm("07-local-business-simple.html", "ambiguous", (
        _x("Business Name:", "#name", "business_name"),
        _x("Category:", "#category", "category"),
        _x("Description:", "#description", "description"),
        _x("Location:", "#location", "city"),
        _x("Image URL:", "#image", "logo_url"),
        *_none("#rating", "#languageSelect"),
    ), profile={"category": "Cafe", "city": "Giza"}, options={"#category": "cafe", "#location": "giza"}),
    RealForm("09-signup-terms-placeholders.html", "login", (
        _x("Enter name", "#name", "contact_name"),
        _x("Enter email", "#email", "email"),
        _x("Agree to our Terms & Privacy.", "input[name='agree']", "terms"),
        *_none("#password", "#passwordRepeat"),
    )),
    RealForm("10-b2b-honeypot.html", None, (
        _x("Company website (honeypot)", "input[name='company_website']", TRAP),
        _x("Business name*", "input[name='name']", "business_name"),
        _x("Contact email*", "input[name='email']", "email"),
        _x("Category", "select[name='category']", "category"),
        _x("Logo URL", "input[name='logo']", "logo_url"),
        _x("Description", "textarea[name='description']", "description"),
        _x("Website", "input[name='website']", "website"),
        _x("LinkedIn", "input[name='linkedin']", "social_linkedin"),
        _x("X", "input[name='x']", "social_x"),
        _x("Instagram", "input[name='instagram']", "social_instagram"),
        *_none("input[name='industry']", "input[name='products']", "input[name='services']", "input[name='team']",
               "select[name='hiring']"),
    ), profile={"category": "Small business"}, options={"select[name='category']": "Small business"}),
    RealForm("12-cornwall-bootstrap-ids-only.html", "upload_required", (
        _x("Business Name *", "#businessName", "business_name"),
        _x("Primary Category *", "#businessCategory", "category"),
        _x("Business Description *", "#businessDescription", "description"),
        _x("Contact Name *", "#contactName", "contact_name"),
        _x("Email Address *", "#contactEmail", "email"),
        _x("Phone Number *", "#contactPhone", "phone"),
        _x("Website URL", "#businessWebsite", "website"),
        _x("Address Line 1 *", "#addressLine1", "address"),
        _x("City/Town *", "#city", "city"),
        _x("County (prefilled, read-only)", "#county", "state"),
        _x("Postcode *", "#postcode", "zip"),
        _x("I agree to the Terms and Conditions …", "#termsCheck", "terms"),
        *_none("#businessSubcategory", "#businessRegion", "#addressLine2", "#openingHours", "#priceRange",
               "#amenityParking", "#amenityWifi", "#amenityAccessible", "#amenityPets", "#amenityFamily",
               "#amenityRestaurant", "#amenityToilets", "#amenityGiftShop", "#mainPhoto", "#additionalPhotos",
               "#freeListing", "#premiumListing"),
    ), profile={"category": "Food & Drink", "city": "Truro"}, options={"#businessCategory": "Food & Drink"},
        free={"#premiumListing": "#freeListing"}),
    RealForm("14-flowzen-orphan-labels.html", None, (
        _x("Tool Name", "form input[type='text']", "business_name"),
        _x("Website URL", "form input[type='url']", "website"),
        _x("Category", "form select", "category"),
        _x("Description", "form textarea", "description"),
    ), profile={"category": "Productivity"}, options={"form select": "Productivity"}),
    RealForm("16-quebec-trade-wrapped-labels.html", "email_only", (
        _x("Legal / operating name", "input[name='company']", "business_name"),
        _x("Trade category", "input[name='trade']", "category"),
        _x("City", "input[name='city']", "city"),
        _x("Work email", "input[name='email']", "email"),
        _x("Website (optional)", "input[name='website']", "website"),
        _x("Phone", "input[name='phone']", "phone"),
        _x("Notes (service area, …)", "textarea[name='notes']", "description"),
    ), profile={"category": "Plumber", "city": "Laval"}),
    RealForm("18-909pros-formspree.html", None, (
        _x("Business Name *", "#business-name", "business_name"),
        _x("Owner Name *", "#owner-name", "contact_name"),
        _x("Business Phone *", "#phone", "phone"),
        _x("Email Address *", "#email", "email"),
        _x("Service Type *", "#service-type", "category"),
        _x("Primary City *", "#city", "city"),
        _x("Tell Us About Your Business", "#message", "description"),
        *_none("#plan", "#nav-toggle"),
    ), profile={"category": "Plumbing", "city": "Ontario"}, options={"#service-type": "plumbing", "#city": "ontario"},
        free={"#plan": "free"}),
)

NOT_MAPPABLE = (None, TRAP)


@dataclass
class Score:
    file: str
    mappable: int = 0
    right: int = 0
    wrong_fills: list[str] = field(default_factory=list)
    traps_filled: list[str] = field(default_factory=list)
    paid_chosen: list[str] = field(default_factory=list)
    review_expected: str | None = None
    review_got: str | None = None
    review_detail: str | None = None
    misses: list[str] = field(default_factory=list)
    tried: str = ""
    aborted_requests: int = 0
    leaked_requests: list[str] = field(default_factory=list)

    @property
    def review_ok(self) -> bool:
        return self.review_expected == self.review_got

    def row(self) -> str:
        wrong = len(self.wrong_fills)
        return (f"| {self.file} | {self.right} / {self.mappable} | {wrong} | {len(self.traps_filled)} | "
                f"{len(self.paid_chosen)} | {self.review_expected or 'none'} | {self.review_got or 'none'} |")


_SAME = "([a, b]) => { const x = document.querySelector(a); return !!x && x === document.querySelector(b); }"

_CHANGED_JS = """
(locators) => {
  const expected = locators.map(l => document.querySelector(l));
  return Array.from(document.querySelectorAll('input, select, textarea'))
    .filter(el => !['hidden', 'submit', 'button', 'reset', 'image'].includes(el.type))
    .map(el => {
      let changed;
      if (el.type === 'checkbox' || el.type === 'radio') changed = el.checked !== el.defaultChecked;
      else if (el.tagName === 'SELECT') {
        const marked = Array.from(el.options).map(o => o.defaultSelected).lastIndexOf(true);
        changed = el.selectedIndex !== (marked >= 0 ? marked : 0);
      }
      else changed = el.value !== el.defaultValue;
      const checkable = el.type === 'checkbox' || el.type === 'radio';
      return {changed, index: expected.indexOf(el), value: checkable ? String(el.checked) : el.value,
              what: el.outerHTML.slice(0, 80)};
    }).filter(c => c.changed);
}
"""


_FREE_KEPT = "([p, f]) => f.startsWith('#') ? document.querySelector(f).checked : document.querySelector(p).value === f"


def score_form(browser: Any, server: PageServer, form: RealForm) -> Score:
    url = f"{server.url}/{form.file}"
    score = Score(form.file, review_expected=form.review)
    profile_data = {**PROFILE, **form.profile}
    profile = BusinessProfile.model_validate(profile_data, context={"allow_private_websites": True})
    with offline_context(browser) as (context, egress):
        page = context.new_page()
        page.goto(url, wait_until="domcontentloaded")
        found = map_form(page, url)
        score.review_got, score.review_detail = found.review_reason, found.review_detail
        for exp in form.fields:
            if exp.key in NOT_MAPPABLE:
                continue
            score.mappable += 1
            got = [r.key for r in found.fields if page.evaluate(_SAME, [exp.locate, r.control.selector])]
            if got == [exp.key]:
                score.right += 1
            else:
                score.misses.append(f"{exp.label}: expected {exp.key}, got {got or 'nothing'}")
        plan = found.plan(keep_review=False)
        result = run_plan(page, plan, profile, stop_before_commit=True)
        score.tried = f"{result.steps_done} steps, stopped before step {result.stopped_before}"
        locators = [e.locate for e in form.fields]
        for fill in page.evaluate(_CHANGED_JS, locators):
            exp = form.fields[fill["index"]] if fill["index"] >= 0 else None
            if exp is not None and exp.key == TRAP:
                score.traps_filled.append(exp.label)
            elif exp is None or exp.key is None:
                score.wrong_fills.append(f"filled a control that must be left: {fill['what']}")
            elif not _holds(exp, fill["value"], form, profile_data):
                score.wrong_fills.append(f"{exp.label} holds {fill['value']!r}")
        for priced, free in form.free.items():
            state = page.evaluate(_FREE_KEPT, [priced, free])
            if not state:
                score.paid_chosen.append(priced)
        score.aborted_requests = len(egress.aborted)
        score.leaked_requests = [u for u in egress.allowed if not u.startswith(server.url)]
    return score


def _holds(exp: Expect, value: str, form: RealForm, profile: dict[str, str]) -> bool:
    if exp.key == "terms":
        return value == "true"
    if exp.locate in form.options:
        return value == form.options[exp.locate]
    return value == profile.get(str(exp.key))


def score_all(browser: Any, server: PageServer) -> list[Score]:
    return [score_form(browser, server, f) for f in FORMS]


def table(scores: list[Score]) -> str:
    head = ("| form | mapped right / mappable | wrong fills | traps filled | paid options | review expected "
            "| review got |\n|---|---|---|---|---|---|---|")
    right, total = sum(s.right for s in scores), sum(s.mappable for s in scores)
    tail = (f"| **all ten** | **{right} / {total} ({100 * right / total:.1f} %)** | "
            f"{sum(len(s.wrong_fills) for s in scores)} | {sum(len(s.traps_filled) for s in scores)} | "
            f"{sum(len(s.paid_chosen) for s in scores)} | | {sum(s.review_ok for s in scores)} / {len(scores)} right |")
    return "\n".join([head, *(s.row() for s in scores), tail])
