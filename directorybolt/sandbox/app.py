"""The sandbox: local imitations of directory sign-up flows, so no test, demo or
benchmark ever contacts a real directory. It records every accepted submission so
tests can count them per (directory, business) and catch a duplicate."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from directorybolt.sandbox import pages

#: Which posted field holds the business name / email on each directory's form.
NAME_FIELDS = ("business_name", "company", "biz_name", "name", "listing_title", "f1")
EMAIL_FIELDS = ("email", "contact", "biz_email", "listing_mail", "f2")
PLAIN_LIKE = ("plain", "slow", "transient", "ratelimited", "broken")


class SandboxState:
    """Submissions and failure knobs, shared by the server's threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.submissions: list[dict[str, Any]] = []
        self.attempts: Counter[tuple[str, str]] = Counter()
        self.slow_delay = 1.0
        self.transient_failures = 1
        self.retry_after = 1
        self.broken_mode = "fail"

    def controls(self) -> dict[str, Any]:
        return {"slow_delay": self.slow_delay, "transient_failures": self.transient_failures,
                "retry_after": self.retry_after, "broken_mode": self.broken_mode}

    def attempt(self, directory: str, business: str) -> int:
        with self.lock:
            self.attempts[(directory, business.lower())] += 1
            return self.attempts[(directory, business.lower())]

    def record(self, directory: str, fields: dict[str, str]) -> str:
        business = next((fields[f] for f in NAME_FIELDS if fields.get(f)), "")
        email = next((fields[f] for f in EMAIL_FIELDS if fields.get(f)), "")
        with self.lock:
            self.submissions.append({"directory": directory, "business_name": business, "email": email,
                                     "fields": fields, "at": datetime.now(UTC).isoformat()})
        return business

    def counts(self) -> dict[str, int]:
        with self.lock:
            return dict(Counter(f"{s['directory']}|{s['business_name'].lower()}" for s in self.submissions))

    def clear(self) -> None:
        with self.lock:
            self.submissions.clear()
            self.attempts.clear()


def create_app(state: SandboxState | None = None) -> Starlette:
    state = state or SandboxState()

    def html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> HTMLResponse:
        return HTMLResponse(body, status_code=status, headers=headers)

    async def form_fields(request: Request) -> dict[str, str]:
        """Forms post urlencoded bodies; parsed here so the sandbox needs no multipart library."""
        return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))

    async def index(request: Request) -> Response:
        links = "".join(f"<li><a href='/{d}/'>{d}</a></li>" for d in
                        (*PLAIN_LIKE, "wizard", "select", "captcha", "changed", "nomap", "catalogstyle"))
        return html(pages.page("Sandbox directories", f"<ul>{links}</ul>"))

    async def plain_like_form(request: Request) -> Response:
        directory = request.url.path.strip("/").split("/")[0]
        if directory == "slow":
            await asyncio.sleep(state.slow_delay)
        return html(pages.plain_form(f"/{directory}/submit"))

    async def plain_like_submit(request: Request) -> Response:
        directory = request.url.path.strip("/").split("/")[0]
        fields = await form_fields(request)
        business = fields.get("business_name", "")
        n = state.attempt(directory, business)
        if directory == "slow":
            await asyncio.sleep(state.slow_delay)
        if directory == "transient" and n <= state.transient_failures:
            return html(pages.error_page(500, "Temporary failure, try again later"), 500)
        if directory == "ratelimited" and n == 1:
            return html(pages.error_page(429, "Too many requests"), 429, {"Retry-After": str(state.retry_after)})
        if directory == "broken" and state.broken_mode != "ok":
            return html(pages.error_page(500, "Internal server error"), 500)
        if not business:
            return html(pages.error_page(400, "Business name is required"), 400)
        return html(pages.confirmation(directory, state.record(directory, fields)))

    async def wizard(request: Request) -> Response:
        step = 1
        path = request.url.path.rstrip("/")
        if path.endswith(("step2", "step3", "step4")):
            step = int(path[-1])
        carried = await form_fields(request) if request.method == "POST" else {}
        if step == 4:
            return html(pages.confirmation("wizard", state.record("wizard", carried)))
        return html(pages.wizard_step(step, carried))

    async def select_form(request: Request) -> Response:
        return html(pages.select_form())

    async def select_submit(request: Request) -> Response:
        fields = await form_fields(request)
        if fields.get("terms") != "yes":
            return html(pages.error_page(400, "You must accept the terms"), 400)
        if fields.get("category") not in pages.CATEGORIES or fields.get("state") not in pages.STATES:
            return html(pages.error_page(400, "Choose a category and a state"), 400)
        return html(pages.confirmation("select", state.record("select", fields)))

    async def captcha_form(request: Request) -> Response:
        return html(pages.captcha_form())

    async def captcha_submit(request: Request) -> Response:
        fields = await form_fields(request)
        if not fields.get("g-recaptcha-response"):
            return html(pages.error_page(400, "Please solve the CAPTCHA"), 400)
        return html(pages.confirmation("captcha", state.record("captcha", fields)))

    def simple(directory: str, render: Any) -> tuple[Any, Any]:
        async def show(request: Request) -> Response:
            return html(render())

        async def submit(request: Request) -> Response:
            fields = await form_fields(request)
            if not any(fields.get(f) for f in NAME_FIELDS):
                return html(pages.error_page(400, "Business name is required"), 400)
            return html(pages.confirmation(directory, state.record(directory, fields)))

        return show, submit

    changed_show, changed_submit = simple("changed", pages.changed_form)
    nomap_show, nomap_submit = simple("nomap", pages.nomap_form)
    catalog_show, catalog_submit = simple("catalogstyle", pages.catalogstyle_form)

    async def submissions(request: Request) -> Response:
        wanted = request.query_params.get("directory")
        with state.lock:
            subs = [s for s in state.submissions if not wanted or s["directory"] == wanted]
        return JSONResponse({"submissions": subs, "counts": state.counts()})

    async def clear(request: Request) -> Response:
        state.clear()
        return JSONResponse({"cleared": True})

    async def control(request: Request) -> Response:
        body = await request.json()
        for key in ("slow_delay", "transient_failures", "retry_after", "broken_mode"):
            if key in body:
                setattr(state, key, type(getattr(state, key))(body[key]))
        return JSONResponse(state.controls())

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    routes = [Route("/", index), Route("/_health", health), Route("/_submissions", submissions, methods=["GET"]),
              Route("/_submissions", clear, methods=["DELETE"]), Route("/_control", control, methods=["POST"])]
    for d in (*PLAIN_LIKE, "plain-{n:int}"):
        routes += [Route(f"/{d}/", plain_like_form), Route(f"/{d}/submit", plain_like_submit, methods=["POST"])]
    routes += [
        Route("/wizard/", wizard), Route("/wizard/step{n:int}", wizard, methods=["POST"]),
        Route("/select/", select_form), Route("/select/submit", select_submit, methods=["POST"]),
        Route("/captcha/", captcha_form), Route("/captcha/submit", captcha_submit, methods=["POST"]),
        Route("/changed/", changed_show), Route("/changed/submit", changed_submit, methods=["POST"]),
        Route("/nomap/", nomap_show), Route("/nomap/submit", nomap_submit, methods=["POST"]),
        Route("/catalogstyle/", catalog_show), Route("/catalogstyle/submit", catalog_submit, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.sandbox = state
    return app
