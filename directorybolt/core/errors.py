"""The error vocabulary. Whether a failure is retried is decided by its class,
so the retry policy is one predicate rather than scattered string matching."""

from __future__ import annotations


class DirectoryBoltError(Exception):
    """Base class; ``category`` is the short, customer-safe label stored on results."""

    category = "error"


class ConfigurationError(DirectoryBoltError):
    """A service is unreachable or misconfigured; the CLI turns it into a clear message."""

    category = "configuration"


class ValidationError(DirectoryBoltError):
    """Bad input from a producer: never retried, nothing is queued."""

    category = "validation"


class NotFound(DirectoryBoltError):
    category = "not_found"


class ConflictError(DirectoryBoltError):
    """An optimistic-lock conflict: someone else changed the row first."""

    category = "conflict"


class TransientError(DirectoryBoltError):
    """Worth retrying: timeouts, 5xx, 429, a crashed browser."""

    category = "transient"

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class SiteUnavailable(TransientError):
    category = "http_5xx"


class RateLimited(TransientError):
    category = "rate_limited"


class BrowserCrashed(TransientError):
    category = "browser_crash"


class BrowserUnavailable(BrowserCrashed):
    """The browser did not launch: a fault of this worker, never of the directory, so the
    submission goes back to ``pending`` uncounted and the worker's breaker counts it."""

    category = "browser_unavailable"

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot launch the browser at {path} ({reason})")
        self.path = path
        self.reason = reason


class NavigationTimeout(TransientError):
    category = "timeout"


class PermanentError(DirectoryBoltError):
    """Retrying cannot help: plan error, selector missing, 4xx, validation."""

    category = "permanent"


class PlanError(PermanentError):
    category = "plan_error"


class EgressRefused(PlanError):
    """Our browser's egress rules refused the directory's address: a plan or a setting
    to fix, not the site's fault and not worth retrying."""

    category = "egress_refused"


class SelectorMissing(PermanentError):
    category = "selector_missing"


class SiteRejected(PermanentError):
    category = "http_4xx"


class NeedsReview(DirectoryBoltError):
    """A person must finish this one (CAPTCHA, login, form we cannot map): never a guess."""

    category = "needs_review"

    def __init__(self, message: str, *, category: str = "needs_review") -> None:
        super().__init__(message)
        self.category = category


class ServiceUnavailable(DirectoryBoltError):
    """A backing service (database or broker) did not take the work; nothing was
    accepted, so the caller may simply retry."""

    category = "unavailable"


def first_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one short line for a log line or a person: never a stack or a
    page of driver output."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:limit]
