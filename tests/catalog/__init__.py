"""Tests of the catalog import against the product's real catalog file.

The file is never copied into the repository: it is read from ``../shared/data/``
beside the repository. Without it the tests that need it skip, except in CI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CI, ROOT

CATALOG_PATH = ROOT.parent / "shared" / "data" / "directory-catalog.json"


def real_catalog_path() -> Path:
    """The real file, or skip (fail in CI: there the missing file is a broken checkout)."""
    if not CATALOG_PATH.is_file():
        message = f"the product catalog is not at {CATALOG_PATH} (it lives beside the repository, never in it)"
        if CI:
            pytest.fail(message)
        pytest.skip(message)
    return CATALOG_PATH


def real_catalog() -> dict[str, Any]:
    return json.loads(real_catalog_path().read_text(encoding="utf-8"))


def write_catalog(path: Path, entries: list[Any], categories: list[str] | None = None) -> Path:
    """A small catalog file in the real one's format, for the malformed-input tests."""
    meta = {"version": "test", "totalDirectories": len(entries),
            "categories": {c: 0 for c in (categories or ["general-directory"])}}
    path.write_text(json.dumps({"metadata": meta, "directories": entries}), encoding="utf-8")
    return path
