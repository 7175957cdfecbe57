"""The sandbox app: local imitations of directory sign-up flows, so no test, demo or
benchmark ever contacts a real directory.

It records every accepted submission, so tests can count them per (directory,
business) and catch a duplicate, and it counts every attempt, failed ones too.

The failing flows (transient 500s, a 429 on the first try, a broken site) fail where
``fail_at`` says: ``page`` (default) when the form page is loaded, so the failure
comes before the form is sent and a retry is safe, counted per directory; ``submit``
when the form is posted, counted per listing, so a test can make the site fail after
the form was sent (an ambiguous outcome that must never be re-sent automatically).
Knobs are set at run time through ``POST /_control``, so one server serves a whole
test session.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from directorybolt.sandbox import pages
from directorybolt.sandbox.catalog import DIRECTORY_NAMES

#: Flows that show the plain form; they differ only in how the POST answers.
PLAIN_LIKE: tuple[str, ...] = ("plain", "slow", "transient", "ratelimited", "broken")

#: Per flow: the posted names of (business name, email), then the names the server requires.
FORM_KEYS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    **{flow: ("business_name", "email", ("business_name", "email")) for flow in (*PLAIN_LIKE, "snoop")},
    "wizard": ("company", "contact", ("company", "contact")),
    "select": ("biz_name", "biz_email", ("biz_name", "biz_email")),
    "captcha": ("name", "email", ("name", "email")),
    "changed": ("listing_title", "listing_mail", ("listing_title", "listing_mail")),
    "nomap": ("entry.1001", "entry.1002", ("entry.1001", "entry.1002")),
    "catalogstyle": ("business_name", "email", ("business_name",)),
}

Handler = Callable[[Request], Awaitable[Response]]
#: The attempt counter of a failing flow's form page (``fail_at = "page"``) is kept
#: under this name in place of a business name.
PAGE_LOAD = "(page)"


class SandboxState:
    """Submissions, attempt counters and failure knobs.

    Shared between the server's event loop and the thread of a test that holds
    :attr:`SandboxServer.state <directorybolt.sandbox.server.SandboxServer.state>`,
    hence every read-modify-write under :attr:`lock`.
    """

    def __init__(self, *, slow_delay: float = 1.0, transient_failures: int = 1, retry_after: int = 1,
                 broken_mode: str = "fail", fail_at: str = "page") -> None:
        self.lock = threading.Lock()
        self.submissions: list[dict[str, Any]] = []
        self.attempts: Counter[tuple[str, str]] = Counter()
        self.slow_delay = slow_delay
        self.transient_failures = transient_failures
        self.retry_after = retry_after
        self.broken_mode = broken_mode
        self.fail_at = fail_at

    def controls(self) -> dict[str, Any]:
        with self.lock:
            return {"slow_delay": self.slow_delay, "transient_failures": self.transient_failures,
                    "retry_after": self.retry_after, "broken_mode": self.broken_mode, "fail_at": self.fail_at}

    def set_controls(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Apply the given knobs, all or none: a typo must fail loudly, not leave a test
        running against defaults it did not ask for. Raises ValueError with the reason."""
        checked: dict[str, Any] = {}
        for key, value in values.items():
            choices = {"broken_mode": ("fail", "ok"), "fail_at": ("page", "submit")}
            if key in choices:
                if value not in choices[key]:
                    raise ValueError(f"{key} must be one of {', '.join(choices[key])}")
                checked[key] = value
                continue
            limits = {"slow_delay": (float, 60), "transient_failures": (int, 1000), "retry_after": (int, 3600)}
            if key not in limits:
                raise ValueError(f"unknown control {key!r}; known: broken_mode, fail_at, {', '.join(limits)}")
            kind, top = limits[key]
            ok_type = isinstance(value, int | float) if kind is float else isinstance(value, int)
            if isinstance(value, bool) or not ok_type or not 0 <= value <= top:
                raise ValueError(f"{key} must be {'a number' if kind is float else 'an integer'} from 0 to {top}")
            checked[key] = kind(value)
        with self.lock:
            for key, value in checked.items():
                setattr(self, key, value)
        return self.controls()

    def attempt(self, directory: str, business: str) -> int:
        """Count one POST of a listing (accepted or not); returns the count so far."""
        key = (directory, business.strip().lower())
        with self.lock:
            self.attempts[key] += 1
            return self.attempts[key]

    def record(self, directory: str, business: str, email: str, fields: dict[str, str]) -> None:
        entry = {"directory": directory, "business_name": business, "email": email, "fields": dict(fields),
                 "at": datetime.now(UTC).isoformat()}
        with self.lock:
            self.submissions.append(entry)

    def recorded(self, directory: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(s) for s in self.submissions if directory is None or s["directory"] == directory]

    def counts(self, directory: str | None = None) -> dict[str, int]:
        """Accepted submissions per ``"<directory>|<business name, lower-cased>"``."""
        return dict(Counter(f"{s['directory']}|{s['business_name'].strip().lower()}" for s in self.recorded(directory)))

    def attempt_counts(self, directory: str | None = None) -> dict[str, int]:
        with self.lock:
            return {f"{d}|{b}": n for (d, b), n in self.attempts.items() if directory is None or d == directory}

    def clear(self) -> None:
        with self.lock:
            self.submissions.clear()
            self.attempts.clear()


async def _posted(request: Request) -> dict[str, str]:
    """The urlencoded body of a form POST, parsed here so the sandbox needs no multipart library."""
    return dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))


def _html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=headers)


def create_app(state: SandboxState | None = None) -> Starlette:
    """The sandbox as an ASGI app; ``state`` is shared with the caller when given."""
    state = state or SandboxState()

    def title(directory: str) -> str:
        if directory == "snoop":
            return "Snooping Directory"
        flow = directory.split("-")[0]
        return DIRECTORY_NAMES.get(directory) or f"{DIRECTORY_NAMES[flow]} {directory.rsplit('-', 1)[-1]}"

    def error(directory: str, status: int, message: str, headers: dict[str, str] | None = None) -> HTMLResponse:
        return _html(pages.error_page(f"{title(directory)} — error", status, message), status, headers)

    def rejection(flow: str, fields: dict[str, str]) -> str | None:
        """Why the site refuses this POST (answered 400), or None when it accepts it."""
        missing = [k for k in FORM_KEYS[flow][2] if not fields.get(k, "").strip()]
        if missing:
            return f"Please fill in: {', '.join(missing)}"
        if flow == "select":
            if fields.get("terms") != "yes":
                return "You must accept the terms of service"
            if fields.get("category") not in pages.CATEGORIES or fields.get("state") not in pages.STATES:
                return "Choose a category and a state"
        if flow == "captcha" and not fields.get("g-recaptcha-response", "").strip():
            return "Please prove you are not a robot"
        return None

    def failure(directory: str, flow: str, n: int) -> Response | None:
        """The flow's injected failure for its ``n``-th attempt, if any."""
        if flow == "transient" and n <= state.transient_failures:
            return error(directory, 500, "Temporary failure, please try again later")
        if flow == "ratelimited" and n == 1:
            return error(directory, 429, "Too many requests", {"Retry-After": str(state.retry_after)})
        if flow == "broken" and state.broken_mode != "ok":
            return error(directory, 500, "Internal server error")
        return None

    async def accept(directory: str, flow: str, fields: dict[str, str]) -> Response:
        """The final POST of every flow: count it, inject the flow's failure, validate, record."""
        name_key, email_key, _ = FORM_KEYS[flow]
        business = fields.get(name_key, "").strip()
        n = state.attempt(directory, business)
        if flow == "slow":
            await asyncio.sleep(state.slow_delay)
        failed = failure(directory, flow, n) if state.fail_at == "submit" else None
        if failed is not None:
            return failed
        reason = rejection(flow, fields)
        if reason:
            return error(directory, 400, reason)
        state.record(directory, business, fields.get(email_key, "").strip(), fields)
        return _html(pages.confirmation(f"{title(directory)} — listing received", business,
                                        thank_you=flow == "catalogstyle"))

    def plain_like(flow: str) -> tuple[Handler, Handler]:
        """Form and submit handlers of a plain-form flow; a clone's id comes from the path."""

        def directory_of(request: Request) -> str:
            n = request.path_params.get("n")
            return flow if n is None else f"{flow}-{n}"

        async def show(request: Request) -> Response:
            if flow == "slow":
                await asyncio.sleep(state.slow_delay)
            directory = directory_of(request)
            if state.fail_at == "page" and flow in ("transient", "ratelimited", "broken"):
                failed = failure(directory, flow, state.attempt(directory, PAGE_LOAD))
                if failed is not None:
                    return failed
            return _html(pages.plain_form(title(directory), f"/{directory}/submit"))

        async def submit(request: Request) -> Response:
            return await accept(directory_of(request), flow, await _posted(request))

        return show, submit

    def simple(flow: str, render: Callable[[str], str]) -> tuple[Handler, Handler]:
        async def show(request: Request) -> Response:
            return _html(render(title(flow)))

        async def submit(request: Request) -> Response:
            return await accept(flow, flow, await _posted(request))

        return show, submit

    async def wizard_start(request: Request) -> Response:
        return _html(pages.wizard_step(title("wizard"), 1, {}))

    def wizard_step(step: int) -> Handler:
        """Steps 2 and 3 check the previous step and carry every earlier answer forward."""

        async def show(request: Request) -> Response:
            posted = await _posted(request)
            earlier = [k for s in range(1, step) for k in pages.WIZARD_FIELDS[s]]
            if step == 2 and not all(posted.get(k, "").strip() for k in earlier):
                return error("wizard", 400, "Please fill in your company and contact email")
            carried = {k: posted.get(k, "") for k in earlier}
            return _html(pages.wizard_step(title("wizard"), step, carried))

        return show

    async def wizard_submit(request: Request) -> Response:
        return await accept("wizard", "wizard", await _posted(request))

    async def index(request: Request) -> Response:
        return _html(pages.index_page(DIRECTORY_NAMES))

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def submissions(request: Request) -> Response:
        wanted = request.query_params.get("directory") or None
        return JSONResponse({"submissions": state.recorded(wanted), "counts": state.counts(wanted),
                             "attempts": state.attempt_counts(wanted)})

    async def clear(request: Request) -> Response:
        state.clear()
        return JSONResponse({"cleared": True})

    async def control(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(state.controls())
        try:
            body = json.loads(await request.body() or b"{}")
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            return JSONResponse(state.set_controls(body))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            return JSONResponse({"error": str(exc), "controls": state.controls()}, status_code=400)

    routes = [
        Route("/", index),
        Route("/_health", health),
        Route("/_submissions", submissions, methods=["GET"]),
        Route("/_submissions", clear, methods=["DELETE"]),
        Route("/_control", control, methods=["GET", "POST"]),
    ]
    for flow in PLAIN_LIKE:
        show, submit = plain_like(flow)
        routes += [Route(f"/{flow}/", show), Route(f"/{flow}/submit", submit, methods=["POST"])]
    clone_show, clone_submit = plain_like("plain")
    routes += [Route("/plain-{n:int}/", clone_show), Route("/plain-{n:int}/submit", clone_submit, methods=["POST"])]
    routes += [
        Route("/wizard/", wizard_start),
        Route("/wizard/step2", wizard_step(2), methods=["POST"]),
        Route("/wizard/step3", wizard_step(3), methods=["POST"]),
        Route("/wizard/submit", wizard_submit, methods=["POST"]),
    ]
    renders: dict[str, Callable[[str], str]] = {
        "select": pages.select_form, "captcha": pages.captcha_form, "changed": pages.changed_form,
        "nomap": pages.nomap_form, "catalogstyle": pages.catalogstyle_form,
    }
    for flow, render in renders.items():
        show, submit = simple(flow, render)
        routes += [Route(f"/{flow}/", show), Route(f"/{flow}/submit", submit, methods=["POST"])]

    async def snoop_show(request: Request) -> Response:
        """Not in the catalog: the egress test's page, probing the URLs in ``?probe=``."""
        return _html(pages.snooping_form(title("snoop"), "/snoop/submit", request.query_params.getlist("probe")))

    async def snoop_submit(request: Request) -> Response:
        return await accept("snoop", "snoop", await _posted(request))

    routes += [Route("/snoop/", snoop_show), Route("/snoop/submit", snoop_submit, methods=["POST"])]
    app = Starlette(routes=routes)
    app.state.sandbox = state
    return app
