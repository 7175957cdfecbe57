"""The format of the product's catalog file (``directory-catalog.json``), as pydantic models.

Entries are validated one by one so a bad entry is reported and skipped instead of
sinking the whole file. Unknown keys are refused (``extra="forbid"``): a misspelt
``hasCaptch`` would otherwise default to "no CAPTCHA" and send a browser where a
person is needed. Values are never repaired here: a bad value makes the entry
invalid, with a reason the import report shows.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

#: ``formMapping`` keys (the file's camelCase) → our business fields
#: (:data:`directorybolt.browser.plans.BUSINESS_FIELDS`).
FORM_FIELDS: dict[str, str] = {
    "businessName": "business_name",
    "email": "email",
    "phone": "phone",
    "website": "website",
    "address": "address",
    "city": "city",
    "state": "state",
    "zip": "zip",
    "description": "description",
    "category": "category",
}


def check_http_url(value: str) -> str:
    """http(s) with a host, nothing else: the value becomes a ``goto`` target, so a
    ``javascript:`` or ``file:`` URL must never reach a browser."""
    if any(c.isspace() for c in value):
        raise ValueError(f"URL contains whitespace: {value!r}")
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError(f"URL must be http(s), got scheme {parts.scheme or '(none)'!r}: {value[:80]!r}")
    if not parts.hostname:
        raise ValueError(f"URL has no host: {value!r}")
    return value


class CatalogEntry(BaseModel):
    """One directory as the catalog file describes it (camelCase aliases are the file's keys)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True, frozen=True)

    id: str = Field(min_length=1, max_length=120)
    name: str = Field(min_length=1, max_length=200)
    url: str = Field(min_length=1, max_length=2048)
    submission_url: str = Field(alias="submissionUrl", min_length=1, max_length=2048)
    category: str | None = Field(default=None, max_length=120)
    domain_authority: int = Field(alias="domainAuthority", ge=0, le=100)
    difficulty: str | None = None
    priority: str | None = None
    traffic_potential: int | None = Field(default=None, alias="trafficPotential", ge=0)
    requires_login: bool = Field(default=False, alias="requiresLogin")
    has_captcha: bool = Field(default=False, alias="hasCaptcha")
    form_mapping: dict[str, list[str]] = Field(default_factory=dict, alias="formMapping")
    submit_selector: str = Field(default="", alias="submitSelector")
    success_indicators: list[str] = Field(default_factory=list, alias="successIndicators")
    features: list[str] = Field(default_factory=list)
    time_to_approval: str | None = Field(default=None, alias="timeToApproval")
    is_active: bool = Field(default=True, alias="isActive")
    requires_approval: bool | None = Field(default=None, alias="requiresApproval")
    tier: int = Field(ge=1, le=3)
    original_excel_row: int | None = Field(default=None, alias="originalExcelRow")

    @field_validator("id")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not ID_RE.match(v):
            raise ValueError("id may contain only letters, digits, '.', '_' and '-'")
        return v

    @field_validator("url", "submission_url")
    @classmethod
    def _http(cls, v: str) -> str:
        return check_http_url(v)

    @field_validator("form_mapping")
    @classmethod
    def _strip_candidates(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        # Blank candidates are dropped so "missing selectors" is judged on real ones.
        return {k: [s.strip() for s in sels if s.strip()] for k, sels in v.items()}

    @field_validator("success_indicators")
    @classmethod
    def _strip_indicators(cls, v: list[str]) -> list[str]:
        return [s.strip() for s in v if s.strip()]

    def source(self) -> dict[str, Any]:
        """The normalised entry as stored in ``directories.source``: the stable
        representation a re-import compares against."""
        return self.model_dump(mode="json", by_alias=True)

    def completeness(self) -> int:
        """How much usable data the entry carries; decides between duplicates."""
        filled = sum(1 for v in self.model_dump().values() if v not in (None, "", [], {}))
        mapped = sum(1 for sels in self.form_mapping.values() if sels)
        return filled + mapped + len(self.success_indicators)


class CatalogMetadata(BaseModel):
    """The file's header. Only ``categories`` is used: it is the list of known categories."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    version: str | None = None
    total_directories: int | None = Field(default=None, alias="totalDirectories")
    categories: dict[str, Any] | list[str] | None = None

    def known_categories(self) -> set[str] | None:
        if self.categories is None:
            return None
        return set(self.categories)


class CatalogFile(BaseModel):
    """The file's outer shape; entries stay raw so each is validated (and reported) on its own."""

    model_config = ConfigDict(extra="allow")

    metadata: CatalogMetadata = Field(default_factory=CatalogMetadata)
    directories: list[Any]


def entry_errors(exc: PydanticValidationError) -> list[str]:
    """pydantic's errors as short ``field: message`` lines, in the file's key names."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "entry"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {msg}")
    return lines
