"""Imports the catalog file into ``directories``: validate everything, report every
data-quality problem, then upsert the good entries by id in one transaction.

Bad entries never block good ones, and nothing is "fixed" behind the operator's back:
each problem is in the report. Rows are never deleted (job results reference them);
``prune`` only deactivates directories that the file no longer lists.

Change detection compares a stable representation: the normalised source entry
(``directories.source``), the compiled plan and the columns derived from the entry.
Re-importing the same file therefore reports 0 changed.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select, text

from directorybolt.catalog.compiler import Compiled, compile_entry
from directorybolt.catalog.schema import CatalogEntry, CatalogFile, entry_errors
from directorybolt.core.errors import NotFound, ValidationError
from directorybolt.core.plans import Plan
from directorybolt.store import db
from directorybolt.store.models import Directory

#: Serialises concurrent imports (the second waits), so two operators cannot interleave upserts.
_IMPORT_LOCK_KEY = 0x0DB0_CA7A


@dataclass
class _Occurrence:
    """One entry of the file as validated: the unit the report talks about."""

    index: int
    raw: Any
    entry: CatalogEntry | None = None
    compiled: Compiled | None = None
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def raw_id(self) -> str | None:
        value = self.raw.get("id") if isinstance(self.raw, dict) else None
        return value.strip() if isinstance(value, str) and value.strip() else None

    @property
    def row(self) -> Any:
        return self.raw.get("originalExcelRow") if isinstance(self.raw, dict) else None

    @property
    def valid(self) -> bool:
        return self.entry is not None and self.compiled is not None and self.compiled.plan is not None

    def completeness(self) -> int:
        return self.entry.completeness() if self.entry is not None else -1

    def ref(self) -> dict[str, Any]:
        return {"index": self.index, "id": self.raw_id, "row": self.row}


@dataclass
class Analysis:
    """Everything learnt from the file alone, before the database is consulted."""

    entries: int = 0
    distinct_ids: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    kept: list[_Occurrence] = field(default_factory=list)
    listed_ids: set[str] = field(default_factory=set)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    invalid: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[dict[str, Any]] = field(default_factory=list)
    file_warnings: list[str] = field(default_factory=list)
    unknown_categories: dict[str, int] = field(default_factory=dict)
    flagged_in_file: dict[str, int] = field(default_factory=dict)
    contains_translated: int = 0
    contains_rejected: list[dict[str, Any]] = field(default_factory=list)


def load_file(path: str | Path) -> Any:
    """The parsed JSON, or a one-line error saying where it broke (nothing is written then)."""
    p = Path(path)
    try:
        raw = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"catalog file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read catalog file {p}: {exc}") from None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"{p} is not valid JSON (truncated or corrupt?): {exc.msg} at line {exc.lineno} column {exc.colno}; "
            "nothing was imported"
        ) from None


def _validate(index: int, raw: Any, known: set[str] | None) -> _Occurrence:
    occ = _Occurrence(index, raw)
    if not isinstance(raw, dict):
        occ.reasons.append(f"entry is a {type(raw).__name__}, not an object")
        return occ
    if occ.raw_id is None:
        occ.reasons.append("entry has no id (a non-empty string)")
    try:
        occ.entry = CatalogEntry.model_validate(raw)
    except PydanticValidationError as exc:
        occ.reasons.extend(r for r in entry_errors(exc) if not (r.startswith("id:") and occ.raw_id is None))
        return occ
    occ.compiled = compile_entry(occ.entry)
    occ.reasons.extend(occ.compiled.errors)
    occ.warnings.extend(occ.compiled.warnings)
    if known is not None and occ.entry.category is not None and occ.entry.category not in known:
        occ.warnings.append(f"category {occ.entry.category!r} is not among the metadata's categories")
    return occ


def _duplicate_reason(dropped: _Occurrence, kept: _Occurrence) -> str:
    if kept.valid and not dropped.valid:
        return "this occurrence is invalid, the kept one is valid"
    if dropped.completeness() != kept.completeness():
        return f"less complete ({dropped.completeness()} vs {kept.completeness()} filled values)"
    return f"as complete as the kept one ({kept.completeness()} filled values); the last occurrence wins"


def _differences(a: Any, b: Any) -> list[str]:
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return []
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def _dedupe(analysis: Analysis, occurrences: list[_Occurrence]) -> None:
    """Keep one occurrence per id: a valid one over an invalid one, then the most
    complete, then the last in the file (later rows are the later edits)."""
    groups: dict[str, list[_Occurrence]] = defaultdict(list)
    for occ in occurrences:
        if occ.raw_id is not None:
            groups[occ.raw_id].append(occ)
    kept: list[_Occurrence] = []
    for occs in groups.values():
        best = max(occs, key=lambda o: (o.valid, o.completeness(), o.index))
        kept.append(best)
        for occ in occs:
            if occ is not best:
                analysis.duplicates.append({
                    **occ.ref(), "kept_index": best.index, "kept_row": best.row,
                    "reason": _duplicate_reason(occ, best), "differences": _differences(occ.raw, best.raw),
                })
    analysis.duplicates.sort(key=lambda d: d["index"])
    analysis.kept = sorted((o for o in kept if o.valid), key=lambda o: o.index)


def analyse(data: Any) -> Analysis:
    """Validate, compile and de-duplicate every entry; pure (no database), so a dry
    run and the tests see exactly what an import would do."""
    try:
        catalog = CatalogFile.model_validate(data)
    except PydanticValidationError as exc:
        raise ValidationError(f"not a catalog file: {'; '.join(entry_errors(exc))}") from None
    meta = catalog.metadata
    known = meta.known_categories()
    a = Analysis(entries=len(catalog.directories), metadata=meta.model_dump(mode="json", by_alias=True))
    if known is None:
        a.file_warnings.append("metadata lists no categories, so categories were not checked")
    if meta.total_directories is not None and meta.total_directories != a.entries:
        a.file_warnings.append(f"metadata says {meta.total_directories} directories, the file has {a.entries}")

    occurrences = [_validate(i, raw, known) for i, raw in enumerate(catalog.directories)]
    a.listed_ids = {o.raw_id for o in occurrences if o.raw_id is not None}
    a.distinct_ids = len(a.listed_ids)
    for flag in ("hasCaptcha", "requiresLogin"):
        a.flagged_in_file[flag] = sum(1 for o in occurrences if isinstance(o.raw, dict) and o.raw.get(flag) is True)
    for occ in occurrences:
        if occ.compiled is not None:
            a.contains_translated += occ.compiled.translated
            a.contains_rejected.extend({**occ.ref(), **r.as_dict()} for r in occ.compiled.rejected)
        if not occ.valid:
            a.invalid.append({**occ.ref(), "reasons": occ.reasons})
    _dedupe(a, occurrences)
    categories: Counter[str] = Counter()
    for occ in a.kept:
        a.warnings.extend({**occ.ref(), "message": w} for w in occ.warnings)
        if known is not None and occ.entry and occ.entry.category and occ.entry.category not in known:
            categories[occ.entry.category] += 1
    a.unknown_categories = dict(categories)
    return a


def _columns(occ: _Occurrence) -> dict[str, Any]:
    e, compiled = occ.entry, occ.compiled
    assert e is not None and compiled is not None
    return {
        "name": e.name, "url": e.url, "submission_url": e.submission_url, "category": e.category,
        "domain_authority": e.domain_authority, "tier": e.tier, "active": e.is_active,
        "requires_login": e.requires_login, "has_captcha": e.has_captcha,
        "plan": compiled.plan, "source": e.source(),
    }


@dataclass
class ImportReport:
    path: str
    dry_run: bool
    prune: bool
    analysis: Analysis
    created: list[str] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)
    unchanged: int = 0
    deactivated: list[str] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return len(self.analysis.kept)

    def review_counts(self) -> dict[str, int]:
        entries = [o.entry for o in self.analysis.kept if o.entry is not None]
        return {
            "requires_login": sum(e.requires_login for e in entries),
            "has_captcha": sum(e.has_captcha for e in entries),
            "total": sum(e.requires_login or e.has_captcha for e in entries),
        }

    def as_dict(self) -> dict[str, Any]:
        a = self.analysis
        tiers = Counter(o.entry.tier for o in a.kept if o.entry is not None)
        return {
            "path": self.path, "dry_run": self.dry_run, "prune": self.prune,
            "metadata": a.metadata, "file_warnings": a.file_warnings,
            "entries": a.entries, "distinct_ids": a.distinct_ids,
            "imported": self.imported, "created": len(self.created), "changed": len(self.changed),
            "unchanged": self.unchanged, "deactivated": self.deactivated,
            "by_tier": {str(t): tiers[t] for t in sorted(tiers)},
            "needs_review": self.review_counts(), "flagged_in_file": a.flagged_in_file,
            "duplicates": a.duplicates, "invalid": a.invalid,
            "contains": {"translated": a.contains_translated, "rejected": a.contains_rejected},
            "unknown_categories": a.unknown_categories, "warnings": a.warnings,
            "created_ids": self.created, "changed_ids": self.changed,
        }


def import_catalog(path: str | Path, *, dry_run: bool = False, prune: bool = False) -> ImportReport:
    """Validate the file and upsert its good entries in ONE transaction.

    A dry run reads the database to say what would be created or changed, and writes
    nothing. With no valid entry nothing is written at all (and nothing pruned: an
    empty or broken file must not deactivate the whole catalog).
    """
    analysis = analyse(load_file(path))
    report = ImportReport(str(path), dry_run, prune, analysis)
    wanted = {o.raw_id: _columns(o) for o in analysis.kept if o.raw_id is not None}
    write = not dry_run and bool(wanted)
    with db.session() as s:
        if write:
            s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _IMPORT_LOCK_KEY})
        existing = {d.id: d for d in s.scalars(select(Directory))}
        for did, columns in wanted.items():
            row = existing.get(did)
            if row is None:
                report.created.append(did)
                if write:
                    s.add(Directory(id=did, **columns))
                continue
            differing = sorted(k for k, v in columns.items() if getattr(row, k) != v)
            if not differing:
                report.unchanged += 1
                continue
            report.changed.append({"id": did, "fields": differing})
            if write:
                for k in differing:
                    setattr(row, k, columns[k])
        if prune and wanted:
            for did, row in sorted(existing.items()):
                if row.active and did not in analysis.listed_ids:
                    report.deactivated.append(did)
                    if write:
                        row.active = False
    return report


def list_directories(tier: int | None = None) -> list[dict[str, Any]]:
    """The stored catalog in selection order (highest domain authority first)."""
    with db.session() as s:
        q = select(Directory).order_by(Directory.domain_authority.desc(), Directory.id)
        if tier is not None:
            q = q.where(Directory.tier == tier)
        return [
            {"id": d.id, "name": d.name, "tier": d.tier, "domain_authority": d.domain_authority,
             "active": d.active, "category": d.category, "submission_url": d.submission_url,
             "review_reason": (d.plan or {}).get("review_reason"), "has_plan": d.plan is not None}
            for d in s.scalars(q)
        ]


def stored_plan(directory_id: str) -> dict[str, Any] | None:
    """The compiled plan as stored (None: the directory relies on the form-mapping fallback)."""
    with db.session() as s:
        d = s.get(Directory, directory_id)
        if d is None:
            raise NotFound(f"no directory {directory_id!r} in the catalog")
        return d.plan


def save_plan(directory_id: str, plan: dict[str, Any]) -> None:
    """Store a plan written by hand or by ``plan suggest`` on an existing directory.
    The ORM write makes the cache forget the old plan when the transaction commits."""
    Plan.model_validate(plan)
    with db.session() as s:
        d = s.get(Directory, directory_id)
        if d is None:
            raise NotFound(f"no directory {directory_id!r} in the catalog")
        d.plan = plan
