"""Declarative submission plans: a directory is added by data, not code.

A plan is a list of steps executed in order by :mod:`directorybolt.browser.runner`.
``fill`` and ``select`` steps name a *business field*, never a literal value, so
the same plan serves every customer and the idempotency key can be computed from
exactly the fields a plan submits.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

BUSINESS_FIELDS: tuple[str, ...] = (
    "business_name",
    "email",
    "phone",
    "website",
    "address",
    "city",
    "state",
    "zip",
    "description",
    "category",
    # Asked for by many directories besides the core listing (issue 15).
    "tagline",
    "contact_name",
    "country",
    "logo_url",
    "social_facebook",
    "social_x",
    "social_instagram",
    "social_linkedin",
)

#: Selectors that reveal a CAPTCHA; a page showing one ends as ``needs_review``.
DEFAULT_CAPTCHA_SELECTORS: tuple[str, ...] = (
    ".g-recaptcha",
    ".h-captcha",
    "iframe[src*='captcha']",
    "[data-sitekey]",
    "#captcha",
    ".captcha",
    ".cf-turnstile",
    "iframe[src*='challenges.cloudflare.com']",
)

#: ``next`` clicks a wizard's Next/Continue button: it moves to the form's next step and
#: never sends the listing, so the commit point is always a ``click``.
Action = Literal["goto", "fill", "select", "check", "next", "click", "wait_for", "expect"]


class Step(BaseModel):
    """One browser action. ``selector`` holds candidates tried in order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Action
    url: str | None = None
    selector: list[str] = Field(default_factory=list)
    field: str | None = None
    value: str | None = None
    text: str | None = None
    optional: bool = False
    timeout_ms: int | None = Field(default=None, ge=1, le=120_000)

    @field_validator("selector", mode="before")
    @classmethod
    def _one_or_many(cls, v: object) -> object:
        return [v] if isinstance(v, str) else v

    @model_validator(mode="after")
    def _check_shape(self) -> Step:
        a = self.action
        if a == "goto" and not self.url:
            raise ValueError("goto needs a url")
        if a in ("fill", "select", "check", "next", "click", "wait_for") and not self.selector:
            raise ValueError(f"{a} needs at least one selector")
        if a == "fill" and self.field not in BUSINESS_FIELDS:
            raise ValueError(f"fill must name a business field ({', '.join(BUSINESS_FIELDS)}), got {self.field!r}")
        if a == "select" and not (self.field or self.value):
            raise ValueError("select needs a business field or a literal value")
        if self.field is not None and self.field not in BUSINESS_FIELDS:
            raise ValueError(f"unknown business field {self.field!r}")
        if a == "expect" and not (self.text or self.selector):
            raise ValueError("expect needs success text or a selector")
        for sel in self.selector:
            if ":contains(" in sel:
                raise ValueError(f"jQuery :contains() is not a Playwright selector: {sel!r}")
        return self


class Plan(BaseModel):
    """A directory's submission plan.

    ``review_reason`` marks a directory we must not drive automatically (login
    required, CAPTCHA known up front): it ends as ``needs_review`` without a browser.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: list[Step] = Field(default_factory=list)
    captcha_selectors: list[str] = Field(default_factory=lambda: list(DEFAULT_CAPTCHA_SELECTORS))
    review_reason: str | None = None
    #: Hosts the directory's pages may load from besides those of its goto steps (a CDN,
    #: a form service); subdomains included. Everything else is blocked (browser/egress.py).
    allow_hosts: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_steps(self) -> Plan:
        if self.review_reason:
            return self
        if not self.steps or self.steps[0].action != "goto":
            raise ValueError("a plan starts with goto")
        if not any(s.action == "expect" for s in self.steps):
            raise ValueError("a plan needs an expect step so success is never assumed")
        return self

    def submitted_fields(self) -> list[str]:
        """Business fields this plan sends: the input of the idempotency key."""
        seen: list[str] = []
        for s in self.steps:
            if s.field and s.field not in seen:
                seen.append(s.field)
        return seen
