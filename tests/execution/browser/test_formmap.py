"""Each capability of the form mapper on a small page written for it, in real Chromium,
served from loopback; plans are run by the real runner and what the server receives is
checked, so "left empty" and "never clicked" are observed, not assumed."""

from __future__ import annotations

from typing import Any

import pytest

from directorybolt.core.errors import NeedsReview
from directorybolt.core.profiles import BusinessProfile
from directorybolt.execution.browser.formmap import FormMap, fallback_plan, map_form
from directorybolt.execution.browser.runner import run_plan
from tests.execution.browser.pages import PageServer

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PROFILE = {
    "business_name": "Kiln & Crumb Bakery", "email": "hello@kilnandcrumb.example", "phone": "+1 503 555 0188",
    "website": "https://kilnandcrumb.example", "address": "410 Hearth Street", "city": "Portland", "state": "OR",
    "zip": "97214", "country": "United States", "description": "Wood-fired sourdough since 2009.",
    "category": "Restaurant",
}


def profile(**changes: Any) -> BusinessProfile:
    data = {k: v for k, v in {**PROFILE, **changes}.items() if v is not None}
    return BusinessProfile.model_validate(data, context={"allow_private_websites": True})


def doc(body: str, head: str = "") -> str:
    return f"<!doctype html><html><head><meta charset='utf-8'>{head}</head><body>{body}</body></html>"


def mapped(pages: PageServer, page: Any, body: str, *, head: str = "", path: str = "/form") -> FormMap:
    url = pages.add(path, doc(body, head))
    page.goto(url, wait_until="domcontentloaded")
    return map_form(page, url, settle_ms=1000)


def keys(found: FormMap) -> dict[str, str | None]:
    """name (or id) of each control → the field the mapper gave it."""
    out = {}
    for r in found.fields:
        out[r.control.name or r.control.id] = r.key
    return out


def submit(page: Any, found: FormMap, prof: BusinessProfile | None = None, **kw: Any) -> Any:
    return run_plan(page, found.plan(), prof or profile(), step_timeout_ms=3000, **kw)


def posted(pages: PageServer) -> dict[str, str]:
    [(_, form)] = pages.posts
    return {k: v[0] for k, v in form.items()}


LABELS = """
<form method="post" action="/done">
  <label for="a">Business name</label><input id="a" name="a">
  <label>Email <input name="b"></label>
  <input name="c" aria-label="Phone number">
  <span id="lbl">Website</span><input name="d" aria-labelledby="lbl">
  <p>Street address</p><div><input name="e"></div>
  <table><tr><td>City</td><td><input name="f"></td></tr><tr><th>Postal code</th><td><input name="g"></td></tr></table>
  <div><textarea name="h" placeholder="Describe your business"></textarea></div>
  <div><input name="contact_person"></div>
  <div><input name="k" autocomplete="country-name"></div>
  <button type="submit">Submit listing</button>
</form>"""


def test_labels_by_for_wrap_aria_preceding_text_table_cell_placeholder_name_autocomplete(pages, page):
    found = mapped(pages, page, LABELS)
    assert keys(found) == {"a": "business_name", "b": "email", "c": "phone", "d": "website", "e": "address",
                           "f": "city", "g": "zip", "h": "description", "contact_person": "contact_name",
                           "k": "country"}
    sources = {r.control.name: r.evidence["source"] for r in found.fields}
    assert sources == {"a": "label", "b": "label", "c": "aria", "d": "aria", "e": "preceding", "f": "preceding",
                       "g": "preceding", "h": "placeholder", "contact_person": "name", "k": "autocomplete"}
    assert found.review_reason is None
    submit(page, found)
    got = posted(pages)
    assert (got["a"], got["b"], got["f"], got["g"], got["k"]) == (
        "Kiln & Crumb Bakery", "hello@kilnandcrumb.example", "Portland", "97214", "United States")


LANGUAGES = {
    "es": ("Nombre del negocio", "Correo electrónico", "Teléfono", "Sitio web", "Dirección", "Ciudad",
           "Código postal", "Descripción", "Categoría", "País"),
    "fr": ("Nom de l'entreprise", "Courriel", "Téléphone", "Site web", "Adresse", "Ville", "Code postal",
           "Description", "Catégorie", "Pays"),
    "de": ("Firmenname", "E-Mail-Adresse", "Telefonnummer", "Webseite", "Straße", "Stadt", "PLZ", "Beschreibung",
           "Kategorie", "Land"),
    "pt": ("Nome da empresa", "E-mail", "Telefone", "Página da web", "Endereço", "Cidade", "CEP", "Descrição",
           "Categoria", "País"),
    "zh": ("公司名称", "电子邮件", "联系电话", "网址", "详细地址", "城市", "邮政编码", "企业简介", "行业类别", "国家"),
    "hu": ("Cégnév", "E-mail cím", "Telefonszám", "Weboldal", "Cím", "Város", "Irányítószám", "Leírás", "Kategória",
           "Ország"),
}
FIELDS = ("business_name", "email", "phone", "website", "address", "city", "zip", "description", "category",
          "country")


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_labels_in_other_languages(pages, page, lang):
    controls = []
    for i, (label, key) in enumerate(zip(LANGUAGES[lang], FIELDS, strict=True)):
        if key in ("category", "country"):
            control = f"<select id='f{i}' name='f{i}'><option value=''>—</option><option>Restaurant</option>" \
                      "<option>United States</option></select>"
        elif key == "description":
            control = f"<textarea id='f{i}' name='f{i}'></textarea>"
        else:
            control = f"<input id='f{i}' name='f{i}'>"
        controls.append(f"<p><label for='f{i}'>{label}</label>{control}</p>")
    found = mapped(pages, page, f"<form method='post' action='/done'>{''.join(controls)}"
                                f"<button>Enviar</button></form>")
    assert [keys(found)[f"f{i}"] for i in range(len(FIELDS))] == list(FIELDS)
    assert found.review_reason is None


HONEYPOTS = """
<form method="post" action="/done">
  <label>Business name <input name="name" required></label>
  <label>Email <input name="email" type="email" required></label>
  <div style="display:none"><label>Website <input name="url_check"></label></div>
  <div style="position:absolute; left:-9999px"><label>Your phone <input name="phone_2"></label></div>
  <div aria-hidden="true"><label>Company website <input name="company_site"></label></div>
  <label>Fax <input name="fax" tabindex="-1"></label>
  <label>Address <input name="hp_address"></label>
  <label>Leave this field empty <input name="nickname"></label>
  <input name="zip_code" placeholder="ZIP" style="width:1px;height:1px;border:0;padding:0">
  <div style="height:0;overflow:hidden"><label>City <input name="city_2"></label></div>
  <div class="gform_validation_container"><label>Phone <input name="input_9"></label></div>
  <label>Website <input name="website" type="url"></label>
  <button type="submit">Submit</button>
</form>"""


TRAPS = ("url_check", "phone_2", "company_site", "fax", "hp_address", "nickname", "zip_code", "city_2", "input_9")


def test_honeypots_and_hidden_inputs_are_never_filled(pages, page):
    found = mapped(pages, page, HONEYPOTS)
    traps = {sel for sel, _ in found.traps}
    for name in TRAPS:
        assert f'input[name="{name}"]' in traps, name
    assert keys(found) == {"name": "business_name", "email": "email", "website": "website"}
    signs = dict(found.traps)
    assert "hidden" in signs['input[name="url_check"]'] and "off-screen" in signs['input[name="phone_2"]']
    assert "aria-hidden" in signs['input[name="company_site"]'] and "tabindex=-1" in signs['input[name="fax"]']
    assert "honeypot-name" in signs['input[name="hp_address"]'] and "honeypot-text" in signs['input[name="nickname"]']
    submit(page, found)
    got = posted(pages)
    assert got["website"] == PROFILE["website"]
    assert [n for n in TRAPS if got.get(n)] == []


CAPTCHAS = {
    "recaptcha": ("<script src='https://www.google.com/recaptcha/api.js' async defer></script>",
                  "<div class='g-recaptcha' data-sitekey='6Lc-test'></div>"),
    "hcaptcha": ("<script src='https://js.hcaptcha.com/1/api.js' async defer></script>",
                 "<div class='h-captcha' data-sitekey='10000000-ffff'></div>"),
    "turnstile": ("<script src='https://challenges.cloudflare.com/turnstile/v0/api.js' async defer></script>",
                  "<div class='cf-turnstile' data-sitekey='1x00000000000000000000AA'></div>"),
}


@pytest.mark.parametrize("kind", sorted(CAPTCHAS))
def test_captcha_widgets_send_the_directory_to_review(pages, page, kind):
    head, widget = CAPTCHAS[kind]
    found = mapped(pages, page, "<form method='post' action='/done'><label>Business name <input name='n'></label>"
                                f"<label>Email <input name='e' type='email'></label>{widget}<button>Submit</button>"
                                "</form>", head=head)
    assert found.review_reason == "captcha" and found.captcha == [kind]
    with pytest.raises(NeedsReview) as caught:
        fallback_plan(page, page.url, profile())
    assert caught.value.category == "captcha"
    assert pages.posts == []


WIZARD = """
<form id="w" method="post" action="/done">
  <div class="step"><h2>Your business</h2>
    <label>Business name <input name="biz" required></label>
    <label>Category <select name="cat" required><option value="">Pick one</option>
      <option value="rest">Restaurants</option><option value="shop">Shops</option></select></label>
    <button type="button" class="nx">Next</button></div>
  <div class="step"><h2>Contact</h2>
    <label>Email <input name="mail" type="email" required></label>
    <label>Phone <input name="tel" type="tel"></label>
    <button type="button" class="bk">Back</button> <button type="button" class="nx">Continue</button></div>
  <div class="step"><h2>Finish</h2>
    <label>About your business <textarea name="about"></textarea></label>
    <label><input type="checkbox" name="tos" required> I accept the terms of service</label>
    <button type="submit">Submit listing</button></div>
</form>
<script>
  const steps = Array.from(document.querySelectorAll('.step'));
  const show = n => steps.forEach((s, i) => s.style.display = i === n ? '' : 'none');
  show(0);
  document.querySelectorAll('.nx').forEach((b, i) => b.addEventListener('click', () => {
    const bad = Array.from(steps[i].querySelectorAll('input, select')).filter(el => !el.checkValidity());
    if (!bad.length) show(i + 1);
  }));
  document.querySelectorAll('.bk').forEach((b, i) => b.addEventListener('click', () => show(i)));
</script>"""


def test_a_wizard_is_walked_one_step_at_a_time_and_commits_only_on_the_last_click(pages, page):
    found = mapped(pages, page, WIZARD)
    assert found.wizard_steps == 3 and found.review_reason is None
    assert keys(found) == {"biz": "business_name", "cat": "category", "mail": "email", "tel": "phone",
                           "about": "description", "tos": "terms"}
    assert [s["action"] for s in found.steps] == [
        "goto", "fill", "select", "next", "fill", "fill", "next", "fill", "check", "click", "expect"]
    assert pages.posts == [], "mapping never sends the form"
    commits: list[tuple[bool, int]] = []

    def on_commit() -> None:
        last_step_shown = page.evaluate("() => document.querySelectorAll('.step')[2].style.display === ''")
        commits.append((last_step_shown, len(pages.posts)))

    submit(page, found, on_commit=on_commit)
    assert commits == [(True, 0)], "on_commit runs once, right before the click that sends the form"
    got = posted(pages)
    assert (got["biz"], got["cat"], got["mail"], got["about"], got["tos"]) == (
        "Kiln & Crumb Bakery", "rest", "hello@kilnandcrumb.example", PROFILE["description"], "on")


CHECKBOXES = """
<form method="post" action="/done">
  <label>Business name <input name="n" required></label>
  <label>Email <input name="e" type="email" required></label>
  <label><input type="checkbox" name="news"> Send me the newsletter and partner offers</label>
  <label><input type="checkbox" name="wifi"> Free WiFi</label>
  <label><input type="checkbox" name="featured"> Feature my listing on the home page ($10)</label>
  <label><input type="checkbox" name="agree" required> I agree to the Terms and the Privacy Policy</label>
  <button type="submit">Add listing</button>
</form>"""


def test_only_the_consent_checkbox_is_ticked(pages, page):
    found = mapped(pages, page, CHECKBOXES)
    assert [s for s in found.steps if s["action"] == "check"] == [
        {"action": "check", "selector": ['input[name="agree"]']}]
    submit(page, found)
    got = posted(pages)
    assert got.get("agree") == "on" and not {"news", "wifi", "featured"} & set(got)


def test_a_required_opt_in_is_not_consent(pages, page):
    found = mapped(pages, page, CHECKBOXES.replace('name="news"', 'name="news" required'))
    assert found.review_reason == "ambiguous" and "newsletter" in (found.review_detail or "")


def _plan_select(default: str = "") -> str:
    opts = [("free", "Basic — free"), ("pro", "Featured — $29/month"), ("max", "Premium — $99/month")]
    return "".join(f"<option value='{v}'{' selected' if v == default else ''}>{t}</option>" for v, t in opts)


PAID = """
<form method="post" action="/done">
  <label>Business name <input name="n" required></label>
  <label>Email <input name="e" type="email" required></label>
  <label>Listing plan <select name="plan">{options}</select></label>
  <fieldset><legend>Listing type</legend>
    <label><input type="radio" name="tier" value="std" checked> Standard (free)</label>
    <label><input type="radio" name="tier" value="gold"> Gold (€15/year)</label></fieldset>
  <button type="submit">Submit</button>
</form>"""


def test_a_priced_select_keeps_its_free_default(pages, page):
    found = mapped(pages, page, PAID.format(options=_plan_select("free")))
    assert found.review_reason is None
    assert not any(s.get("selector") == ['select[name="plan"]'] for s in found.steps)
    submit(page, found)
    assert (posted(pages)["plan"], posted(pages)["tier"]) == ("free", "std")


def test_a_priced_select_on_a_paid_default_is_moved_to_the_free_option(pages, page):
    found = mapped(pages, page, PAID.format(options=_plan_select("max")))
    assert {"action": "select", "value": "free", "selector": ['select[name="plan"]']} in found.steps
    submit(page, found)
    assert posted(pages)["plan"] == "free"


def test_a_priced_choice_without_a_free_option_is_ambiguous(pages, page):
    options = "<option value='pro' selected>Featured — $29/month</option><option value='max'>Premium — $99</option>"
    found = mapped(pages, page, PAID.format(options=options))
    assert found.review_reason == "ambiguous"


def test_a_category_option_that_costs_money_is_never_chosen(pages, page):
    body = """<form method="post" action="/done"><label>Business name <input name="n"></label>
      <label>Email <input name="e" type="email"></label>
      <label>Category <select name="c"><option value="">Choose</option><option value="r">Restaurant (+$20)</option>
      <option value="o">Other</option></select></label><button>Submit</button></form>"""
    found = mapped(pages, page, body)
    submit(page, found)
    assert posted(pages)["c"] != "r"


def test_reset_and_clear_buttons_are_never_clicked(pages, page):
    body = """<form method="post" action="/done">
      <label>Business name <input name="n" required></label><label>Email <input name="e" type="email" required></label>
      <button type="reset">Reset</button>
      <button type="button" onclick="this.form.reset()">Clear form</button>
      <input type="submit" value="Send listing"></form>"""
    found = mapped(pages, page, body)
    [click] = [s for s in found.steps if s["action"] == "click"]
    assert page.locator(click["selector"][0]).evaluate("el => el.value") == "Send listing"
    submit(page, found)
    assert posted(pages)["n"] == "Kiln & Crumb Bakery"


def test_a_required_file_is_upload_required_and_an_optional_one_is_not(pages, page):
    body = """<form method="post" action="/done"><label>Business name <input name="n" required></label>
      <label>Email <input name="e" type="email" required></label>
      <label>Gallery <input type="file" name="g"></label>{logo}<button>Submit</button></form>"""
    assert mapped(pages, page, body.format(logo="")).review_reason is None
    found = mapped(pages, page, body.format(logo="<label>Logo <input type='file' name='l' required></label>"),
                   path="/upload")
    assert found.review_reason == "upload_required"


@pytest.mark.parametrize(("body", "reason"), [
    ("<h1>Add your business</h1><p>Email us your details at <a href='mailto:list@dir.example'>list@dir.example"
     "</a>.</p>", "email_only"),
    ("<h1>Add your business</h1><form action='mailto:list@dir.example' method='post'><label>Business name "
     "<input name='n'></label><label>Email <input name='e' type='email'></label><button>Send</button></form>",
     "email_only"),
    ("<h1>About us</h1><p>We list local businesses.</p><form action='/search'><input name='q' "
     "placeholder='Search'><button>Go</button></form>", "no_form"),
    ("<form method='post' action='/login'><label>Email <input name='e' type='email'></label><label>Password "
     "<input name='p' type='password'></label><button>Log in</button></form>", "login"),
    ("<p>Please log in to submit your business.</p>", "login"),
    ("<form id='f'><label>Business name <input name='n'></label><label>Email <input name='e' type='email'>"
     "</label><button>Send</button></form><script>document.getElementById('f').addEventListener('submit', e => {"
     "e.preventDefault(); window.location.href = 'mailto:list@dir.example?body=' + new FormData(e.target).get('n');"
     "});</script>", "email_only"),
])
def test_pages_without_a_fillable_listing_form(pages, page, body, reason):
    found = mapped(pages, page, body)
    assert found.review_reason == reason, found.review_detail
    with pytest.raises(NeedsReview) as caught:
        fallback_plan(page, page.url, profile())
    assert caught.value.category == reason


def test_the_listing_form_is_chosen_over_search_and_newsletter_forms(pages, page):
    body = """<header><form action="/s"><input name="q" placeholder="Search listings"><button>Search</button></form>
      </header><form id="list" method="post" action="/done"><label>Business name <input name="n"></label>
      <label>Website <input name="w" type="url"></label><label>Email <input name="e" type="email"></label>
      <button>Submit</button></form>
      <footer><form action="/news"><input type="email" placeholder="Your email"><button>Subscribe</button></form>
      </footer>"""
    found = mapped(pages, page, body)
    assert found.form == "#list" and set(keys(found)) == {"n", "w", "e"}


@pytest.mark.parametrize(("extra", "why"), [
    ("<label>Email <input name='e2' type='email'></label>", "several inputs look like email"),
    ("<label>VAT number <input name='vat' required></label>", "tax_id"),
    ("<label>Favourite colour <input name='fav' required></label>", "no business field"),
    ("<label>Employees <select name='size' required><option value=''>-</option><option>1-10</option></select>"
     "</label>", "company_size"),
])
def test_ambiguity_ends_in_review_never_a_guess(pages, page, extra, why):
    body = (f"<form method='post' action='/done'><label>Business name <input name='n'></label><label>Email "
            f"<input name='e' type='email'></label>{extra}<button>Submit</button></form>")
    found = mapped(pages, page, body)
    assert found.review_reason == "ambiguous" and why in (found.review_detail or ""), found.review_detail
    with pytest.raises(NeedsReview) as caught:
        fallback_plan(page, page.url, profile())
    assert caught.value.category == "ambiguous"
    assert pages.posts == []


def test_a_confirmation_twin_gets_the_same_value(pages, page):
    body = """<form method="post" action="/done"><label>Business name <input name="n"></label>
      <label>Email <input name="e" type="email"></label><label>Confirm email <input name="e2" type="email"></label>
      <button>Submit</button></form>"""
    found = mapped(pages, page, body)
    assert found.review_reason is None
    submit(page, found)
    assert posted(pages)["e"] == posted(pages)["e2"] == PROFILE["email"]


def test_selects_take_the_clearly_best_option(pages, page):
    body = """<form method="post" action="/done"><label>Business name <input name="n"></label>
      <label>Email <input name="e" type="email"></label>
      <label>Country <select name="co"><option value="">-</option><option value="ca">Canada</option>
        <option value="us">USA</option></select></label>
      <label>State <select name="st"><option value="">-</option><option>Oregon</option><option>Washington</option>
        </select></label>
      <label>City <select name="ci"><option value="">-</option><option value="pdx">Portland, OR</option>
        <option value="sea">Seattle, WA</option></select></label>
      <label>Category <select name="ca"><option value="">-</option><option value="1">Restaurants &amp; Cafes</option>
        <option value="2">Retail</option></select></label>
      <button>Submit</button></form>"""
    found = mapped(pages, page, body)
    submit(page, found)
    got = posted(pages)
    assert (got["co"], got["st"], got["ci"], got["ca"]) == ("us", "Oregon", "pdx", "1")


def test_production_fallback_fills_the_form_and_never_invents_a_missing_value(pages, page):
    body = """<form method="post" action="/done"><label>Company name <input name="n" required></label>
      <label>Email <input name="e" type="email" required></label><label>Phone <input name="p" type="tel"></label>
      <label>Contact person <input name="c" required></label><button>Add my business</button></form>"""
    url = pages.add("/fallback", doc(body))
    page.goto(url)
    plan = fallback_plan(page, url, profile(contact_name="Maya Okafor", phone=None))
    run_plan(page, plan, profile(contact_name="Maya Okafor", phone=None))
    got = posted(pages)
    assert (got["n"], got["c"], got["p"]) == ("Kiln & Crumb Bakery", "Maya Okafor", "")
    pages.posts.clear()
    page.goto(url)
    plan = fallback_plan(page, url, profile())
    with pytest.raises(NeedsReview) as caught:
        run_plan(page, plan, profile())
    assert caught.value.category == "missing_field" and "contact_name" in str(caught.value)
    assert pages.posts == []


def test_a_wizard_with_link_buttons_is_walked(pages, page):
    body = WIZARD.replace('<button type="button" class="nx">Next</button>', '<a href="#" class="nx">Next</a>')
    found = mapped(pages, page, body)
    assert found.wizard_steps == 3 and found.review_reason is None


def test_a_form_drawn_after_load_is_found(pages, page):
    body = """<div id="app">Loading…</div><script>setTimeout(() => { document.getElementById('app').innerHTML =
      '<form method="post" action="/done"><label>Business name <input name="n"></label>' +
      '<label>Email <input name="e" type="email"></label><button>Submit</button></form>'; }, 600);</script>"""
    found = mapped(pages, page, body)
    assert found.review_reason is None and set(keys(found)) == {"n", "e"}


def test_a_form_embedded_from_another_site_is_not_called_missing(pages, page):
    body = ("<h1>Add your business</h1><iframe src='https://docs.google.com/forms/d/e/x/viewform' width='640' "
            "height='800'></iframe>")
    found = mapped(pages, page, body)
    assert found.review_reason == "ambiguous" and "embedded" in (found.review_detail or "")


def test_a_required_select_hidden_behind_a_widget_is_not_guessed(pages, page):
    body = """<form method="post" action="/done"><label>Business name <input name="n"></label>
      <label>Email <input name="e" type="email"></label>
      <label>Category <select name="c" required aria-hidden="true" tabindex="-1" style="position:absolute">
        <option value="">-</option><option>Restaurant</option></select><span class="widget">Choose…</span></label>
      <button>Submit</button></form>"""
    found = mapped(pages, page, body)
    assert found.review_reason == "ambiguous" and "hidden from people" in (found.review_detail or "")
    assert found.traps == []


def test_second_and_mobile_numbers_are_left_and_a_math_question_is_a_captcha(pages, page):
    body = """<form method="post" action="/done"><label>Business name <input name="n"></label>
      <label>Email <input name="e" type="email"></label><label>Phone <input name="p" type="tel"></label>
      <label>Mobile <input name="m" type="tel"></label><label>Phone 2 <input name="p2" type="tel"></label>
      <label>Video <input name="v" type="url"></label><button>Submit</button></form>"""
    found = mapped(pages, page, body)
    assert found.review_reason is None, found.review_detail
    assert [s.get("field") for s in found.steps if s["action"] == "fill"] == ["business_name", "email", "phone"]
    quiz = body.replace("<button>", "<label>What is 3 + 4? <input name='q' required></label><button>")
    assert mapped(pages, page, quiz, path="/quiz").review_reason == "captcha"


def test_placeholder_only_form_with_a_select_named_by_its_first_option_and_a_box_named_after_it(pages, page):
    body = """<form method="post" action="/done"><div><input name="a1" placeholder="公司名称"></div>
      <div><input name="a2" placeholder="电子邮箱"></div>
      <div><textarea name="a3" placeholder="公司简介"></textarea></div>
      <div><select name="a4"><option value="">请选择行业类别</option>
        <option value="r">Restaurant</option></select></div>
      <div><input type="checkbox" name="a5" required> 我已阅读并同意《用户协议》</div>
      <button type="submit">提交</button></form>"""
    found = mapped(pages, page, body)
    assert keys(found) == {"a1": "business_name", "a2": "email", "a3": "description", "a4": "category",
                           "a5": "terms"}
    assert found.review_reason is None
    submit(page, found)
    assert (posted(pages)["a4"], posted(pages)["a5"]) == ("r", "on")
