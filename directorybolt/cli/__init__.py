"""The ``directorybolt`` command. Each concern registers its commands from its own module."""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from directorybolt.core.errors import DirectoryBoltError, first_line
from directorybolt.core.retries import SERVICE_ERRORS


class _Group(click.Group):
    """Turns the library's errors and unreachable services into a one-line message
    and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DirectoryBoltError as exc:
            raise click.ClickException(str(exc)) from None
        except SERVICE_ERRORS as exc:
            raise click.ClickException(f"cannot reach a service: {first_line(exc)}") from None




@click.group(cls=_Group)
@click.option("-v", "--verbose", is_flag=True, help="Log at INFO level.")
def main(verbose: bool) -> None:
    """DirectoryBolt: submit a business listing to many directories with Celery and Chromium."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, stream=sys.stderr)


def _register() -> None:
    from directorybolt.cli import api, catalog, dlq, doctor, jobs, plan, reviews, stack

    for module in (stack, jobs, dlq, reviews, catalog, plan, api, doctor):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
