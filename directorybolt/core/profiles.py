"""A customer's business profile: validated and sanitised before anything stores or
submits it, because every field ends up typed into someone else's website."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated
from urllib.parse import urlsplit

import nh3
from pydantic import BaseModel, ConfigDict, EmailStr, Field, ValidationInfo, field_validator

PHONE_RE = re.compile(r"^\+?[0-9 ()./-]{7,25}$")


def clean_text(value: str) -> str:
    """Strip every HTML tag (nh3 with no allowed tags) and collapse whitespace."""
    text = nh3.clean(value, tags=set(), attributes={}, strip_comments=True)
    text = text.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
    text = text.replace("&#39;", "'")
    return re.sub(r"[ \t\r\f\v]+", " ", text).strip()


def check_public_url(url: str, *, allow_private: bool = False) -> str:
    """http(s) only, no credentials, and not a private/loopback/link-local host unless
    allowed (the sandbox runs on 127.0.0.1). Raises ValueError with a readable reason."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("website must start with http:// or https://")
    if parts.username or parts.password:
        raise ValueError("website must not contain credentials")
    host = parts.hostname
    if not host:
        raise ValueError("website has no host name")
    if allow_private:
        return url
    # Names are not resolved: the website is text typed into forms, never fetched by us,
    # and validation must not depend on (or leak to) DNS.
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        raise ValueError("website must be a public address, not a private, loopback or link-local one")
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        return url
    if addr.is_private or addr.is_loopback or addr.is_link_local or addr.is_reserved or addr.is_multicast:
        raise ValueError("website must be a public address, not a private, loopback or link-local one")
    return url


Short = Annotated[str, Field(max_length=200)]


class BusinessProfile(BaseModel):
    """The fields a plan may submit (``directorybolt.browser.plans.BUSINESS_FIELDS``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    business_name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    phone: str | None = Field(default=None, max_length=40)
    website: str | None = Field(default=None, max_length=2048)
    address: Short | None = None
    city: str | None = Field(default=None, max_length=120)
    state: str | None = Field(default=None, max_length=60)
    zip: str | None = Field(default=None, max_length=20)
    description: str | None = Field(default=None, max_length=5000)
    category: str | None = Field(default=None, max_length=120)
    # What directories often ask besides the core listing; a form that requires one the
    # customer has not given ends as needs_review, never with a made-up value.
    tagline: str | None = Field(default=None, max_length=200)
    contact_name: str | None = Field(default=None, max_length=200)
    country: str | None = Field(default=None, max_length=120)
    logo_url: str | None = Field(default=None, max_length=2048)
    social_facebook: str | None = Field(default=None, max_length=2048)
    social_x: str | None = Field(default=None, max_length=2048)
    social_instagram: str | None = Field(default=None, max_length=2048)
    social_linkedin: str | None = Field(default=None, max_length=2048)

    @field_validator("business_name", "address", "city", "state", "zip", "description", "category")
    @classmethod
    def _sanitise(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is None:
            return None
        cleaned = clean_text(v)
        if info.field_name == "business_name" and not cleaned:
            raise ValueError("business name must not be empty")
        return cleaned or None

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        if v and not PHONE_RE.match(v):
            raise ValueError("phone may contain digits, spaces, + ( ) . / - and must have 7 to 25 characters")
        return v or None

    @field_validator("website")
    @classmethod
    def _website(cls, v: str | None, info: ValidationInfo) -> str | None:
        if not v:
            return None
        allow = bool(info.context and info.context.get("allow_private_websites"))
        return check_public_url(v, allow_private=allow)

    @field_validator("tagline", "contact_name", "country")
    @classmethod
    def _sanitise_extra(cls, v: str | None) -> str | None:
        return (clean_text(v) or None) if v else None

    @field_validator("logo_url", "social_facebook", "social_x", "social_instagram", "social_linkedin")
    @classmethod
    def _links(cls, v: str | None, info: ValidationInfo) -> str | None:
        if not v:
            return None
        allow = bool(info.context and info.context.get("allow_private_websites"))
        return check_public_url(v, allow_private=allow)

    def field(self, name: str) -> str:
        value = getattr(self, name)
        return "" if value is None else str(value)
