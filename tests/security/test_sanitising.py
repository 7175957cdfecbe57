"""Probes 1 and 2: text is decoded, normalised and stripped to plain text before its
length is checked; the database never holds a tag, encoded or not; no text is a 500."""

from __future__ import annotations

import html
import re

import nh3
import pytest
from sqlalchemy import select

from directorybolt.core.profiles import clean_text
from directorybolt.store import db
from directorybolt.store.models import Customer
from tests.api.conftest import Keys, profile

_TAGS = [
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "<svg onload=alert(1)>",
    "<svg><script>alert(1)</script></svg>",
    "<iframe src=javascript:alert(1)>", "<body onload=alert(1)>", "<a href=javascript:alert(1)>x</a>",
    "<div style=\"background:url(javascript:alert(1))\">",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<details open ontoggle=alert(1)>", "<input autofocus onfocus=alert(1)>", "<marquee onstart=alert(1)>",
    "<object data=javascript:alert(1)>", "<embed src=javascript:alert(1)>", "<link rel=import href=//evil>",
    "<meta http-equiv=refresh content=0;url=//evil>", "<form action=//evil><button>x</button></form>",
    "<textarea><b>x</b></textarea>", "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
    "<<script>script>alert(1)<</script>/script>", "<scr<script>ipt>alert(1)</script>", "<!--<script>-->alert(1)",
    "<svg><animate onbegin=alert(1) attributeName=x dur=1s>", "<video><source onerror=alert(1)>",
    "<audio src=x onerror=alert(1)>", "<isindex type=image src=1 onerror=alert(1)>",
    "<xss onafterscriptexecute=alert(1)>",
    "<style>@import 'javascript:alert(1)';</style>", "<base href=//evil/>", "<plaintext><b>x",
]


def _entity_forms(tag: str) -> list[str]:
    named = tag.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    decimal = "".join(f"&#{ord(c)};" if c in "<>\"'" else c for c in tag)
    hexa = "".join(f"&#x{ord(c):x};" if c in "<>" else c for c in tag)
    return [named, decimal, hexa, named.replace("&", "&amp;")]  # plain entities and double-encoded


UNICODE_TRICKS = [
    "\uff1cscript\uff1ealert(1)\uff1c/script\uff1e",          # fullwidth < >
    "\ufe64script\ufe65alert(1)\ufe64/script\ufe65",          # small form variants
    "<scr\u200bipt>alert(1)</scr\u200bipt>",                 # zero-width space inside the name
    "<\u202escript>alert(1)</script>",                        # bidi override
    "&lt\u00adscript&gt;",                                     # soft hyphen splitting an entity
    "<img src=x onerror=\u0061lert(1)>", "\u003cscript\u003ealert(1)\u003c/script\u003e",
    "&#x3c;script&#x3e;", "&#X3C;svg onload=alert(1)&#X3E;", "&#0000060;script&#0000062;", "&lt;script&gt",
    "&LT;script&GT;", "&amp;amp;lt;script&amp;amp;gt;alert(1)", "%3Cscript%3E is not markup",
]

CORPUS = [*_TAGS, *(f for t in _TAGS for f in _entity_forms(t)), *UNICODE_TRICKS]
assert len(CORPUS) >= 100


def has_markup(text: str | None) -> bool:
    """A tag or an entity, now or after any number of decodings."""
    if not text:
        return False
    if html.unescape(text) != text:
        return True
    stripped = html.unescape(nh3.clean(text, tags=set(), attributes={}, strip_comments=True))
    return stripped != text or bool(re.search(r"<[a-zA-Z/!?]", text))


@pytest.mark.slow
def test_corpus_never_stores_markup_and_never_fails(roomy_api, keys, clean):
    statuses = {}
    with roomy_api.client() as c:
        for i, payload in enumerate(CORPUS):
            body = {"customer": profile(business_name=f"Acme {payload}", description=f"Best. {payload} Open late",
                                        city=payload[:120]), "tier": "starter"}
            r = c.post("/api/jobs", json=body, headers=Keys.bearer(keys.producer))
            statuses[i] = r.status_code
            assert r.status_code in (202, 422), (payload, r.status_code, r.text)
    with db.session() as s:
        rows = s.execute(select(Customer.business_name, Customer.description, Customer.city)).all()
    assert len(rows) == list(statuses.values()).count(202) > 100
    for row in rows:
        for value in row:
            assert not has_markup(value), value
            assert "alert(1)" not in (value or "") or "<" not in value


def test_the_probes_of_the_issue(api, keys, clean):
    """Probe 1: U+00A0 in every short field; probe 2: entity-encoded tags."""
    nb = "\u00a0"
    fields = {"business_name": f"Caf\u00e9{nb}Bar", "address": f"1{nb}Main{nb}St", "city": f"Port{nb}land",
              "state": f"O{nb}R", "zip": f"1{nb}2{nb}3{nb}4", "category": f"Food{nb}&amp;{nb}Drink",
              "description": "&lt;b&gt;Open&lt;/b&gt; &#60;i&#62;late&#60;/i&#62;, &amp;lt;img src=x onerror=x&amp;gt;"
                             "&lt;script&gt;alert(1)&lt;/script&gt;daily"}
    with api.client() as c:
        r = c.post("/api/jobs", json={"customer": profile(**fields), "tier": "starter"},
                   headers=Keys.bearer(keys.producer))
    assert r.status_code == 202, r.text
    with db.session() as s:
        row = s.scalar(select(Customer))
    assert (row.business_name, row.address, row.city, row.state, row.zip, row.category) == (
        "Café Bar", "1 Main St", "Port land", "O R", "1 2 3 4", "Food & Drink")
    assert row.description == "Open late, daily"


def test_too_long_after_cleaning_is_422_naming_the_field(api, keys, clean):
    with api.client() as c:
        # NFKC turns U+FDFA into 18 characters: 20 of them are 360 once normalised.
        r = c.post("/api/jobs", json={"customer": profile(business_name="\ufdfa" * 20), "tier": "starter"},
                   headers=Keys.bearer(keys.producer))
        ok = c.post("/api/jobs", json={"customer": profile(zip="&nbsp;" * 3 + "97214"), "tier": "starter"},
                    headers=Keys.bearer(keys.producer))
    assert r.status_code == 422 and "business_name" in r.json()["error"] and "once cleaned" in r.json()["error"]
    assert ok.status_code == 202, ok.text  # 23 characters sent, 5 stored


def test_cleaning_is_a_fixed_point():
    for payload in CORPUS:
        once = clean_text(payload)
        assert clean_text(once) == once and not has_markup(once), payload


def test_engine_hides_parameters_and_data_error_is_422(clean, caplog):
    import asyncio

    import httpx
    import sqlalchemy.exc
    from sqlalchemy import text

    from directorybolt.api.app import create_app

    assert db.engine().hide_parameters is True
    app = create_app()

    def too_long() -> None:
        with db.session() as s:
            s.execute(text("INSERT INTO customers (id, business_name, email, zip) VALUES "
                           "(gen_random_uuid(), 'x', :email, :zip)"),
                      {"email": "secret@customer.example", "zip": "9" * 30})

    app.add_api_route("/api/too-long", too_long)

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as c:
            return await c.get("/api/too-long")

    with pytest.raises(sqlalchemy.exc.DataError) as info:
        too_long()
    assert "secret@customer.example" not in str(info.value) and "999999" not in str(info.value)
    r = asyncio.run(call())
    assert r.status_code == 422 and "too long" in r.json()["error"]
    assert "secret@customer.example" not in caplog.text
