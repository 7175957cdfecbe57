"""What a Stripe event means to us: a paid checkout (which package, fast track or not,
who the customer is, and whether the amount paid is what that costs) or a refund.

Pure (no I/O), so every rule is tested without Stripe, a network or a database. An
order that does not add up is never guessed at: ``review`` holds its job for a person,
``problem`` says why it cannot become a job at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from directorybolt.core.plans import BUSINESS_FIELDS
from directorybolt.core.profiles import BusinessProfile
from directorybolt.core.settings import Settings, canonical_tier

#: Tier prices are settings in US dollars (``TierSpec.price_usd``); Stripe counts cents.
CURRENCY = "usd"
PAID_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
REFUND_EVENT = "charge.refunded"
#: ``checkout.session.completed`` makes an order only once the money is there; an
#: asynchronous payment (bank debit) completes ``unpaid`` and succeeds in a later event.
PAID_STATUSES = ("paid", "no_payment_required")
_FLAGS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False, "": False}

StripeId = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9_]+$")]
Currency = Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")]
Cents = Annotated[int, Field(ge=0, le=10**12)]


class MalformedEvent(ValueError):
    """The signed body is not a Stripe event we can read."""


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Data(_Lenient):
    object: dict[str, Any]


class Envelope(_Lenient):
    id: StripeId
    type: str = Field(min_length=1, max_length=100)
    data: _Data


class _Address(_Lenient):
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None


class _CustomerDetails(_Lenient):
    email: str | None = None
    phone: str | None = None
    business_name: str | None = None
    address: _Address | None = None


class _Session(_Lenient):
    id: StripeId
    payment_status: str | None = None
    amount_total: Cents | None = None
    currency: Currency | None = None
    payment_intent: StripeId | None = None
    customer_details: _CustomerDetails | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class _Charge(_Lenient):
    id: StripeId
    payment_intent: StripeId | None = None
    refunded: bool = False
    amount: Cents | None = None
    amount_refunded: Cents = 0
    currency: Currency | None = None


@dataclass(frozen=True)
class PaidOrder:
    event_id: str
    event_type: str
    session_id: str
    payment_intent: str | None
    package: str | None  # canonical tier; None when the metadata names none we sell
    fast_track: bool
    amount_total: int | None
    currency: str | None
    profile: dict[str, str]
    problem: str | None  # it cannot become a job (no package, unusable profile)
    review: str | None  # the job is created but held: the amount does not add up
    payload: str  # the session as Stripe sent it (JSON text), kept when a person must look


@dataclass(frozen=True)
class Refund:
    event_id: str
    charge_id: str
    payment_intent: str | None
    full: bool
    amount_refunded: int
    currency: str | None


def parse_event(payload: bytes) -> Envelope:
    try:
        return Envelope.model_validate_json(payload)
    except PydanticValidationError as exc:
        raise MalformedEvent(_first_error(exc)) from None


def _first_error(exc: PydanticValidationError) -> str:
    e = exc.errors()[0]
    where = ".".join(str(p) for p in e["loc"]) or "body"
    return f"{where}: {e['msg']}"


def _read(model: type[BaseModel], event: Envelope) -> Any:
    try:
        return model.model_validate(event.data.object)
    except PydanticValidationError as exc:
        raise MalformedEvent(f"data.object.{_first_error(exc)}") from None


def paid_order(event: Envelope, settings: Settings) -> PaidOrder | None:
    """The order a paid-checkout event makes; None while the payment is still pending."""
    session: _Session = _read(_Session, event)
    if event.type == "checkout.session.completed" and session.payment_status not in PAID_STATUSES:
        return None
    meta = session.metadata
    profile = _profile(session)
    package = canonical_tier(meta.get("package", ""))
    fast_track = _FLAGS.get(meta.get("fast_track", "").strip().lower())
    problem = review = None
    if not package:
        problem = "the checkout carries no metadata.package"
    elif package not in settings.tiers:
        problem = (f"metadata.package {_show(meta['package'])} is not a package we sell "
                   f"({', '.join(settings.tiers_by_priority())})")
    else:
        problem = _profile_problem(profile, settings)
    if problem is None:
        if fast_track is None:
            review = f"metadata.fast_track is {_show(meta['fast_track'])}; expected true or false"
        else:
            review = _price_problem(session, package, fast_track, settings)
    held = problem or review
    return PaidOrder(
        event_id=event.id, event_type=event.type, session_id=session.id, payment_intent=session.payment_intent,
        package=package if package in settings.tiers else None, fast_track=bool(fast_track),
        amount_total=session.amount_total, currency=session.currency, profile=profile, problem=problem,
        review=review, payload=json.dumps(event.data.object) if held else "",
    )


def refund(event: Envelope) -> Refund:
    charge: _Charge = _read(_Charge, event)
    return Refund(event.id, charge.id, charge.payment_intent, charge.refunded, charge.amount_refunded,
                  charge.currency)


def expected_cents(package: str, fast_track: bool, settings: Settings) -> int:
    return (settings.tiers[package].price_usd + (settings.fast_track_price_usd if fast_track else 0)) * 100


def _price_problem(session: _Session, package: str, fast_track: bool, settings: Settings) -> str | None:
    expected = expected_cents(package, fast_track, settings)
    what = f"{package}{' + fast track' if fast_track else ''}"
    if (session.currency or "").lower() != CURRENCY:
        return f"paid in {_show(session.currency)}, but {what} is priced in USD"
    if session.amount_total != expected:
        paid = "nothing" if session.amount_total is None else f"${session.amount_total / 100:.2f}"
        return f"paid {paid}, but {what} costs ${expected / 100:.2f}"
    return None


def _profile(session: _Session) -> dict[str, str]:
    """customer_details (what the buyer typed at checkout) under the metadata's business
    fields (the listing, which may differ from the billing address)."""
    d = session.customer_details or _CustomerDetails()
    a = d.address or _Address()
    street = ", ".join(p for p in (a.line1, a.line2) if p)
    billing = {"business_name": d.business_name, "email": d.email, "phone": d.phone, "address": street,
               "city": a.city, "state": a.state, "zip": a.postal_code}
    listing = {f: session.metadata[f] for f in BUSINESS_FIELDS if session.metadata.get(f, "").strip()}
    return {k: v for k, v in {**billing, **listing}.items() if v}


def _profile_problem(profile: dict[str, str], settings: Settings) -> str | None:
    for field, value in profile.items():
        if "\x00" in value:  # valid JSON, but PostgreSQL text cannot hold it (lone surrogates fail to parse)
            return f"{field} contains a NUL character, which the database cannot store"
    try:
        BusinessProfile.model_validate(profile, context={"allow_private_websites": settings.allow_private_websites})
    except PydanticValidationError as exc:
        return f"the business profile is not usable: {_first_error(exc)}"
    return None


def _show(value: Any) -> str:
    """A value from the payload, quoted and cut short, safe in a log line or a note."""
    return json.dumps(value)[:80]
