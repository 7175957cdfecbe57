"""The mapper's vocabulary and option rules, without a browser."""

from __future__ import annotations

import pytest

from directorybolt.execution.browser.options import Option, best_option, free_choice, is_free, is_paid
from directorybolt.execution.browser.synonyms import FIELDS, classify, fold
from directorybolt.execution.browser.vocabulary import WORDS, has_word

LANGS = {"en", "es", "fr", "de", "pt", "zh", "hu"}
COMMON = ("business_name", "email", "phone", "website", "address", "city", "zip", "description", "category",
          "country", "state", "contact_name")


@pytest.mark.parametrize("key", COMMON)
def test_every_common_field_has_words_in_every_language(key):
    assert set(FIELDS[key]) == LANGS


@pytest.mark.parametrize("kind", ["consent", "opt_in", "next", "submit", "reset", "free"])
def test_every_button_and_checkbox_word_list_has_every_language(kind):
    assert set(WORDS[kind]) == LANGS


@pytest.mark.parametrize(("text", "key"), [
    ("Email Address*", "email"), ("E-mail cím", "email"), ("Business Phone *", "phone"),
    ("Company website", "website"), ("Company email", "email"), ("Company", "business_name"),
    ("Logo URL", "logo_url"), ("Facebook URL", "social_facebook"), ("X", "social_x"),
    ("Address Line 2", "address2"), ("addressLine1", "address"), ("Postal/Zip Code", "zip"),
    ("State/Region", "state"), ("Region", "region"), ("County", "state"), ("Subcategory *", "subcategory"),
    ("Trade category", "category"), ("Service Type", "category"), ("Industry", "industry"),
    ("Notes (service area, licence #)", "description"), ("Tell Us About Your Business", "description"),
    ("Owner Name", "contact_name"), ("Contact Name", "contact_name"), ("Legal / operating name", "business_name"),
    ("toolName", "business_name"), ("How did you hear about us?", "referral"), ("Listing Plan", "plan"),
    ("Repeat password", "password"), ("Search businesses…", "search"), ("Opening Hours", "hours"),
    ("Nombre del negocio", "business_name"), ("Código postal", "zip"), ("Site web", "website"),
    ("Postleitzahl", "zip"), ("Straße und Hausnummer", "address"), ("Endereço", "address"),
    ("联系人", "contact_name"), ("邮箱地址", "email"), ("Irányítószám", "zip"), ("Kapcsolattartó neve", "contact_name"),
    ("Video URL", "video"), ("Title", "business_name"), ("Business Genre", "category"), ("URL", "website"),
    ("Business Website Address", "website"), ("I'm not a robot", "captcha"),
])
def test_classify(text, key):
    m = classify(text)
    assert m is not None and m.key == key, m


@pytest.mark.parametrize("text", ["Menu URL", "Booking link", "Job title", "Products", "Year founded"])
def test_unknown_labels_name_nothing_fillable(text):
    m = classify(text)
    assert m is None or m.key not in ("website", "business_name", "description"), m


def test_fold_splits_identifiers_and_drops_accents():
    assert fold("businessName2") == "business name 2"
    assert fold("  Téléphone*: ") == "telephone"


def test_consent_and_opt_in_words():
    assert has_word("consent", "J'accepte les conditions générales")
    assert has_word("consent", "Elfogadom az adatvédelmi feltételeket")
    assert has_word("opt_in", "Ich möchte den Newsletter abonnieren")
    assert not has_word("consent", "Free WiFi")


@pytest.mark.parametrize(("label", "paid", "free"), [
    ("Free — Basic listing (no cost)", False, True), ("Featured — $49/month", True, False),
    ("Premium Listing (£39/year)", True, False), ("Free Listing (£0/year)", False, True),
    ("Gratuit", False, True), ("Kostenlos", False, True), ("免费", False, True), ("Ingyenes", False, True),
    ("Gold 1.500 Ft / hó", True, False), ("Restaurant", False, False), ("Freemium", False, False),
    ("Monthly featured spot", True, False),
])
def test_price_and_free_options(label, paid, free):
    assert (is_paid(label), is_free(label)) == (paid, free)


def test_free_choice_needs_exactly_one_free_option():
    options = [Option("a", "Basic (free)"), Option("b", "Pro $10/mo")]
    assert free_choice(options) == options[0]
    assert free_choice([*options, Option("c", "Free trial")]) is None


@pytest.mark.parametrize(("options", "wanted", "key", "expected"), [
    (["United States", "Canada"], "USA", "country", "United States"),
    (["Deutschland", "Österreich"], "Germany", "country", "Deutschland"),
    (["Magyarország", "Ausztria"], "Hungary", "country", "Magyarország"),
    (["Oregon", "Washington"], "OR", "state", "Oregon"),
    (["OR", "WA"], "Oregon", "state", "OR"),
    (["Ontario, CA", "Fontana, CA"], "Ontario", "city", "Ontario, CA"),
    (["Restaurant", "Retail"], "Restaurants", "category", "Restaurant"),
    (["Plumbing", "Roofing"], "Bakery", "category", None),
    (["Food & Drink", "Food trucks"], "Food", "category", None),  # two equally good: no guess
    (["Restaurant (+$20)", "Other"], "Restaurant", "category", None),  # costs money: never chosen
])
def test_best_option(options, wanted, key, expected):
    chosen = best_option([Option(o, o) for o in options], wanted, key)
    assert (chosen.label if chosen else None) == expected
