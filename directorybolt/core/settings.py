"""The one settings object, read from ``DIRECTORYBOLT_*`` environment variables.

Everything tunable lives here with its documented default, so an operator reads
one file to know what can be changed. Nothing here connects to anything.
"""

from __future__ import annotations

import shutil
from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEBIAN_CHROMIUM = "/usr/bin/chromium"


class TierSpec(BaseModel):
    """A package as sold: figures are the published pricing, never hard-coded in logic."""

    price_usd: int
    directories: int
    catalog_tiers: list[int]
    priority: int  # 0 is served first
    turnaround: str
    pacing_multiplier: float
    pacing_floor_ms: int = 0
    #: How long a needs_review item of this tier may wait for staff (the promise, in seconds).
    review_turnaround_s: int = 86_400


def _default_tiers() -> dict[str, TierSpec]:
    return {
        "enterprise": TierSpec(
            price_usd=799, directories=500, catalog_tiers=[1, 2, 3], priority=0,
            turnaround="same day", pacing_multiplier=0.5, pacing_floor_ms=500, review_turnaround_s=8 * 3600,
        ),
        "pro": TierSpec(
            price_usd=499, directories=400, catalog_tiers=[1, 2, 3], priority=1,
            turnaround="1-2 business days", pacing_multiplier=1.0, review_turnaround_s=2 * 86_400,
        ),
        "growth": TierSpec(
            price_usd=299, directories=250, catalog_tiers=[1, 2], priority=2,
            turnaround="3-5 business days", pacing_multiplier=1.0, review_turnaround_s=5 * 86_400,
        ),
        "starter": TierSpec(
            price_usd=149, directories=100, catalog_tiers=[1], priority=3,
            turnaround="5-7 business days", pacing_multiplier=1.5, review_turnaround_s=7 * 86_400,
        ),
    }


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DIRECTORYBOLT_", env_nested_delimiter="__", extra="ignore")

    # Services. With both URLs unset the embedded Redis and PostgreSQL start under state_dir.
    database_url: str | None = None
    redis_url: str | None = None
    state_dir: Path = Field(default_factory=lambda: Path.home() / ".directorybolt")
    statement_timeout_ms: int = 30_000
    db_pool_size: int = 5

    # Observability and alerting.
    sentry_dsn: str | None = Field(
        default=None, validation_alias=AliasChoices("DIRECTORYBOLT_SENTRY_DSN", "SENTRY_DSN")
    )
    sentry_environment: str = "production"
    slack_webhook_url: str | None = None
    dlq_reminder_s: int = 3600

    # Browser.
    chromium_path: str | None = None
    browser_recycle_after: int = 100
    navigation_timeout_ms: int = 15_000
    step_timeout_ms: int = 5_000
    prepared_contexts: int = 1
    #: Deadline of one browser launch (preflight, probe, pool): a wedged Chromium must not hang a worker.
    browser_launch_timeout_s: float = 20.0
    #: Consecutive launch or crash failures on one worker after which it stops taking submissions
    #: (the circuit breaker, directorybolt.queueing.breaker): a broken browser must not eat the queue.
    browser_breaker_threshold: int = 3
    #: While its breaker is open the worker tries a launch this often and resumes when one succeeds.
    browser_probe_interval_s: float = 15.0

    # Tiers and pacing.
    tiers: dict[str, TierSpec] = Field(default_factory=_default_tiers)
    base_pacing_ms: int = 1500
    max_pacing_wait_s: float = 10.0

    # Retries: delays base * 2**n (30 s, 60 s, 120 s) with +/- jitter; must stay below visibility_timeout_s.
    max_retries: int = 3
    retry_base_s: float = 30.0
    retry_max_s: float = 300.0
    retry_jitter: float = 0.2

    # Celery. Hard limit bounds the longest task; see celery_app for why visibility is larger.
    task_soft_time_limit_s: int = 240
    task_time_limit_s: int = 300
    visibility_timeout_s: int = 900
    worker_max_tasks_per_child: int = 500
    worker_max_memory_per_child_kb: int = 1_000_000
    starvation_after_s: int = 600
    starvation_batch: int = 5
    #: Worker pools as deployed (docker-compose.yml): starvation promotion moves messages
    #: only between the queues one pool consumes.
    worker_pools: dict[str, list[str]] = Field(
        default_factory=lambda: {"priority": ["enterprise", "pro"], "standard": ["growth", "starter"]}
    )
    #: Chaos harness only (directorybolt.execution.faults): kill probability per point.
    fault_points: dict[str, float] = Field(default_factory=dict)

    # Liveness and recovery.
    heartbeat_interval_s: float = 10.0
    stale_after_s: float = 90.0
    #: A lapsed heartbeat is only suspicion; a later sweep at least this long after it
    #: confirms the death if no beat came in between (a database outage kills nobody).
    death_confirm_s: float = 25.0
    #: Per result row: how often the sweep may re-send lost work before the row fails.
    max_requeues: int = 3
    #: The sweep's bounds: rows it acts on and broker messages it reads per run.
    sweep_batch: int = 500
    sweep_broker_scan: int = 20_000
    recover_on_start: bool = True  # a starting worker recovers dead local workers' claims at once
    sweep_interval_s: float = 60.0
    dlq_check_interval_s: float = 300.0
    retention_interval_s: float = 3600.0
    history_archive_days: int = 90
    history_delete_days: int = 365
    dead_letter_retention_days: int = 30
    screenshot_retention_days: int = 90
    heartbeat_prune_after_s: float = 3600.0

    # `directorybolt doctor`: every check gives up after this long; a larger clock skew
    # between a host and PostgreSQL fails (liveness and retry times are judged on the database's clock).
    doctor_check_timeout_s: float = 10.0
    max_clock_skew_s: float = 2.0

    # API.
    api_rate_per_ip: str = "100/minute"
    api_rate_per_key: str = "1000/hour"
    api_max_body_bytes: int = 10 * 1024 * 1024
    api_max_url_chars: int = 2048
    api_max_head_bytes: int = 16 * 1024  # request line + headers; more is a 431
    api_trusted_proxies: list[str] = Field(default_factory=list)
    allow_private_websites: bool = False
    health_timeout_s: float = 1.5
    api_metrics_timeout_s: float = 5.0
    # Hung dependencies (docs/security.md): every route answers within ~2 s.
    api_redis_timeout_s: float = 0.5  # one rate-limit round trip
    api_publish_timeout_s: float = 1.0  # handing a job to the broker
    api_breaker_cooldown_s: float = 5.0  # after a miss, fail fast this long before trying again
    # /api/metrics: this bearer token (for Prometheus) or a staff key; figures cached this long.
    metrics_token: SecretStr | None = None
    metrics_snapshot_ttl_s: float = 15.0

    # Browser egress: host:port origins on private addresses the browser may still reach
    # (the sandbox on 127.0.0.1). Everything private, loopback or link-local is refused otherwise.
    browser_allowed_origins: list[str] = Field(default_factory=list)

    # Paid orders (Stripe webhook, docs/api.md). The fast-track add-on is a flat price on top of the
    # package's; a checkout is expected to charge exactly tier price (+ add-on), in USD cents.
    stripe_webhook_secret: SecretStr | None = None
    stripe_webhook_tolerance_s: int = 300
    stripe_invalid_signatures_per_ip: str = "100/minute"
    fast_track_price_usd: int = 99

    # Pool autoscaling on queue depth (directorybolt.queueing.autoscale); --autoscale MAX,MIN still bounds it.
    autoscale_min: int = 1
    autoscale_max: int = 10
    autoscale_up_depth: int = 50
    autoscale_down_depth: int = 10
    autoscale_cooldown_s: float = 60.0

    # Review queue and staff console (docs/console.md).
    #: A claimed review item goes back to open when its claim is this old (database clock).
    review_lease_s: int = 1800
    console_session_s: int = 12 * 3600
    #: Sign-in attempts per client address (a moving window, shared through Redis).
    console_signin_rate: str = "10/minute"
    #: Secure cookies even over plain http (behind a TLS-terminating proxy that does not say so).
    console_secure_cookies: bool = False

    # Read-through cache of business profiles and catalog entries (directorybolt.store.cache).
    cache_profile_ttl_s: int = 3600
    cache_directory_ttl_s: int = 86400

    def tier(self, name: str) -> TierSpec:
        try:
            return self.tiers[canonical_tier(name)]
        except KeyError:
            raise ValueError(f"unknown tier {name!r}; choose one of: {', '.join(self.tiers)}") from None

    def tiers_by_priority(self) -> list[str]:
        return sorted(self.tiers, key=lambda t: self.tiers[t].priority)

    def resolved_chromium(self) -> str | None:
        """Debian's Chromium when present, else Playwright's own download (None)."""
        if self.chromium_path:
            return self.chromium_path
        if Path(DEBIAN_CHROMIUM).exists():
            return DEBIAN_CHROMIUM
        return shutil.which("chromium")

    @property
    def embedded(self) -> bool:
        return not self.database_url and not self.redis_url


TIER_ALIASES = {"professional": "pro"}


def canonical_tier(name: str) -> str:
    name = name.strip().lower()
    return TIER_ALIASES.get(name, name)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reload_settings() -> Settings:
    """Re-read the environment; used after the embedded services export their URLs."""
    get_settings.cache_clear()
    return get_settings()
