"""What a Stripe event means to us, without Stripe, a network or a database."""

from __future__ import annotations

import json

import pytest

from directorybolt.core import checkout
from directorybolt.core.settings import Settings
from tests.api import stripe_events as se

SETTINGS = Settings(database_url="postgresql://unused", redis_url="redis://unused", fast_track_price_usd=99)


def _order(session: dict, event_type: str = "checkout.session.completed") -> checkout.PaidOrder | None:
    envelope = checkout.parse_event(json.dumps(se.event(event_type, session)).encode())
    return checkout.paid_order(envelope, SETTINGS)


@pytest.mark.parametrize("package, fast_track, cents", [
    ("starter", False, 14900), ("growth", False, 29900), ("pro", False, 49900), ("enterprise", False, 79900),
    ("starter", True, 24800), ("growth", True, 39800),
])
def test_the_price_of_a_package_is_tier_price_plus_add_on(package, fast_track, cents):
    assert checkout.expected_cents(package, fast_track, SETTINGS) == cents
    order = _order(se.checkout_session(package=package, fast_track=fast_track, amount=cents))
    assert (order.package, order.fast_track, order.review, order.problem) == (package, fast_track, None, None)
    assert order.payload == "", "a clean order keeps no copy of the session"


def test_prices_come_from_settings():
    dearer = Settings(database_url="x", redis_url="x", fast_track_price_usd=150)
    assert checkout.expected_cents("starter", True, dearer) == 29900


@pytest.mark.parametrize("changes, review", [
    ({"amount": 14800}, "paid $148.00, but starter costs $149.00"),
    ({"fast_track": True, "amount": 14900}, "paid $149.00, but starter + fast track costs $248.00"),
    ({"currency": "eur"}, 'paid in "eur", but starter is priced in USD'),
])
def test_an_amount_that_does_not_add_up_is_held_for_review(changes, review):
    order = _order(se.checkout_session(package="starter", **changes))
    assert order.review == review and order.problem is None and order.package == "starter"
    assert json.loads(order.payload)["id"] == order.session_id


def test_an_unclear_fast_track_flag_is_held_not_guessed():
    session = se.checkout_session(package="starter")
    session["metadata"]["fast_track"] = "maybe"
    order = _order(session)
    assert order.review == 'metadata.fast_track is "maybe"; expected true or false' and order.fast_track is False


@pytest.mark.parametrize("metadata, problem", [
    ({}, "the checkout carries no metadata.package"),
    ({"package": "gold", "business_name": "X"}, 'metadata.package "gold" is not a package we sell'),
    ({"package": "professional"}, "business_name: Field required"),
    ({"package": "starter", "business_name": "X", "phone": "call me"}, "phone"),
    ({"package": "starter", "business_name": "A\x00B"}, "business_name contains a NUL character"),
])
def test_an_order_that_cannot_become_a_job_says_why(metadata, problem):
    order = _order(se.checkout_session(metadata=metadata))
    assert order.problem and problem in order.problem and order.review is None


def test_professional_is_pro_and_the_listing_overrides_billing_details():
    session = se.checkout_session(package="pro", metadata={
        "package": "Professional", "business_name": "Pine Street Dental", "phone": "+1 503 555 0100",
        "city": "Beaverton"})
    order = _order(session)
    assert order.package == "pro" and order.problem is None
    assert order.profile == {
        "business_name": "Pine Street Dental", "email": "billing@pinestreetdental.example", "phone": "+1 503 555 0100",
        "address": "410 SW Pine St, Suite 2", "city": "Beaverton", "state": "OR", "zip": "97204",
    }


def test_business_name_may_come_from_the_checkout_form():
    session = se.checkout_session(metadata={"package": "starter"})
    session["customer_details"]["business_name"] = "Pine Street Dental LLC"
    assert _order(session).profile["business_name"] == "Pine Street Dental LLC"


def test_a_completed_checkout_waiting_for_its_money_is_no_order_yet():
    session = se.checkout_session(payment_status="unpaid")
    assert _order(session) is None
    assert _order({**session, "payment_status": "paid"}, "checkout.session.async_payment_succeeded") is not None


def test_refund_reads_the_charge():
    r = checkout.refund(checkout.parse_event(json.dumps(se.event("charge.refunded", se.charge_refunded(
        "pi_1", full=False))).encode()))
    assert (r.payment_intent, r.full, r.amount_refunded) == ("pi_1", False, 1000)


@pytest.mark.parametrize("body", [b"", b"[]", b'{"id": "evt_1"}', b'{"id": "", "type": "x", "data": {"object": {}}}',
                                  b'{"id": "evt_1", "type": "x", "data": {"object": []}}', b"\xff\xfe",
                                  b'{"id": "evt_1", "type": "x", "data": {"object": {"name": "A\\ud800B"}}}'])
def test_malformed_events_are_refused(body):
    with pytest.raises(checkout.MalformedEvent):
        checkout.parse_event(body)
