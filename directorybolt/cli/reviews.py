"""``directorybolt review`` (the review queue) and ``directorybolt staff`` (console accounts)."""

from __future__ import annotations

import json
from typing import Any

import click

from directorybolt.cli.stack import services

STAFF = click.option("--staff", required=True, envvar="DIRECTORYBOLT_STAFF", metavar="NAME",
                     help="Who acts (written to the history); or DIRECTORYBOLT_STAFF.")


@click.group()
def review() -> None:
    """Finish, by hand, the directories the browser could not (needs_review)."""


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = int(seconds // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{int(seconds % 60):02d}s"


@review.command("list")
@click.option("--tier", default=None, help="Only this tier.")
@click.option("--state", type=click.Choice(["open", "claimed", "resolved", "unresolved", "all"]),
              default="unresolved", show_default=True)
@click.option("--limit", default=200, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--json", "as_json", is_flag=True)
def list_(tier: str | None, state: str, limit: int, as_json: bool) -> None:
    """The queue in working order: tier priority, then age."""
    from directorybolt.lifecycle import reviews

    services()
    items = reviews.list_items(tier=tier, state=state, limit=limit)
    if as_json:
        click.echo(json.dumps({"tiers": reviews.summary(), "items": items}, indent=2))
        return
    for t in reviews.summary():
        if tier is None or t["tier"] == tier:
            late = "  OVERDUE" if t["overdue"] else ""
            click.echo(f"{t['tier']:<11} {t['unresolved']:>4} waiting  oldest {_age(t['oldest_s']):>8}  "
                       f"turnaround {t['turnaround']}{late}")
    if not items:
        click.echo("no review items")
        return
    click.echo("")
    for i in items:
        who = f" by {i['claimed_by']}" if i["claimed_by"] else ""
        if i["resolution"]:
            who = f":{i['resolution']} by {i['resolved_by']}"
        click.echo(f"{i['id']:>6}  {i['tier']:<10} {i['state'] + who:<30} {_age(i['age_s']):>8}  "
                   f"{i['directory']:<20} job={i['job_id']}  {i['reason'][:60]}")


def _print_item(item: dict[str, Any]) -> None:
    for k in ("id", "state", "claimed_by", "tier", "turnaround", "job_id", "job_status", "directory",
              "directory_url", "reason", "attempts", "resolution", "resolved_by", "evidence_url", "note"):
        if item.get(k) is not None:
            click.echo(f"{k:>14}: {item[k]}")
    if item.get("fields"):
        click.echo("\nbusiness fields:")
        for k, v in item["fields"].items():
            if v:
                click.echo(f"{k:>14}: {v}")


@review.command()
@click.argument("item_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def show(item_id: int, as_json: bool) -> None:
    """One item: the directory to open, the fields to type, the reason, its history."""
    from directorybolt.lifecycle import reviews

    services()
    item = reviews.get(item_id)
    if as_json:
        click.echo(json.dumps(item, indent=2, default=str))
        return
    _print_item(item)
    click.echo("\nhistory:")
    for e in item["history"]:
        click.echo(f"  {e['at']}  {e['event']}  {json.dumps(e['detail']) if e['detail'] else ''}")


@review.command()
@click.argument("item_id", type=int)
@STAFF
def claim(item_id: int, staff: str) -> None:
    """Take the item for review_lease_s (default 30 min)."""
    from directorybolt.lifecycle import reviews

    services()
    item = reviews.claim(item_id, staff)
    click.echo(f"claimed review item {item_id} for {staff} ({int(item['lease_left_s'] or 0)} s lease): "
               f"open {item['directory_url']}")


@review.command()
@click.argument("item_id", type=int)
@STAFF
def release(item_id: int, staff: str) -> None:
    """Give a claimed item back to the queue."""
    from directorybolt.lifecycle import reviews

    services()
    reviews.release(item_id, staff)
    click.echo(f"released review item {item_id}")


@review.command()
@click.argument("item_id", type=int)
@click.option("--as", "resolution", required=True, type=click.Choice(["submitted", "failed", "retry"]))
@click.option("--evidence", default=None, metavar="URL", help="The listing's URL (submitted).")
@click.option("--note", default=None, metavar="TEXT", help="Evidence (submitted) or the reason (failed).")
@STAFF
def resolve(item_id: int, resolution: str, evidence: str | None, note: str | None, staff: str) -> None:
    """Finish a claimed item: submitted (with --evidence or --note), failed (--note
    says why) or retry (back to the workers, once per directory)."""
    from directorybolt.lifecycle import reviews
    from directorybolt.queueing.dispatch import HANDOFF

    services()
    done = reviews.resolve(item_id, staff, resolution, evidence_url=evidence, note=note,
                           send=HANDOFF.send_submissions)
    click.echo(f"review item {item_id} resolved as {resolution} by {staff}; job {done.item['job_id']} is "
               f"{done.job_status}" + (f" (finalised: {done.finalized})" if done.finalized else "")
               + ("; sent back to the workers" if done.queued else ""))


@click.group()
def staff() -> None:
    """Staff console accounts."""


@staff.command()
@click.argument("name")
def create(name: str) -> None:
    """Create an account; prints its one-time password."""
    from directorybolt.store import staff as accounts

    services()
    password = accounts.create(name)
    click.echo(f"staff member {name} created. One-time password (shown only now): {password}")


@staff.command()
@click.argument("name")
def reset(name: str) -> None:
    """A new one-time password; the member's sessions end."""
    from directorybolt.store import staff as accounts

    services()
    click.echo(f"new one-time password for {name}: {accounts.reset(name)}")


COMMANDS = [review, staff]
