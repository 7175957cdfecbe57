"""``directorybolt plan suggest URL``: map a directory's form into a draft plan.

The page is opened in the pooled Chromium and mapped by the same mapper the production
fallback uses; the draft is printed with each field's confidence and evidence, the
honeypots left empty and the review reason. ``--try`` runs the draft on the page with a
sample profile and stops before the click that would send it; ``--save`` stores it on
a directory.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import click

from directorybolt.core.errors import DirectoryBoltError, first_line


@click.group()
def plan() -> None:
    """Draft and store directories' submission plans."""


@plan.command()
@click.argument("url")
@click.option("--json", "as_json", is_flag=True, help="Print the mapping and the draft plan as JSON.")
@click.option("--save", "directory_id", metavar="DIRECTORY_ID", help="Store the draft as this directory's plan.")
@click.option("--try", "try_it", is_flag=True, help="Run the draft with a sample profile, without the final click.")
@click.option("--same-host", is_flag=True, help="Abort every request to another host (CDNs, analytics, form services).")
def suggest(url: str, as_json: bool, directory_id: str | None, try_it: bool, same_host: bool) -> None:
    """Open URL, map its listing form and print a draft plan."""
    from directorybolt.catalog.schema import check_http_url

    try:
        url = check_http_url(url.strip())
    except ValueError as exc:
        raise click.ClickException(f"not a page address: {exc}") from None
    if directory_id is not None:
        from directorybolt.catalog import stored_plan
        from directorybolt.store.services import ensure_services

        ensure_services()
        stored_plan(directory_id)  # fail before the browser work if the directory is unknown
    found, tried = _map(url, try_it, same_host)
    draft = found.plan()
    report: dict[str, Any] = {**found.as_dict(), "plan": draft.model_dump(exclude_defaults=True)}
    if try_it:
        report["tried"] = tried
    if directory_id is not None:
        from directorybolt.catalog import save_plan

        save_plan(directory_id, draft.model_dump(exclude_defaults=True))
        report["saved"] = directory_id
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        for line in _lines(report):
            click.echo(line)


def _map(url: str, try_it: bool, same_host: bool) -> tuple[Any, dict[str, Any] | None]:
    from playwright.sync_api import Error as PlaywrightError

    from directorybolt.core.settings import get_settings
    from directorybolt.execution.browser.formmap import map_form
    from directorybolt.execution.browser.pool import close_pool, get_pool

    s = get_settings()
    try:
        with get_pool().page() as page, _host_only(page, url, same_host):
            try:
                page.goto(url, wait_until="domcontentloaded", timeout=s.navigation_timeout_ms)
            except PlaywrightError as exc:
                if "ERR_BLOCKED_BY_CLIENT" in str(exc):
                    raise click.ClickException(
                        f"cannot open {url}: the browser's egress rules refuse private and loopback addresses; "
                        "allow it with DIRECTORYBOLT_BROWSER_ALLOWED_ORIGINS='[\"host:port\"]'") from None
                raise click.ClickException(f"cannot open {url}: {_first_line(exc)}") from None
            found = map_form(page, url)
            tried = _try(page, found) if try_it else None
            return found, tried
    except PlaywrightError as exc:
        raise click.ClickException(f"the browser failed: {_first_line(exc)}") from None
    finally:
        close_pool()


@contextmanager
def _host_only(page: Any, url: str, enabled: bool) -> Iterator[None]:
    if not enabled:
        yield
        return
    host = urlsplit(url).hostname

    def route(r: Any) -> None:
        target = urlsplit(r.request.url)
        if target.scheme in ("http", "https", "ws", "wss") and target.hostname != host:
            r.abort("blockedbyclient")
        else:
            r.continue_()

    page.context.route("**/*", route)
    yield


def _try(page: Any, found: Any) -> dict[str, Any]:
    """Run the draft up to (not including) the click that sends the form."""
    from directorybolt.core.profiles import BusinessProfile
    from directorybolt.execution.browser.formmap import SAMPLE_PROFILE
    from directorybolt.execution.browser.runner import run_plan

    profile = BusinessProfile.model_validate(SAMPLE_PROFILE, context={"allow_private_websites": True})
    draft = found.plan(keep_review=False)
    # A diagnosis, not a submission: a sample value no option matches is left and reported.
    plan = draft.model_copy(update={"steps": [
        st.model_copy(update={"optional": True}) if st.action in ("fill", "select") else st for st in draft.steps]})
    try:
        result = run_plan(page, plan, profile, step_timeout_ms=5000, stop_before_commit=True)
    except DirectoryBoltError as exc:
        return {"completed": False, "stopped": f"{exc.category}: {exc}", "values": _values(page, plan)}
    return {"completed": True, "steps_run": result.steps_done, "skipped": result.skipped_fields,
            "stopped_before": plan.steps[result.stopped_before].selector if result.stopped_before is not None
            else None, "values": _values(page, plan)}


def _values(page: Any, plan: Any) -> dict[str, Any]:
    """What the page now holds in each input the draft touched."""
    values: dict[str, Any] = {}
    for step in plan.steps:
        if step.action in ("fill", "select", "check"):
            sel = step.selector[0]
            try:
                values[sel] = page.locator(sel).first.evaluate(
                    "el => el.type === 'checkbox' || el.type === 'radio' ? el.checked : el.value", timeout=2000)
            except Exception as exc:  # noqa: BLE001 - reported, not raised: the try is a diagnosis
                values[sel] = f"<unreadable: {_first_line(exc)}>"
    return values


def _lines(r: dict[str, Any]) -> list[str]:
    lines = [f"page   {r['url']}", f"form   {r['form'] or '(none)'}"
             + (f"  ({r['wizard_steps']} steps)" if r["wizard_steps"] > 1 else "")]
    for f in r["fields"]:
        ev = f["evidence"]
        said = f"{ev.get('source', '?')} {ev.get('text', '')!r}"
        lines.append(f"  {f['field']:<17} {f['confidence']:.2f}  {f['action']:<6} {f['selector']}  <- {said}"
                     + (f"  ({f['note']})" if f.get("note") else ""))
    lines += [f"  left alone: {u['kind']} {u['selector']} {u['label']!r}" + (" (required)" if u["required"] else "")
              for u in r["unmapped"]]
    lines += [f"  trap, left empty: {sel} ({', '.join(r['trap_signs'][sel])})" for sel in r["traps"]]
    reason = r["review_reason"]
    lines.append(f"review {reason}: {r['review_detail']}" if reason else "review none: the draft can run unattended")
    lines.append("plan   (--json prints it whole)")
    for i, step in enumerate(r["steps"], 1):
        what = step.get("field") or step.get("value") or step.get("url") or ""
        where = " | ".join(step.get("selector", []))
        lines.append(f"  {i:>2}. {step['action']:<7} {what} {where}".rstrip())
    if "tried" in r:
        t = r["tried"]
        lines.append("tried  " + ("ran up to the final click, which was not pressed" if t["completed"]
                                  else f"stopped: {t['stopped']}"))
        lines += [f"  {sel} = {value!r}" for sel, value in t["values"].items()]
    if "saved" in r:
        lines.append(f"saved  as the plan of {r['saved']}")
    return lines


def _first_line(exc: BaseException) -> str:
    line = first_line(exc)
    return re.sub(r"^\w+\.\w+: ", "", line)  # Playwright's "Page.goto: " says nothing to an operator


COMMANDS = [plan]
