"""Stripe events shaped as Stripe sends them, signed locally as Stripe signs them:
HMAC-SHA256 with the endpoint's secret over ``<timestamp>.<body>``, sent as
``Stripe-Signature: t=<timestamp>,v1=<hex>``. Written out here rather than borrowed
from the ``stripe`` package, so the tests hold the package to the scheme, not to itself."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import httpx
from sqlalchemy import func, select

from directorybolt.store import db
from directorybolt.store.models import Job
from tests.api.conftest import STRIPE_SECRET

LISTING = {
    "business_name": "Pine Street Dental",
    "website": "https://pinestreetdental.example",
    "description": "Family dentistry in Portland since 2004.",
    "category": "Dentist",
}
PRICES_USD = {"enterprise": 799, "pro": 499, "growth": 299, "starter": 149}
FAST_TRACK_USD = 99


def stripe_id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_hex(12)}"


def sign(body: bytes, secret: str = STRIPE_SECRET, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def event(event_type: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or stripe_id("evt"), "object": "event", "api_version": "2025-03-31.basil",
        "created": int(time.time()), "livemode": False, "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None}, "type": event_type, "data": {"object": obj},
    }


def checkout_session(*, package: str = "growth", fast_track: bool = False, amount: int | None = None,
                     payment_status: str = "paid", currency: str = "usd", session_id: str | None = None,
                     payment_intent: str | None = None, metadata: dict[str, str] | None = None) -> dict[str, Any]:
    """A paid checkout for ``package``, charging its list price unless ``amount`` says otherwise."""
    if amount is None:
        amount = (PRICES_USD[package] + (FAST_TRACK_USD if fast_track else 0)) * 100
    meta = {"package": package, "fast_track": "true" if fast_track else "false", **LISTING}
    return {
        "id": session_id or stripe_id("cs"), "object": "checkout.session", "mode": "payment", "status": "complete",
        "payment_status": payment_status, "amount_subtotal": amount, "amount_total": amount, "currency": currency,
        "payment_intent": payment_intent or stripe_id("pi"),
        "customer_details": {
            "email": "billing@pinestreetdental.example", "name": "Dana Pine", "phone": "+1 503 555 0199",
            "address": {"line1": "410 SW Pine St", "line2": "Suite 2", "city": "Portland", "state": "OR",
                        "postal_code": "97204", "country": "US"},
        },
        "metadata": meta if metadata is None else metadata,
    }


def charge_refunded(payment_intent: str, *, full: bool = True, amount: int = 29900) -> dict[str, Any]:
    return {
        "id": stripe_id("ch"), "object": "charge", "amount": amount, "amount_refunded": amount if full else 1000,
        "currency": "usd", "payment_intent": payment_intent, "refunded": full, "paid": True, "status": "succeeded",
    }


def deliver(client: httpx.Client, payload: dict[str, Any] | bytes, *, secret: str = STRIPE_SECRET,
            timestamp: int | None = None, signature: str | None = None) -> httpx.Response:
    """POST the event as Stripe does: JSON body, signature over exactly those bytes."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload, indent=2).encode()
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"}
    if signature != "":
        headers["Stripe-Signature"] = signature or sign(body, secret, timestamp)
    return client.post("/api/webhooks/stripe", content=body, headers=headers)


def count(model: type) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def job(job_id: str) -> Job:
    with db.session() as s:
        return s.get(Job, job_id)
