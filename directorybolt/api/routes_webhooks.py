"""``POST /api/webhooks/stripe``: paid checkouts become jobs, refunds stop them.

No API key: the ``Stripe-Signature`` header is the authentication, checked by the
official ``stripe`` package (HMAC-SHA256 over ``timestamp.body`` with the endpoint's
signing secret, timestamps older than ``stripe_webhook_tolerance_s`` refused) before
the body is even parsed. Verified deliveries are never rate limited (Stripe sends every
customer's events from a few addresses, and a 429 would only delay paid orders);
failed verifications are counted per address and answered 429 past
``stripe_invalid_signatures_per_ip``. The body size limit applies as everywhere.

Answers: 200 for every verified event, whatever became of it (Stripe retries anything
else); 400 when the signature, its timestamp or the body is bad, with nothing written;
503 when PostgreSQL or Redis does not answer, with nothing half-written, so Stripe's
retry finds a clean slate.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any

import anyio.from_thread
from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import Scope

from directorybolt.api import ratelimit
from directorybolt.api.errors import ApiError
from directorybolt.core import checkout
from directorybolt.core.errors import ConfigurationError
from directorybolt.core.settings import get_settings
from directorybolt.lifecycle import orders
from directorybolt.queueing import intake
from directorybolt.store import db

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])

_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "description": "A Stripe event exactly as Stripe sent it (the signature covers these bytes)."}}}}}
_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {"description": "received: `outcome` says what became of it (job_created, duplicate, held, refund, ignored)"},
    400: {"description": "bad or missing signature, stale timestamp, or a body that is not a Stripe event"},
    413: {"description": "body too large"},
    429: {"description": "too many failed signatures from this address"},
    503: {"description": "database or broker unavailable, or no signing secret configured; Stripe retries"},
}

_ignored_types: set[str] = set()
_ignored_lock = threading.Lock()


@router.post("/stripe", openapi_extra=_BODY, responses=_ANSWERS)
async def stripe_webhook(
    request: Request,
    stripe_signature: str | None = Header(default=None, alias="Stripe-Signature",
                                          description="t=<unix time>,v1=<hex HMAC-SHA256>"),
) -> JSONResponse:
    """Receive a Stripe event (see docs/api.md for the checkout metadata it expects)."""
    payload = await request.body()  # the exact bytes Stripe signed
    return await run_in_threadpool(_receive, request.scope, payload, stripe_signature)


def _receive(scope: Scope, payload: bytes, signature: str | None) -> JSONResponse:
    event = _verified(scope, payload, signature)
    if event.type in checkout.PAID_EVENTS:
        return _paid(event)
    if event.type == checkout.REFUND_EVENT:
        return _refunded(event)
    _log_ignored_once(event.type)
    return _answer(event, "ignored")


def _verified(scope: Scope, payload: bytes, signature: str | None) -> checkout.Envelope:
    s = get_settings()
    if s.stripe_webhook_secret is None or not s.stripe_webhook_secret.get_secret_value().strip():
        log.error("a Stripe webhook arrived but DIRECTORYBOLT_STRIPE_WEBHOOK_SECRET is not set; Stripe will retry")
        raise ConfigurationError("the Stripe webhook signing secret is not configured; retry later")
    # Imported here: the package takes ~0.4 s to import, which every API process would pay at start.
    import stripe

    try:
        stripe.WebhookSignature.verify_header(payload, signature, s.stripe_webhook_secret.get_secret_value(),
                                              tolerance=s.stripe_webhook_tolerance_s)
    except (stripe.SignatureVerificationError, UnicodeDecodeError) as exc:
        # The limiter is async (its Redis calls have deadlines); this runs in a worker thread.
        anyio.from_thread.run(ratelimit.enforce, s.stripe_invalid_signatures_per_ip, "stripe-webhook-invalid", "ip",
                              ratelimit.client_ip(scope))
        reason = "the body is not UTF-8" if isinstance(exc, UnicodeDecodeError) else str(exc).split(". ")[0]
        raise ApiError(400, f"invalid Stripe-Signature: {reason}") from None
    try:
        return checkout.parse_event(payload)
    except checkout.MalformedEvent as exc:
        raise ApiError(400, f"malformed Stripe event: {exc}") from None


def _paid(event: checkout.Envelope) -> JSONResponse:
    order = _read(checkout.paid_order, event, get_settings())
    if order is None:
        return _answer(event, "ignored", reason="payment not completed yet")
    with db.session() as s:
        seen = orders.known(s, event.id, order)
    if seen is not None:
        return _seen(event, seen)
    try:
        if order.problem:
            with db.session() as s:
                orders.record_problem(s, order)
            log.warning("Stripe checkout %s held for review: %s", order.session_id, order.problem)
            return _answer(event, "held", review=order.problem)
        accepted = intake.accept(
            intake.Order(tier=order.package or "", customer=order.profile, fast_track=order.fast_track),
            on_created=orders.recorder(order),
        )
    except orders.Duplicate:  # a concurrent delivery won; its transaction is committed
        with db.session() as s:
            seen = orders.known(s, event.id, order)
        if seen is None:
            raise
        return _seen(event, seen)
    if accepted.status == "needs_review":
        log.warning("Stripe checkout %s: job %s held for review: %s", order.session_id, accepted.job_id, order.review)
    return _answer(event, "job_created", job_id=str(accepted.job_id), status=accepted.status,
                   review=order.review if accepted.status == "needs_review" else None)


def _refunded(event: checkout.Envelope) -> JSONResponse:
    refund = _read(checkout.refund, event)
    try:
        with db.session() as s:
            outcome = orders.refund(s, refund)
    except orders.Duplicate:
        return _answer(event, "duplicate")
    if outcome.running and outcome.job_id is not None:
        skipped = orders.skip_stopped(outcome.job_id, f"refunded (charge {refund.charge_id})")
        outcome = dataclasses.replace(outcome, skipped=skipped, note=f"job stopped: {len(skipped)} submissions skipped")
    log.info("Stripe refund %s (charge %s): %s", event.id, refund.charge_id, outcome.note)
    return _answer(event, "refund", job_id=str(outcome.job_id) if outcome.job_id else None,
                   skipped=len(outcome.skipped), note=outcome.note)


def _read(parse: Any, *args: Any) -> Any:
    try:
        return parse(*args)
    except checkout.MalformedEvent as exc:
        raise ApiError(400, f"malformed Stripe event: {exc}") from None


def _seen(event: checkout.Envelope, seen: orders.Known) -> JSONResponse:
    return _answer(event, "duplicate", job_id=str(seen.job_id) if seen.job_id else None, status=seen.job_status,
                   review=seen.review)


def _log_ignored_once(event_type: str) -> None:
    with _ignored_lock:
        if event_type in _ignored_types:
            return
        _ignored_types.add(event_type)
    log.warning("ignoring Stripe events of type %r (logged once per type and process; the endpoint needs only "
                "%s and %s)", event_type, ", ".join(checkout.PAID_EVENTS), checkout.REFUND_EVENT)


def _answer(event: checkout.Envelope, outcome: str, **extra: Any) -> JSONResponse:
    body = {"received": True, "event": event.id, "type": event.type, "outcome": outcome}
    return JSONResponse({**body, **{k: v for k, v in extra.items() if v is not None}})
