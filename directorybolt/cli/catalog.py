"""``directorybolt catalog``: import the product's catalog file, list it, show a plan."""

from __future__ import annotations

import json
from typing import Any

import click


def _ready() -> None:
    from directorybolt.store.services import ensure_services

    ensure_services()


@click.group()
def catalog() -> None:
    """Import and inspect the directory catalog."""


def _summary(r: dict[str, Any]) -> list[str]:
    verb = "would be " if r["dry_run"] else ""
    lines = [
        f"{r['path']}: {r['entries']} entries, {r['distinct_ids']} distinct ids"
        + (" (dry run: nothing written)" if r["dry_run"] else ""),
        f"imported {r['imported']}: {r['created']} {verb}created, {r['changed']} {verb}changed, "
        f"{r['unchanged']} unchanged; by tier {r['by_tier']}",
        f"needs review (no browser): {r['needs_review']['total']} "
        f"({r['needs_review']['requires_login']} require login, {r['needs_review']['has_captcha']} have a CAPTCHA); "
        f"flagged in the file: {r['flagged_in_file'].get('requiresLogin', 0)} login, "
        f"{r['flagged_in_file'].get('hasCaptcha', 0)} CAPTCHA",
        f":contains() selectors: {r['contains']['translated']} translated to :has-text(), "
        f"{len(r['contains']['rejected'])} rejected",
    ]
    lines += [f"warning: {w}" for w in r["file_warnings"]]
    if r["deactivated"]:
        lines.append(f"{verb}deactivated (no longer in the file): {', '.join(r['deactivated'])}")
    if r["duplicates"]:
        lines.append(f"duplicates dropped: {len(r['duplicates'])}")
        lines += [
            f"  {d['id']}: dropped entry #{d['index']} (row {d['row']}), kept #{d['kept_index']} "
            f"(row {d['kept_row']}): {d['reason']}" + _differed(d["differences"])
            for d in r["duplicates"]
        ]
    if r["invalid"]:
        lines.append(f"invalid entries skipped: {len(r['invalid'])}")
        lines += [f"  #{i['index']} {i['id'] or '(no id)'}: {'; '.join(i['reasons'])}" for i in r["invalid"]]
    lines += [f"  rejected selector #{x['index']} {x['id']} {x['where']}: {x['selector']!r}: {x['reason']}"
              for x in r["contains"]["rejected"]]
    if r["unknown_categories"]:
        lines.append(f"unknown categories: {r['unknown_categories']}")
    if r["warnings"]:
        lines.append(f"{len(r['warnings'])} warnings (see --json)")
    return lines


def _differed(keys: list[str]) -> str:
    """What the operator loses by the choice; the spreadsheet row always differs, so it is omitted."""
    keys = [k for k in keys if k != "originalExcelRow"]
    return f"; they differ in {', '.join(keys)}" if keys else "; otherwise identical"


@catalog.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=str))
@click.option("--dry-run", is_flag=True, help="Validate and compare with the database; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON.")
@click.option("--prune", is_flag=True, help="Deactivate (never delete) directories missing from the file.")
def import_(path: str, dry_run: bool, as_json: bool, prune: bool) -> None:
    """Validate PATH and upsert its directories by id in one transaction.

    Exits 0 when every valid entry was imported, 1 when none could be."""
    from directorybolt.catalog import import_catalog

    _ready()
    report = import_catalog(path, dry_run=dry_run, prune=prune).as_dict()
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        for line in _summary(report):
            click.echo(line)
    if report["imported"] == 0:
        click.echo("error: no valid entry in the file; nothing was imported", err=True)
        raise click.exceptions.Exit(1)


@catalog.command("list")
@click.option("--tier", type=click.IntRange(1, 3), default=None, help="Only this catalog tier.")
@click.option("--json", "as_json", is_flag=True)
def list_(tier: int | None, as_json: bool) -> None:
    """Stored directories, highest domain authority first (the order jobs take them)."""
    from directorybolt.catalog import list_directories

    _ready()
    rows = list_directories(tier)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for d in rows:
        state = "active" if d["active"] else "inactive"
        how = f"review: {d['review_reason']}" if d["review_reason"] else ("plan" if d["has_plan"] else "fallback")
        click.echo(f"{d['id']:<40} tier {d['tier']}  DA {d['domain_authority']:>3}  {state:<8} {how}")
    click.echo(f"{len(rows)} directories")


@catalog.command()
@click.argument("directory_id")
def show(directory_id: str) -> None:
    """Print DIRECTORY_ID's compiled plan as JSON (null: it uses the form-mapping fallback)."""
    from directorybolt.catalog import stored_plan

    _ready()
    click.echo(json.dumps(stored_plan(directory_id), indent=2))


COMMANDS = [catalog]
