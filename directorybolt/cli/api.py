"""``directorybolt api`` (serve the HTTP API) and ``directorybolt apikey`` (manage keys)."""

from __future__ import annotations

import json
import os

import click

from directorybolt.cli.stack import services


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="uvicorn processes.")
@click.option("--limit-concurrency", default=200, show_default=True, type=click.IntRange(1),
              help="Per process: connections beyond this get 503 instead of queueing without bound.")
@click.option("--timeout-keep-alive", default=5, show_default=True, type=click.IntRange(1),
              help="Seconds an idle keep-alive connection is held.")
@click.option("--access-log/--no-access-log", default=True, show_default=True)
def api(host: str, port: int, workers: int, limit_concurrency: int, timeout_keep_alive: int, access_log: bool) -> None:
    """Serve the HTTP API under /api (schema at /api/openapi.json)."""
    import uvicorn

    from directorybolt.cli.httpserver import HeadLimitedH11Protocol
    from directorybolt.core.settings import get_settings
    from directorybolt.store.services import ensure_services

    # Exports the embedded services' URLs (when none are configured) so every uvicorn
    # worker process finds the same servers.
    ensure_services()
    if workers > 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _prepare_multiprocess_metrics()
    click.echo(f"API on http://{host}:{port}/api  ({workers} worker{'s' if workers > 1 else ''})")
    uvicorn.run(
        "directorybolt.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        limit_concurrency=limit_concurrency,
        timeout_keep_alive=timeout_keep_alive,
        timeout_graceful_shutdown=20,
        backlog=1024,
        # The API reads X-Forwarded-For itself, only from api_trusted_proxies; uvicorn
        # rewriting the client address too would make a forged header count.
        proxy_headers=False,
        forwarded_allow_ips="",
        server_header=False,
        # Request line and headers together: a longer head is a 431 however it arrives
        # (directorybolt.api.headlimit); URLs over api_max_url_chars get 414 from the app.
        http=HeadLimitedH11Protocol,
        h11_max_incomplete_event_size=get_settings().api_max_head_bytes,
        access_log=access_log,
        log_level="info",
    )


def _prepare_multiprocess_metrics() -> None:
    """Several uvicorn workers share request metrics through prometheus-client's
    multiprocess files; the directory must exist and start empty on every start."""
    from directorybolt.core.settings import get_settings

    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or str(get_settings().state_dir / "prometheus-api")
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.remove(os.path.join(directory, name))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory


@click.group()
def apikey() -> None:
    """Create, list and revoke API keys (only a hash is stored)."""


@apikey.command()
@click.option("--name", required=True, help="Who or what uses the key, e.g. 'stripe-webhook'.")
@click.option("--staff", is_flag=True, help="A staff key (admin routes) instead of a producer key.")
@click.option("--json", "as_json", is_flag=True)
def create(name: str, staff: bool, as_json: bool) -> None:
    """Create a key and print it once: it cannot be shown again."""
    from directorybolt.store import apikeys

    services()
    info, key = apikeys.create(name, "staff" if staff else "producer")
    if as_json:
        click.echo(json.dumps({"id": info.id, "prefix": info.prefix, "name": info.name, "role": info.role,
                               "key": key}))
        return
    click.echo(f"created {info.role} key {info.prefix} (id {info.id}) for {info.name!r}")
    click.echo(f"key: {key}")
    click.echo("store it now: only its hash is kept, it cannot be shown again", err=True)


@apikey.command()
@click.argument("prefix_or_id")
def revoke(prefix_or_id: str) -> None:
    """Revoke a key by its prefix (dbk_xxxxxxxx) or numeric id; effective at once."""
    from directorybolt.store import apikeys

    services()
    info = apikeys.revoke(prefix_or_id)
    click.echo(f"revoked {info.role} key {info.prefix} (id {info.id}, {info.name!r})")


@apikey.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_(as_json: bool) -> None:
    """Every key with its role, last use and revocation (never the key itself)."""
    from directorybolt.store import apikeys

    services()
    keys = apikeys.list_keys()
    rows = [
        {"id": k.id, "prefix": k.prefix, "name": k.name, "role": k.role,
         "created_at": _iso(k.created_at), "last_used_at": _iso(k.last_used_at), "revoked_at": _iso(k.revoked_at)}
        for k in keys
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no API keys; create one with: directorybolt apikey create --name NAME [--staff]")
        return
    for r in rows:
        state = f"revoked {r['revoked_at']}" if r["revoked_at"] else "active"
        used = r["last_used_at"] or "never"
        click.echo(f"{r['id']:>5}  {r['prefix']}  {r['role']:<8} {r['name']:<30} last used {used}  {state}")


def _iso(value: object) -> str | None:
    return value.isoformat() if value is not None else None  # type: ignore[attr-defined]


COMMANDS = [api, apikey]
