"""Importing the catalog into PostgreSQL: the real file's figures, idempotent
re-import, dry runs, malformed input, pruning, and the one-transaction rule."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from directorybolt.catalog import importer
from directorybolt.catalog.importer import import_catalog
from directorybolt.catalog.schema import CatalogEntry
from directorybolt.cli import main
from directorybolt.cli.catalog import catalog
from directorybolt.core.errors import ValidationError
from directorybolt.core.plans import Plan
from directorybolt.store import db
from directorybolt.store.models import Directory
from tests.catalog import real_catalog, real_catalog_path, write_catalog

pytestmark = pytest.mark.usefixtures("clean")


def cli(*args: str) -> Result:
    if "catalog" not in main.commands:  # until the lead registers cli.catalog in cli/__init__.py
        main.add_command(catalog)
    return CliRunner().invoke(main, ["catalog", *args])


def rows() -> dict[str, Directory]:
    with db.session() as s:
        return {d.id: d for d in s.scalars(select(Directory))}


def count() -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Directory)) or 0


def entry(did: str, **overrides: Any) -> dict[str, Any]:
    base = {
        "id": did, "name": did.title(), "url": f"https://{did}.example", "submissionUrl": f"https://{did}.example/add",
        "category": "general-directory", "domainAuthority": 40, "tier": 1,
        "requiresLogin": False, "hasCaptcha": False, "isActive": True,
        "formMapping": {"businessName": ["#business-name"], "email": ["input[name='email']"]},
        "submitSelector": "button[type='submit']",
        "successIndicators": [".success-message", "h1:contains('Thank you')"],
    }
    base.update(overrides)
    return base


def test_real_catalog_imports_450_and_reimport_changes_nothing() -> None:
    path = real_catalog_path()
    raw = real_catalog()["directories"]
    report = import_catalog(path).as_dict()

    assert (report["entries"], report["distinct_ids"]) == (484, 450)
    assert (report["imported"], report["created"], report["changed"]) == (450, 450, 0)
    assert report["invalid"] == [] and report["file_warnings"] == []

    # Exactly the 34 surplus occurrences are dropped, and (all being equally complete)
    # the last occurrence of each id is the one kept.
    positions: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(raw):
        positions[e["id"]].append(i)
    surplus = sorted(i for occ in positions.values() for i in occ[:-1])
    assert len(surplus) == 34
    assert [d["index"] for d in report["duplicates"]] == surplus
    for d in report["duplicates"]:
        assert d["kept_index"] == positions[d["id"]][-1] and "last occurrence" in d["reason"]

    stored = rows()
    assert len(stored) == 450 and all(d.active for d in stored.values())
    kept = {raw[i]["id"]: raw[i] for occ in positions.values() for i in occ[-1:]}
    for did, d in stored.items():
        plan = Plan.model_validate(d.plan)
        assert d.source == CatalogEntry.model_validate(kept[did]).source()
        assert (d.tier, d.domain_authority, d.has_captcha) == (
            kept[did]["tier"], kept[did]["domainAuthority"], kept[did]["hasCaptcha"])
        assert bool(plan.review_reason) == (d.has_captcha or d.requires_login)
        if plan.review_reason:
            assert plan.steps == []
    review = report["needs_review"]
    assert review["total"] == sum(1 for d in stored.values() if d.plan.get("review_reason"))
    assert review["has_captcha"] == sum(d.has_captcha for d in stored.values())
    assert review["requires_login"] == sum(d.requires_login for d in stored.values())
    assert report["flagged_in_file"] == {"hasCaptcha": 105, "requiresLogin": 76}

    again = import_catalog(path).as_dict()
    assert (again["imported"], again["created"], again["changed"], again["unchanged"]) == (450, 0, 0, 450)


def test_every_contains_indicator_is_translated_or_reported() -> None:
    raw = real_catalog()["directories"]
    report = import_catalog(real_catalog_path()).as_dict()
    in_file = sum(1 for e in raw for s in e["successIndicators"] if ":contains(" in s)
    assert in_file > 0
    assert report["contains"]["translated"] + len(report["contains"]["rejected"]) == in_file
    for d in rows().values():
        assert ":contains(" not in json.dumps(d.plan), d.id
        steps = d.plan.get("steps", [])
        if steps:
            assert any(":has-text(" in s for s in steps[-1]["selector"]), d.id


def test_dry_run_writes_nothing_and_says_what_would_change(tmp_path: Path) -> None:
    path = real_catalog_path()
    report = import_catalog(path, dry_run=True).as_dict()
    assert (report["dry_run"], report["imported"], report["created"]) == (True, 450, 450)
    assert count() == 0

    import_catalog(path)
    data = real_catalog()
    data["directories"][0]["domainAuthority"] = 1
    changed_file = tmp_path / "changed.json"
    changed_file.write_text(json.dumps(data))
    first_id = data["directories"][0]["id"]
    before = rows()[first_id].domain_authority
    dry = import_catalog(changed_file, dry_run=True).as_dict()
    assert dry["changed"] == 1 and dry["changed_ids"][0]["id"] == first_id
    assert "domain_authority" in dry["changed_ids"][0]["fields"]
    assert rows()[first_id].domain_authority == before


def test_cli_import_dry_run_json_show_and_list() -> None:
    path = str(real_catalog_path())
    dry = cli("import", path, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "484 entries, 450 distinct ids" in dry.output and "dry run" in dry.output
    assert "duplicates dropped: 34" in dry.output
    assert count() == 0

    real = cli("import", path, "--json")
    assert real.exit_code == 0, real.output
    report = json.loads(real.stdout)
    assert (report["imported"], report["created"], len(report["duplicates"])) == (450, 450, 34)
    assert count() == 450

    again = cli("import", path)
    assert again.exit_code == 0 and "0 changed, 450 unchanged" in again.output

    shown = cli("show", "libhunt")
    assert shown.exit_code == 0, shown.output
    assert Plan.model_validate(json.loads(shown.stdout)).steps[0].action == "goto"
    missing = cli("show", "no-such-directory")
    assert missing.exit_code != 0 and "no-such-directory" in missing.output

    listed = cli("list", "--tier", "1", "--json")
    assert listed.exit_code == 0
    tier1 = json.loads(listed.stdout)
    assert tier1 and all(d["tier"] == 1 for d in tier1)
    assert len(tier1) == report["by_tier"]["1"]
    das = [d["domain_authority"] for d in tier1]
    assert das == sorted(das, reverse=True)


def test_truncated_json_is_a_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    good = write_catalog(tmp_path / "good.json", [entry("alpha"), entry("beta")])
    import_catalog(good)
    before = {k: (v.name, v.plan) for k, v in rows().items()}

    text = json.dumps({"metadata": {}, "directories": [entry("alpha", name="Changed"), entry("gamma")]})
    truncated = tmp_path / "truncated.json"
    truncated.write_text(text[: len(text) // 2])
    with pytest.raises(ValidationError, match="not valid JSON.*line 1 column"):
        import_catalog(truncated)
    assert {k: (v.name, v.plan) for k, v in rows().items()} == before

    result = cli("import", str(truncated))
    assert result.exit_code != 0
    assert "not valid JSON" in result.output and "nothing was imported" in result.output
    assert "Traceback" not in result.output
    assert {k: (v.name, v.plan) for k, v in rows().items()} == before


def test_bad_entries_are_reported_and_good_ones_still_imported(tmp_path: Path) -> None:
    no_id = entry("x")
    del no_id["id"]
    entries = [
        entry("alpha"),
        no_id,
        entry("evil", submissionUrl="javascript:alert(document.cookie)"),
        entry("nosel", formMapping={"email": ["#email"]}),
        entry("oddcat", category="underwater-basket-weaving"),
        "not an object",
        entry("beta"),
    ]
    path = write_catalog(tmp_path / "mixed.json", entries)
    result = cli("import", str(path))
    assert result.exit_code == 0, result.output
    assert "invalid entries skipped: 4" in result.output

    report = import_catalog(path, dry_run=True).as_dict()
    invalid = {i["index"]: i for i in report["invalid"]}
    assert set(invalid) == {1, 2, 3, 5}
    assert invalid[1]["id"] is None and invalid[1]["reasons"] == ["entry has no id (a non-empty string)"]
    assert invalid[2]["id"] == "evil" and "javascript" in invalid[2]["reasons"][0]
    assert "submissionUrl" in invalid[2]["reasons"][0]
    assert "businessName" in invalid[3]["reasons"][0]
    assert report["unknown_categories"] == {"underwater-basket-weaving": 1}
    assert any(w["id"] == "oddcat" and "category" in w["message"] for w in report["warnings"])
    assert sorted(rows()) == ["alpha", "beta", "oddcat"]


def test_a_file_with_nothing_valid_exits_non_zero_and_writes_nothing(tmp_path: Path) -> None:
    import_catalog(write_catalog(tmp_path / "good.json", [entry("alpha")]))
    bad = write_catalog(tmp_path / "bad.json", [entry("evil", url="javascript:void(0)")])
    result = cli("import", str(bad), "--prune")
    assert result.exit_code == 1
    assert "nothing was imported" in result.output and "evil" in result.output
    assert rows()["alpha"].active  # an unusable file must not prune the catalog away


def test_a_database_failure_mid_import_leaves_nothing_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_catalog(write_catalog(tmp_path / "one.json", [entry("alpha")]))
    real_columns = importer._columns

    def too_long_for_the_last(occ: Any) -> dict[str, Any]:
        columns = real_columns(occ)
        if occ.raw_id == "zeta":
            columns["name"] = "z" * 500  # past the column's 200 characters: PostgreSQL refuses it
        return columns

    monkeypatch.setattr(importer, "_columns", too_long_for_the_last)
    path = write_catalog(tmp_path / "many.json",
                         [entry("alpha", name="Renamed"), entry("beta"), entry("gamma"), entry("zeta")])
    with pytest.raises(Exception, match="too long"):
        import_catalog(path)
    stored = rows()
    assert sorted(stored) == ["alpha"] and stored["alpha"].name == "Alpha"


def test_prune_deactivates_missing_directories_and_never_deletes(tmp_path: Path) -> None:
    first = write_catalog(tmp_path / "first.json", [entry("alpha"), entry("beta"), entry("gamma")])
    second = write_catalog(tmp_path / "second.json", [entry("alpha"), entry("beta")])
    import_catalog(first)

    kept = import_catalog(second).as_dict()
    assert kept["deactivated"] == [] and rows()["gamma"].active

    dry = import_catalog(second, prune=True, dry_run=True).as_dict()
    assert dry["deactivated"] == ["gamma"] and rows()["gamma"].active

    pruned = import_catalog(second, prune=True).as_dict()
    assert pruned["deactivated"] == ["gamma"]
    stored = rows()
    assert sorted(stored) == ["alpha", "beta", "gamma"]
    assert not stored["gamma"].active and stored["alpha"].active

    back = import_catalog(first).as_dict()
    assert back["changed_ids"] == [{"id": "gamma", "fields": ["active"]}]
    assert rows()["gamma"].active


def test_duplicate_rule_prefers_valid_then_most_complete_then_last(tmp_path: Path) -> None:
    sparse = entry("alpha", domainAuthority=10, features=[])
    rich = entry("alpha", domainAuthority=20, features=["Business listing"], timeToApproval="2 days")
    broken = entry("beta", submissionUrl="javascript:0")
    fine = entry("beta", domainAuthority=30)
    same1, same2 = entry("gamma", domainAuthority=41), entry("gamma", domainAuthority=42)
    path = write_catalog(tmp_path / "dups.json", [rich, sparse, fine, broken, same1, same2])
    report = import_catalog(path).as_dict()
    dups = {d["id"]: d for d in report["duplicates"]}
    assert dups["alpha"]["index"] == 1 and dups["alpha"]["kept_index"] == 0
    assert "less complete" in dups["alpha"]["reason"]
    assert dups["beta"]["index"] == 3 and "invalid" in dups["beta"]["reason"]
    assert dups["gamma"]["index"] == 4 and "last occurrence" in dups["gamma"]["reason"]
    assert dups["gamma"]["differences"] == ["domainAuthority"]
    stored = rows()
    assert {k: v.domain_authority for k, v in stored.items()} == {"alpha": 20, "beta": 30, "gamma": 42}


def test_an_edited_entry_is_the_only_one_counted_as_changed(tmp_path: Path) -> None:
    import_catalog(write_catalog(tmp_path / "v1.json", [entry("alpha"), entry("beta")]))
    edited = entry("beta", successIndicators=["h2:contains('Merci')"])
    report = import_catalog(write_catalog(tmp_path / "v2.json", [entry("alpha"), edited])).as_dict()
    assert (report["created"], report["changed"], report["unchanged"]) == (0, 1, 1)
    assert report["changed_ids"] == [{"id": "beta", "fields": ["plan", "source"]}]
    assert rows()["beta"].plan["steps"][-1]["selector"] == ['h2:has-text("Merci")']
