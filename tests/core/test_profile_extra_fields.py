"""The profile fields directories ask for besides the core listing (issue 15): validated
like the rest, stored in their own columns (migration 0007), read back whole."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from directorybolt.core.plans import BUSINESS_FIELDS, Plan
from directorybolt.core.profiles import BusinessProfile
from directorybolt.lifecycle import jobs
from directorybolt.store import db
from directorybolt.store.models import Customer

EXTRA = {"tagline": "Bread from a <b>wood-fired</b> kiln", "contact_name": "  Maya   Okafor ", "country": "Portugal",
         "logo_url": "https://kiln.example/logo.png", "social_facebook": "https://facebook.com/kiln",
         "social_x": "https://x.com/kiln", "social_instagram": "https://instagram.com/kiln",
         "social_linkedin": "https://linkedin.com/company/kiln"}


def test_extra_fields_are_business_fields_a_plan_may_fill():
    assert set(EXTRA) <= set(BUSINESS_FIELDS)
    Plan.model_validate({"steps": [{"action": "goto", "url": "https://d.example"},
                                   {"action": "fill", "field": "contact_name", "selector": "#c"},
                                   {"action": "expect", "text": "ok"}]})


def test_extra_fields_are_sanitised_and_links_checked():
    p = BusinessProfile.model_validate({"business_name": "Kiln", "email": "a@kiln.example", **EXTRA})
    assert (p.tagline, p.contact_name) == ("Bread from a wood-fired kiln", "Maya Okafor")
    assert p.field("social_x") == "https://x.com/kiln"
    assert BusinessProfile.model_validate({"business_name": "Kiln", "email": "a@kiln.example"}).field("country") == ""


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://kiln.example/logo.png", "http://10.0.0.1/logo.png"])
def test_links_must_be_public_http(url):
    with pytest.raises(ValidationError):
        BusinessProfile.model_validate({"business_name": "Kiln", "email": "a@kiln.example", "logo_url": url})


def test_extra_fields_are_stored_and_read_back(clean):
    with db.session() as s:
        cid = jobs.create_customer(s, {"business_name": "Kiln", "email": "a@kiln.example", **EXTRA}).id
    with db.session() as s:
        profile = s.get(Customer, cid).profile()
    assert profile.contact_name == "Maya Okafor" and profile.social_linkedin == EXTRA["social_linkedin"]
