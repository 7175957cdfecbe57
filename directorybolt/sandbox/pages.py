"""HTML of the sandbox directory sites.

Each form uses its own naming conventions (``id="business_name"``, ``name="company"``,
``#biz_name``, Google-Forms-style ``entry.N`` …), as real directories do, so that each
directory needs its own plan and a plan written for one site cannot pass on another
by accident. Everything a visitor posted is escaped before it is echoed back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from html import escape

#: Two-letter codes of the US states and DC: a customer from any state can be selected.
STATES: tuple[str, ...] = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS",
    "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC",
    "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY",
)
CATEGORIES: tuple[str, ...] = ("Restaurant", "Plumbing", "Legal", "Retail", "Other")

#: Fields of the wizard, by step; later steps carry earlier answers in hidden inputs.
WIZARD_FIELDS: dict[int, tuple[str, ...]] = {1: ("company", "contact"), 2: ("telephone", "homepage"), 3: ("about",)}

SUCCESS = "<div class='success-message'>Thank you! Your listing has been received.</div>"


def page(title: str, body: str) -> str:
    """A whole document; the small stylesheet keeps screenshots of the demo readable."""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}label{display:block;margin-top:.6em}"
        "input:not([type=checkbox]),textarea,select{width:100%;padding:.3em}button{margin-top:1em}"
        ".error{color:#a00}</style></head>"
        f"<body><header><p class='site'>{escape(title)}</p></header><main>{body}</main></body></html>"
    )


def index_page(directories: Mapping[str, str]) -> str:
    links = "".join(f"<li><a href='/{escape(d)}/'>{escape(name)}</a> <code>/{escape(d)}/</code></li>"
                    for d, name in directories.items())
    return page("Sandbox directories", f"<h1>Sandbox directories</h1><ul>{links}</ul>"
                "<p>Recorded submissions: <a href='/_submissions'>/_submissions</a></p>")


def confirmation(title: str, business: str, *, thank_you: bool = False) -> str:
    """The page every accepted submission ends on; plans expect ``.success-message``.

    ``thank_you`` adds the ``<h1>Thank you</h1>`` that the product catalog's success
    indicators look for (the catalog-style directory).
    """
    extra = "<h1>Thank you</h1>" if thank_you else ""
    return page(title, f"<h1>Listing received</h1>{extra}{SUCCESS}"
                f"<p class='confirmation'>We will review <b>{escape(business)}</b> shortly.</p>")


def error_page(title: str, status: int, message: str) -> str:
    return page(title, f"<h1>Error {status}</h1><p class='error'>{escape(message)}</p>")


def _label(for_id: str, text: str, control: str) -> str:
    return f"<label for='{for_id}'>{escape(text)}</label>{control}"


def _options(values: Iterable[str], placeholder: str) -> str:
    return f"<option value=''>{escape(placeholder)}</option>" + "".join(
        f"<option value='{escape(v)}'>{escape(v)}</option>" for v in values)


def plain_form(title: str, action: str) -> str:
    """Plain: ids equal the business field names; the plan fills ``#business_name`` etc."""
    return page(title, f"""<h1>Add your business</h1>
<form method="post" action="{escape(action)}">
{_label("business_name", "Business name", "<input id='business_name' name='business_name' required>")}
{_label("email", "Email", "<input id='email' name='email' type='email' required>")}
{_label("phone", "Phone", "<input id='phone' name='phone' type='tel'>")}
{_label("website", "Website", "<input id='website' name='website' type='url'>")}
{_label("description", "Description", "<textarea id='description' name='description' rows='4'></textarea>")}
<button id="submit" type="submit">Submit listing</button>
</form>""")


def snooping_form(title: str, action: str, probes: Iterable[str]) -> str:
    """A plain form whose page script tries to reach ``probes`` (URLs inside the
    deployment) in every way a page can: fetch, an image, a beacon, a WebSocket and a
    worker's fetch. The browser's egress filter must stop them all while the form
    still submits. Outcomes land in ``#probe-results`` for a person to see."""
    data = json.dumps(list(probes)).replace("<", "\\u003c")
    script = """<script>
const probes = JSON.parse(document.getElementById('probes').textContent);
const out = document.getElementById('probe-results');
const mark = (url, how) => { const li = document.createElement('li'); li.textContent = how + ' ' + url;
                             out.appendChild(li); };
for (const url of probes) {
  fetch(url, {mode: 'no-cors', method: 'POST', body: 'snoop'}).then(() => mark(url, 'reached'),
                                                                  () => mark(url, 'blocked'));
  new Image().src = url + '?via=img';
  try { navigator.sendBeacon(url + '?via=beacon', 'snoop'); } catch (e) { mark(url, 'beacon refused'); }
  try { const ws = new WebSocket(url.replace(/^http/, 'ws')); ws.onerror = () => mark(url, 'ws blocked'); }
  catch (e) { mark(url, 'ws refused'); }
  const src = "fetch(" + JSON.stringify(url + '?via=worker') + ", {mode: 'no-cors'}).catch(() => 0)";
  try { new Worker(URL.createObjectURL(new Blob([src], {type: 'text/javascript'}))); } catch (e) {}
}
</script>"""
    form = plain_form(title, action)
    extra = f"<script type='application/json' id='probes'>{data}</script><ul id='probe-results'></ul>{script}"
    return form.replace("</main>", extra + "</main>")


def wizard_step(title: str, step: int, carried: Mapping[str, str]) -> str:
    """One of the wizard's three server-side steps; earlier answers ride along hidden."""
    hidden = "".join(f"<input type='hidden' name='{escape(k)}' value='{escape(v)}'>" for k, v in carried.items())
    if step == 1:
        fields = (_label("company", "Company", "<input id='company' name='company' required>")
                  + _label("contact", "Contact email", "<input id='contact' name='contact' type='email' required>"))
        button, action = "<button class='next' type='submit'>Next</button>", "/wizard/step2"
    elif step == 2:
        fields = (_label("telephone", "Telephone", "<input id='telephone' name='telephone' type='tel'>")
                  + _label("homepage", "Homepage", "<input id='homepage' name='homepage' type='url'>"))
        button, action = "<button class='next' type='submit'>Next</button>", "/wizard/step3"
    else:
        fields = _label("about", "About the business", "<textarea id='about' name='about' rows='4'></textarea>")
        button, action = "<button class='finish' type='submit'>Submit listing</button>", "/wizard/submit"
    return page(title, f"<h1>Add your business</h1><p class='progress'>Step {step} of 3</p>"
                f"<form method='post' action='{action}'>{hidden}{fields}{button}</form>")


def select_form(title: str) -> str:
    """Selects for category and state, and a terms checkbox the server insists on."""
    return page(title, f"""<h1>Register your business</h1>
<form method="post" action="/select/submit">
{_label("biz_name", "Business name", "<input id='biz_name' name='biz_name' required>")}
{_label("biz_email", "Email", "<input id='biz_email' name='biz_email' type='email' required>")}
{_label("category", "Category", f"<select id='category' name='category'>{_options(CATEGORIES, 'Choose…')}</select>")}
{_label("city", "City", "<input id='city' name='city'>")}
{_label("state", "State", f"<select id='state' name='state'>{_options(STATES, '--')}</select>")}
{_label("zip", "ZIP", "<input id='zip' name='zip' inputmode='numeric'>")}
{_label("desc", "Description", "<textarea id='desc' name='desc' rows='4'></textarea>")}
<label for="terms"><input type="checkbox" id="terms" name="terms" value="yes"> I accept the terms of service</label>
<button id="send" type="submit">Send</button>
</form>""")


def captcha_form(title: str) -> str:
    """A reCAPTCHA widget that no script fills: a browser never posts a response token."""
    return page(title, f"""<h1>Submit your site</h1>
<form method="post" action="/captcha/submit">
{_label("name", "Business name", "<input id='name' name='name' required>")}
{_label("email", "Email", "<input id='email' name='email' type='email' required>")}
<div class="g-recaptcha" data-sitekey="sandbox"></div>
<button id="submit" type="submit">Submit</button>
</form>""")


def changed_form(title: str) -> str:
    """The redesigned form: the plan still targets ``#biz-name``/``#biz-email``/``#publish``."""
    return page(title, f"""<h1>List your business</h1>
<form method="post" action="/changed/submit">
{_label("listing_title", "Listing title", "<input id='listing_title' name='listing_title' required>")}
{_label("listing_mail", "Mail", "<input id='listing_mail' name='listing_mail' type='email' required>")}
<button id="go" type="submit">Publish</button>
</form>""")


def nomap_form(title: str) -> str:
    """For the form-mapping fallback: opaque ``entry.N`` names, so only the labels,
    ``autocomplete``, ``type`` and placeholders tell what each input is for. "Year
    founded" is optional and maps to no business field: the fallback must leave it."""
    return page(title, f"""<h1>Add your business for free</h1>
<form method="post" action="/nomap/submit">
{_label("e1", "Company name", "<input id='e1' name='entry.1001' autocomplete='organization' required>")}
{_label("e2", "Email address", "<input id='e2' name='entry.1002' type='email' required>")}
{_label("e3", "Phone", "<input id='e3' name='entry.1003' autocomplete='tel'>")}
{_label("e4", "Website", "<input id='e4' name='entry.1004' type='url' placeholder='https://'>")}
{_label("e5", "Street address", "<input id='e5' name='entry.1005' autocomplete='street-address'>")}
{_label("e6", "City", "<input id='e6' name='entry.1006' placeholder='City'>")}
{_label("e7", "ZIP / Postal code", "<input id='e7' name='entry.1007' autocomplete='postal-code'>")}
{_label("e8", "Year founded", "<input id='e8' name='entry.1008' inputmode='numeric' placeholder='e.g. 1998'>")}
{_label("e9", "About your business", "<textarea id='e9' name='entry.1009' rows='4'></textarea>")}
<button type="submit">Add my business</button>
</form>""")


def catalogstyle_form(title: str) -> str:
    """Built with the product catalog's selector conventions, so a compiled catalog plan
    runs here: note the email has no ``#email`` and the textarea only ``name='about'``."""
    return page(title, f"""<h1>Submit your business</h1>
<form method="post" action="/catalogstyle/submit">
{_label("business-name", "Business name", "<input id='business-name' name='business_name' required>")}
{_label("em", "Email", "<input id='em' name='email' type='email'>")}
{_label("phone", "Phone", "<input id='phone' name='phone' type='tel'>")}
{_label("website", "Website", "<input id='website' name='website'>")}
{_label("address", "Address", "<input id='address' name='address'>")}
{_label("city", "City", "<input id='city' name='city'>")}
{_label("state", "State", f"<select id='state' name='state'>{_options(STATES, '--')}</select>")}
{_label("zip", "ZIP", "<input id='zip' name='zip'>")}
{_label("category", "Category", f"<select id='category' name='category'>{_options(CATEGORIES, '--')}</select>")}
<label>About<textarea name="about" rows="4"></textarea></label>
<button type="submit" id="submit-btn">Submit</button>
</form>""")
