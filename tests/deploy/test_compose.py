"""The compose stack as a deployable artefact: it validates with docker-compose, every
service is health-checked and ordered on health, secrets come only from the
environment, there is exactly one Beat, and every command is one the CLI accepts."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import required_tool

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
SECRETS = {"POSTGRES_PASSWORD": "pg-test-secret", "REDIS_PASSWORD": "redis-test-secret",
           "FLOWER_BASIC_AUTH": "ops:flower-test-secret", "METRICS_TOKEN": "metrics-test-secret"}
APP_SERVICES = {"migrate", "api", "worker-priority", "worker-standard", "beat", "flower"}
VAR = re.compile(r"\$\{([A-Z0-9_]+)(?:(:?[-?])([^}]*))?\}")


def docker_compose() -> str:
    return required_tool("docker-compose", "docker-compose")


def compose_config(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``docker-compose config`` with exactly ``env`` (an empty --env-file, so a developer's
    own .env cannot change the outcome)."""
    empty = tmp_path / "empty.env"
    empty.write_text("")
    clean_env = {k: v for k, v in os.environ.items() if k not in SECRETS and not k.startswith("COMPOSE_")}
    return subprocess.run(
        [docker_compose(), "--project-directory", str(ROOT), "-f", str(COMPOSE), "--env-file", str(empty), "config"],
        capture_output=True, text=True, timeout=60, env={**clean_env, **env}, cwd=ROOT,
    )


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture
def rendered(tmp_path) -> dict[str, Any]:
    proc = compose_config(tmp_path, SECRETS)
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


def argv(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command") or []
    return shlex.split(cmd) if isinstance(cmd, str) else list(cmd)


def test_compose_validates_with_docker_compose(rendered):
    services = rendered["services"]
    assert {"redis", "postgres", "prometheus", "grafana"} | APP_SERVICES == set(services)
    assert services["prometheus"]["profiles"] == ["monitoring"] == services["grafana"]["profiles"]
    assert all("profiles" not in services[s] for s in APP_SERVICES | {"redis", "postgres"})


def test_missing_secrets_refuse_to_render(tmp_path):
    for missing in SECRETS:
        proc = compose_config(tmp_path, {k: v for k, v in SECRETS.items() if k != missing})
        assert proc.returncode != 0, f"rendered without {missing}"
        assert missing in proc.stderr


def test_every_service_has_a_healthcheck(rendered):
    for name, svc in rendered["services"].items():
        check = svc.get("healthcheck")
        assert check and not check.get("disable") and check.get("test"), f"{name} has no health check"
        test = check["test"]
        assert test[0] in ("CMD", "CMD-SHELL"), name
        if test[:3] == ["CMD", "python", "-c"]:
            compile(test[3], f"{name}-healthcheck", "exec")
    svc = rendered["services"]
    assert "redis-cli ping" in " ".join(svc["redis"]["healthcheck"]["test"])
    assert "pg_isready" in " ".join(svc["postgres"]["healthcheck"]["test"])
    for worker in ("worker-priority", "worker-standard"):
        assert "inspect ping" in " ".join(svc[worker]["healthcheck"]["test"])
    for http in ("api", "flower"):
        assert "urllib.request" in " ".join(svc[http]["healthcheck"]["test"]), "curl-free"


def test_services_start_in_health_order(rendered):
    svc = rendered["services"]
    assert svc["migrate"]["depends_on"] == {"redis": {"condition": "service_healthy"},
                                            "postgres": {"condition": "service_healthy"}}
    for name in APP_SERVICES - {"migrate"}:
        deps = svc[name]["depends_on"]
        assert deps["migrate"] == {"condition": "service_completed_successfully"}, name
        assert deps["redis"]["condition"] == deps["postgres"]["condition"] == "service_healthy", name
    assert svc["migrate"]["restart"] == "no"


def test_one_image_for_every_app_service(rendered):
    svc = rendered["services"]
    images = {svc[n]["image"] for n in APP_SERVICES}
    assert len(images) == 1
    for name in APP_SERVICES:
        assert Path(svc[name]["build"]["context"]).resolve() == ROOT, name
        env = svc[name]["environment"]
        assert env["DIRECTORYBOLT_DATABASE_URL"].startswith("postgresql://directorybolt:pg-test-secret@postgres:")
        assert env["DIRECTORYBOLT_REDIS_URL"] == "redis://:redis-test-secret@redis:6379/0"


def test_exactly_one_beat(raw, rendered):
    beats = [n for n, s in rendered["services"].items() if argv(s)[:2] == ["directorybolt", "beat"]]
    assert beats == ["beat"]
    beat = raw["services"]["beat"]
    assert beat.get("deploy", {}).get("replicas", 1) == 1 and "scale" not in beat


def test_roles_and_durability(rendered):
    svc = rendered["services"]
    redis_cmd = " ".join(argv(svc["redis"]))
    assert svc["redis"]["image"] == "redis:7" and "--appendonly yes" in redis_cmd
    assert "--appendfsync everysec" in redis_cmd and "noeviction" in redis_cmd
    assert svc["postgres"]["image"] == "postgres:16"
    assert svc["postgres"]["environment"]["POSTGRES_PASSWORD"] == "pg-test-secret"
    assert any(v.endswith(":/data") or ":/data:" in v for v in svc["redis"]["volumes"])
    assert any("/var/lib/postgresql/data" in v for v in svc["postgres"]["volumes"])
    prio, std = argv(svc["worker-priority"]), argv(svc["worker-standard"])
    assert prio[prio.index("--tiers") + 1] == "enterprise,pro" and "--no-maintenance" in prio
    assert std[std.index("--tiers") + 1] == "growth,starter" and "--no-maintenance" not in std
    assert argv(svc["api"])[:2] == ["directorybolt", "api"] and "0.0.0.0" in argv(svc["api"])
    flower = argv(svc["flower"])
    assert flower[flower.index("--address") + 1] == "0.0.0.0"
    assert svc["flower"]["environment"]["DIRECTORYBOLT_FLOWER_BASIC_AUTH"] == "ops:flower-test-secret"
    mounts = " ".join(svc["prometheus"]["volumes"])
    assert "docs/prometheus/prometheus.yml" in mounts and "docs/prometheus/alerts.yml" in mounts


def test_app_commands_are_accepted_by_the_cli(rendered):
    """The commands compose runs parse with the real CLI (options renamed would break
    the stack only at deploy time otherwise)."""
    from directorybolt.cli import main

    for name in APP_SERVICES:
        args = argv(rendered["services"][name])
        assert args[0] == "directorybolt", name
        command = main.commands.get(args[1])
        assert command is not None, f"{name}: no `directorybolt {args[1]}` command"
        command.make_context(args[1], args[2:])


def test_no_secret_is_written_in_the_compose_file(raw):
    text = COMPOSE.read_text()
    for value in SECRETS.values():
        assert value not in text
    secret_like = re.compile(r"(PASSWORD|SECRET|TOKEN|AUTH|DSN|WEBHOOK)", re.I)

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(v, str | int) and secret_like.search(str(k)):
                    assert str(v) == "" or VAR.search(str(v)), f"{path}.{k} is a literal secret"
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(raw, "compose")
    assert "postgresql://directorybolt:${POSTGRES_PASSWORD" in text


def test_env_example_lists_every_variable_without_values():
    lines = [ln.strip() for ln in ENV_EXAMPLE.read_text().splitlines()]
    entries = [ln for ln in lines if ln and not ln.startswith("#")]
    assert entries, ".env.example is empty"
    for ln in entries:
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*=", ln), f"{ln!r}: keys only, no values"
    keys = {ln[:-1] for ln in entries}
    used = {m.group(1) for m in VAR.finditer(COMPOSE.read_text())}
    required = {m.group(1) for m in VAR.finditer(COMPOSE.read_text()) if m.group(2) == ":?"}
    assert set(SECRETS) <= required
    assert used <= keys, f"missing from .env.example: {sorted(used - keys)}"


def test_dockerfile_builds_the_browser_image():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim-bookworm\b", text, re.M)
    install = " ".join(ln for ln in text.replace("\\\n", " ").splitlines() if "apt-get install" in ln)
    assert re.search(r"\bchromium\b", install) and "fonts-" in install
    assert re.search(r"pip install \.", text)
    assert "DIRECTORYBOLT_CHROMIUM_PATH=/usr/bin/chromium" in text
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0"), "runs as a non-root user"
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".venv" in ignored and ".git" in ignored


#: What a worker needs after its last running task hits the hard limit: the pool kills it,
#: the worker records what it can and exits (docs/deployment.md, "Stopping and deploys").
SHUTDOWN_MARGIN_S = 30


def _seconds(duration: str | int) -> float:
    """A compose duration (``330s``, ``5m30s``, ``1h``) in seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a duration: {duration!r}"
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 0.000001}
    return sum(float(n) * scale[u] for n, u in parts)


def test_worker_grace_period_covers_the_task_hard_limit(raw):
    """docker stop waits stop_grace_period before SIGKILL: long enough for a submission
    that is running to finish or reach its hard time limit, with the settings the compose
    file gives the workers (or the defaults)."""
    from directorybolt.core.settings import Settings

    workers = {name: svc for name, svc in raw["services"].items() if argv(svc)[:2] == ["directorybolt", "worker"]}
    assert set(workers) == {"worker-priority", "worker-standard"}
    for name, svc in workers.items():
        env = {k: str(v) for k, v in (svc.get("environment") or {}).items() if k.startswith("DIRECTORYBOLT_")}
        limits = Settings(**{k.removeprefix("DIRECTORYBOLT_").lower(): v for k, v in env.items()
                             if k.removeprefix("DIRECTORYBOLT_").lower() in ("task_time_limit_s",
                                                                             "task_soft_time_limit_s")})
        grace = _seconds(svc["stop_grace_period"])
        assert grace >= limits.task_time_limit_s + SHUTDOWN_MARGIN_S, (name, grace, limits.task_time_limit_s)
        assert grace <= limits.task_time_limit_s + 5 * SHUTDOWN_MARGIN_S, f"{name}: a deploy would wait needlessly"
        assert limits.task_soft_time_limit_s < limits.task_time_limit_s
    assert _seconds("5m30s") == 330 and _seconds("330s") == 330
