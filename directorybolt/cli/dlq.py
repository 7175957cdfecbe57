"""``directorybolt dlq``: list, show, replay and purge dead letters (durable rows)."""

from __future__ import annotations

import json

import click

from directorybolt.cli.stack import services


@click.group()
def dlq() -> None:
    """Inspect and act on the dead-letter queue."""


@dlq.command("list")
@click.option("--state", type=click.Choice(["open", "replayed", "purged", "all"]), default="open", show_default=True)
@click.option("--limit", default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def list_(state: str, limit: int, as_json: bool) -> None:
    from directorybolt.recovery import dlq as dead

    services()
    entries = [dead.as_dict(e) for e in dead.list_entries(state=None if state == "all" else state, limit=limit)]
    if as_json:
        click.echo(json.dumps(entries, indent=2))
        return
    if not entries:
        click.echo("dead-letter queue is empty")
        return
    for e in entries:
        click.echo(
            f"{e['id']:>6}  {e['state']:<8} {e['task']:<36} job={e['job_id']} dir={e['directory']} "
            f"{e['exception_type']}: {(e['exception_message'] or '')[:80]}  attempts={e['attempts']}"
        )


@dlq.command()
@click.argument("entry_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def show(entry_id: int, as_json: bool) -> None:
    from directorybolt.recovery import dlq as dead

    services()
    entry = dead.as_dict(dead.get(entry_id), full=True)
    if as_json:
        click.echo(json.dumps(entry, indent=2))
        return
    for k, v in entry.items():
        if k != "traceback":
            click.echo(f"{k:>18}: {v}")
    click.echo(f"\n{entry['traceback'] or '(no traceback)'}")


@dlq.command()
@click.argument("entry_id", type=int, required=False)
@click.option("--all", "all_", is_flag=True, help="Replay every open entry.")
@click.option("--task", default=None, help="With --all: only entries of this task name.")
@click.option("--force", is_flag=True, help="Send again even though the form may already have reached the directory.")
def replay(entry_id: int | None, all_: bool, task: str | None, force: bool) -> None:
    """Re-queue to the original tier queue with a fresh retry budget.

    A submission whose form was sent before it failed is refused (the directory may
    already list the customer) unless --force is given."""
    from directorybolt.queueing.dispatch import HANDOFF
    from directorybolt.recovery import dlq as dead

    if (entry_id is None) == (not all_):
        raise click.UsageError("give one entry ID or --all")
    services()
    if all_:
        done = dead.replay_all(HANDOFF, task=task, force=force)
        click.echo(f"replayed {len(done)} entries")
        return
    dead.replay(entry_id, HANDOFF, force=force)  # type: ignore[arg-type]
    click.echo(f"replayed {entry_id}")


@dlq.command()
@click.argument("entry_id", type=int, required=False)
@click.option("--older-than", "older_than", type=float, default=None, metavar="DAYS")
def purge(entry_id: int | None, older_than: float | None) -> None:
    """Drop an entry (or all open entries older than DAYS) without replaying it."""
    from directorybolt.queueing.dispatch import HANDOFF
    from directorybolt.recovery import dlq as dead

    if (entry_id is None) == (older_than is None):
        raise click.UsageError("give one entry ID or --older-than DAYS")
    services()
    if older_than is not None:
        click.echo(f"purged {dead.purge_older_than(older_than, HANDOFF)} entries")
        return
    dead.purge(entry_id, HANDOFF)  # type: ignore[arg-type]
    click.echo(f"purged {entry_id}")


COMMANDS = [dlq]
