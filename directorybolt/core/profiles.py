"""A customer's business profile: validated and sanitised before anything stores or
submits it, because every field ends up typed into someone else's website.

Sanitising is one pipeline, run until nothing changes (at most ``MAX_ROUNDS``):
decode every HTML entity (``&nbsp;``, ``&#60;``, ``&lt``…), normalise to NFKC (so
fullwidth ``＜`` becomes ``<`` and U+00A0 a space), drop invisible format and control
characters, strip markup with nh3 and decode what nh3 escaped. A fixed point of that
has no tag left and no entity that could become one (``&amp;lt;script&amp;gt;`` is
peeled layer by layer), so what is stored is plain text. Lengths are checked last,
on the clean text, which is what the database holds.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Any

import nh3
from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationInfo, field_validator

from directorybolt.core.websites import MAX_URL_CHARS, check_public_url

PHONE_RE = re.compile(r"^\+?[0-9 ()./-]{7,25}$")
#: Enough for any real nesting of encodings; text that still changes after this many
#: rounds is built to outlast a sanitiser and is refused.
MAX_ROUNDS = 8
#: Raw input allowed per clean character: entities and markup make text longer before
#: cleaning, but a field of 200 characters has no business arriving as megabytes.
RAW_FACTOR = 8

#: Characters each text field may hold once clean (the database columns are as wide).
TEXT_LIMITS: dict[str, int] = {
    "business_name": 200,
    "address": 200,
    "city": 120,
    "state": 60,
    "zip": 20,
    "description": 5000,
    "category": 120,
    "tagline": 200,
    "contact_name": 200,
    "country": 120,
}
MULTILINE = frozenset({"description"})
_KEEP_FORMAT = {"\u200c", "\u200d"}  # ZWNJ/ZWJ: needed by some scripts and emoji sequences
_HSPACE = re.compile(r"[^\S\n]+")
_SPACE = re.compile(r"\s+")
_BLANK_LINES = re.compile(r"\n{3,}")


def _invisible(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return (cat == "Cf" and ch not in _KEEP_FORMAT) or (cat == "Cc" and ch not in "\n\t")


def _round(text: str) -> str:
    text = html.unescape(text)
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch for ch in text if not _invisible(ch))
    return html.unescape(nh3.clean(text, tags=set(), attributes={}, strip_comments=True))


def clean_text(value: str, *, multiline: bool = False) -> str:
    """Plain text without tags or entities, whitespace collapsed (newlines kept only
    when ``multiline``). Raises ValueError when the text will not come apart."""
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    for _ in range(MAX_ROUNDS):
        cleaned = _round(text)
        if cleaned == text:
            break
        text = cleaned
    else:
        raise ValueError("contains markup or encodings nested too deeply to clean; send plain text")
    if multiline:
        lines = (_HSPACE.sub(" ", line).strip() for line in text.split("\n"))
        return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    return _SPACE.sub(" ", text).strip()


def _limited(limit: int, **kw: Any) -> Any:
    """A text field whose limit applies to the clean text: documented in the schema,
    checked by ``_sanitise`` (a raw length check would count entities and markup)."""
    return Field(json_schema_extra={"maxLength": limit}, description=f"At most {limit} characters once cleaned.",
                 **kw)


class BusinessProfile(BaseModel):
    """The fields a plan may submit (``directorybolt.core.plans.BUSINESS_FIELDS``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    business_name: str = _limited(TEXT_LIMITS["business_name"], min_length=1)
    email: EmailStr
    phone: str | None = Field(default=None, max_length=40)
    website: str | None = Field(default=None, max_length=MAX_URL_CHARS)
    address: str | None = _limited(TEXT_LIMITS["address"], default=None)
    city: str | None = _limited(TEXT_LIMITS["city"], default=None)
    state: str | None = _limited(TEXT_LIMITS["state"], default=None)
    zip: str | None = _limited(TEXT_LIMITS["zip"], default=None)
    description: str | None = _limited(TEXT_LIMITS["description"], default=None)
    category: str | None = _limited(TEXT_LIMITS["category"], default=None)
    # What directories often ask besides the core listing; a form that requires one the
    # customer has not given ends as needs_review, never with a made-up value.
    tagline: str | None = _limited(TEXT_LIMITS["tagline"], default=None)
    contact_name: str | None = _limited(TEXT_LIMITS["contact_name"], default=None)
    country: str | None = _limited(TEXT_LIMITS["country"], default=None)
    logo_url: str | None = Field(default=None, max_length=MAX_URL_CHARS)
    social_facebook: str | None = Field(default=None, max_length=MAX_URL_CHARS)
    social_x: str | None = Field(default=None, max_length=MAX_URL_CHARS)
    social_instagram: str | None = Field(default=None, max_length=MAX_URL_CHARS)
    social_linkedin: str | None = Field(default=None, max_length=MAX_URL_CHARS)

    @field_validator(*TEXT_LIMITS)
    @classmethod
    def _sanitise(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return None
        name = str(info.field_name)
        limit = TEXT_LIMITS[name]
        if len(v) > limit * RAW_FACTOR + 64:
            raise ValueError(f"{name} must have at most {limit} characters")
        cleaned = clean_text(v, multiline=name in MULTILINE)
        if len(cleaned) > limit:
            raise ValueError(f"{name} must have at most {limit} characters once cleaned (it has {len(cleaned)})")
        if name == "business_name" and not cleaned:
            raise ValueError("business name must not be empty once markup is removed")
        return cleaned or None

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        if v:
            v = unicodedata.normalize("NFKC", v).strip()
        if v and not PHONE_RE.match(v):
            raise ValueError("phone may contain digits, spaces, + ( ) . / - and must have 7 to 25 characters")
        return v or None

    @field_validator("website", "logo_url", "social_facebook", "social_x", "social_instagram", "social_linkedin")
    @classmethod
    def _website(cls, v: str | None, info: ValidationInfo) -> str | None:
        if not v:
            return None
        allow = bool(info.context and info.context.get("allow_private_websites"))
        return check_public_url(v, allow_private=allow)


    def field(self, name: str) -> str:
        value = getattr(self, name)
        return "" if value is None else str(value)
