"""Sentry for workers, beat and the API. Customer personal data never leaves in an
event: ``before_send`` scrubs the business profile's contact fields wherever they appear."""

from __future__ import annotations

import re
from typing import Any

from directorybolt.core.settings import get_settings

PII_KEYS = {"email", "phone", "address", "street", "zip", "telephone", "contact_email"}
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
# Not inside an identifier: a UUID or timestamp has digit runs too.
_PHONE = re.compile(r"(?<![\w-])\+?\d[\d ().-]{6,}\d(?![\w-])")
#: Our own event fields, never customer data: left as they are so ids stay searchable.
SAFE_KEYS = {"tags", "event_id", "trace_id", "span_id", "fingerprint"}
REDACTED = "[redacted]"

_initialised = False


def scrub(value: Any) -> Any:
    """Redact contact details in nested event data (keys by name, values by shape)."""
    if isinstance(value, dict):
        return {
            k: v if k in SAFE_KEYS else REDACTED if str(k).lower() in PII_KEYS else scrub(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return _PHONE.sub(REDACTED, _EMAIL.sub(REDACTED, value))
    return value


def before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    return scrub(event)


def init_sentry(component: str) -> bool:
    """Initialise once per process when a DSN is configured."""
    global _initialised
    s = get_settings()
    if _initialised or not s.sentry_dsn:
        return _initialised
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration

    sentry_sdk.init(
        dsn=s.sentry_dsn,
        environment=s.sentry_environment,
        integrations=[CeleryIntegration(monitor_beat_tasks=True)],
        send_default_pii=False,
        before_send=before_send,
        traces_sample_rate=0.0,
        server_name=component,
    )
    _initialised = True
    return True


class DeadLettered(Exception):
    """Wraps the final error so Sentry records the dead-lettering as its own event:
    the Celery integration already reported the original exception object, and the
    SDK's de-duplication would drop a second report of it."""


def capture_dead_letter(exc: BaseException, *, tags: dict[str, str]) -> None:
    if not init_sentry("worker"):
        return
    import sentry_sdk

    try:
        raise DeadLettered(f"dead-lettered {tags.get('task', '')}: {type(exc).__name__}: {exc}") from exc
    except DeadLettered as wrapped:
        exc = wrapped
    with sentry_sdk.new_scope() as scope:
        for k, v in tags.items():
            scope.set_tag(k, v)
        scope.set_tag("dead_lettered", "true")
        scope.fingerprint = ["dead-letter", tags.get("task", ""), type(exc).__name__]
        sentry_sdk.capture_exception(exc)
