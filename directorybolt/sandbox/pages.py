"""HTML of the sandbox directory sites. Each form uses its own naming conventions,
as real directories do, so plans differ from one directory to the next."""

from __future__ import annotations

from html import escape

STATES = ["CA", "NY", "OR", "TX", "WA"]
CATEGORIES = ["Restaurant", "Plumbing", "Legal", "Retail", "Other"]


def page(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}label{display:block;margin-top:.6em}"
        "input,textarea,select{width:100%;padding:.3em}</style></head>"
        f"<body><h2>{escape(title)}</h2>{body}</body></html>"
    )


def confirmation(directory: str, business: str) -> str:
    return page(
        f"{directory} — listing received",
        "<h1>Listing received</h1><h1>Thank you</h1>"
        "<div class='success-message'>Thank you! Your listing has been received.</div>"
        f"<p class='confirmation'>We will review <b>{escape(business)}</b> shortly.</p>",
    )


def error_page(status: int, message: str) -> str:
    return page(f"Error {status}", f"<h1>Error {status}</h1><p class='error'>{escape(message)}</p>")


def _field(label: str, html: str, for_id: str) -> str:
    return f"<label for='{for_id}'>{escape(label)}</label>{html}"


def plain_form(action: str) -> str:
    return page("Plain Directory", f"""
<form method="post" action="{action}">
{_field("Business name", "<input id='business_name' name='business_name' required>", "business_name")}
{_field("Email", "<input id='email' name='email' type='email' required>", "email")}
{_field("Phone", "<input id='phone' name='phone'>", "phone")}
{_field("Website", "<input id='website' name='website'>", "website")}
{_field("Description", "<textarea id='description' name='description'></textarea>", "description")}
<button id="submit" type="submit">Submit listing</button>
</form>""")


def wizard_step(step: int, carried: dict[str, str]) -> str:
    hidden = "".join(f"<input type='hidden' name='{escape(k)}' value='{escape(v)}'>" for k, v in carried.items())
    if step == 1:
        fields = (_field("Company", "<input id='company' name='company' required>", "company")
                  + _field("Contact email", "<input id='contact' name='contact' type='email'>", "contact"))
        button = "<button class='next' type='submit'>Next</button>"
    elif step == 2:
        fields = (_field("Telephone", "<input id='telephone' name='telephone'>", "telephone")
                  + _field("Homepage", "<input id='homepage' name='homepage'>", "homepage"))
        button = "<button class='next' type='submit'>Next</button>"
    else:
        fields = _field("About", "<textarea id='about' name='about'></textarea>", "about")
        button = "<button class='finish' type='submit'>Submit listing</button>"
    return page(f"Wizard Directory — step {step} of 3",
                f"<form method='post' action='/wizard/step{step + 1}'>{hidden}{fields}{button}</form>")


def select_form() -> str:
    states = "".join(f"<option value='{s}'>{s}</option>" for s in STATES)
    cats = "".join(f"<option>{c}</option>" for c in CATEGORIES)
    return page("Select Directory", f"""
<form method="post" action="/select/submit">
{_field("Business name", "<input id='biz_name' name='biz_name' required>", "biz_name")}
{_field("Email", "<input id='biz_email' name='biz_email' type='email'>", "biz_email")}
{_field("Category", f"<select id='category' name='category'><option value=''>Choose…</option>{cats}</select>",
        "category")}
{_field("City", "<input id='city' name='city'>", "city")}
{_field("State", f"<select id='state' name='state'><option value=''>--</option>{states}</select>", "state")}
{_field("ZIP", "<input id='zip' name='zip'>", "zip")}
{_field("Description", "<textarea id='desc' name='desc'></textarea>", "desc")}
<label><input type="checkbox" id="terms" name="terms" value="yes"> I accept the terms</label>
<button id="send" type="submit">Send</button>
</form>""")


def captcha_form() -> str:
    return page("Captcha Directory", """
<form method="post" action="/captcha/submit">
<label for="name">Business name</label><input id="name" name="name">
<label for="email">Email</label><input id="email" name="email" type="email">
<div class="g-recaptcha" data-sitekey="sandbox"></div>
<button id="submit" type="submit">Submit</button>
</form>""")


def changed_form() -> str:
    return page("Changed Directory", """
<form method="post" action="/changed/submit">
<label for="listing_title">Listing title</label><input id="listing_title" name="listing_title">
<label for="listing_mail">Mail</label><input id="listing_mail" name="listing_mail" type="email">
<button id="go" type="submit">Publish</button>
</form>""")


def nomap_form() -> str:
    return page("Unmapped Directory", """
<form method="post" action="/nomap/submit">
<label for="f1">Company name</label><input id="f1" name="f1" autocomplete="organization" required>
<label for="f2">Email address</label><input id="f2" name="f2" type="email" required>
<label for="f3">Phone</label><input id="f3" name="f3" autocomplete="tel">
<label for="f4">Website</label><input id="f4" name="f4" type="url">
<label for="f5">Street address</label><input id="f5" name="f5" autocomplete="street-address">
<label for="f6">City</label><input id="f6" name="f6" placeholder="City">
<label for="f7">ZIP / Postal code</label><input id="f7" name="f7" autocomplete="postal-code">
<label for="f8">Year founded</label><input id="f8" name="f8">
<label for="f9">About your business</label><textarea id="f9" name="f9"></textarea>
<button type="submit">Add my business</button>
</form>""")


def catalogstyle_form() -> str:
    states = "".join(f"<option value='{s}'>{s}</option>" for s in STATES)
    cats = "".join(f"<option>{c}</option>" for c in CATEGORIES)
    return page("Catalog-style Directory", f"""
<form method="post" action="/catalogstyle/submit">
<label for="business-name">Business name</label><input id="business-name" name="business_name" required>
<label for="em">Email</label><input id="em" name="email" type="email">
<label for="phone">Phone</label><input id="phone" name="phone" type="tel">
<label for="website">Website</label><input id="website" name="website">
<label for="address">Address</label><input id="address" name="address">
<label for="city">City</label><input id="city" name="city">
<label for="state">State</label><select id="state" name="state"><option value=''>--</option>{states}</select>
<label for="zip">ZIP</label><input id="zip" name="zip">
<label for="category">Category</label><select id="category" name="category"><option value=''>--</option>{cats}</select>
<label for="about">About</label><textarea name="about"></textarea>
<button type="submit" id="submit-btn">Submit</button>
</form>""")
