"""The console's pages (GET) and the rendering every page shares.

Templates are Jinja2 with autoescape on for every file: a business name or an error
message from a directory is text, never markup. Pages send a Content-Security-Policy
that allows only this server's own script and stylesheet (no inline script), so even
a value that slipped through escaping could not run."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader
from starlette.concurrency import run_in_threadpool

from directorybolt.api.console import views
from directorybolt.api.console.session import SESSION_COOKIE, current_staff, set_cookie, signin_csrf
from directorybolt.api.console.session import SIGNIN_CSRF_COOKIE as SIGNIN_COOKIE
from directorybolt.core.errors import DirectoryBoltError, NotFound, ValidationError
from directorybolt.core.settings import get_settings
from directorybolt.lifecycle import reviews
from directorybolt.recovery import dlq
from directorybolt.store.staff import Staff

HERE = Path(__file__).parent
STATIC = {"console.css": "text/css", "console.js": "text/javascript"}
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

_env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, trim_blocks=True,
                   lstrip_blocks=True)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = int(seconds // 60)
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60:02d} min"
    return f"{minutes} min {int(seconds % 60):02d} s" if minutes else f"{seconds:.0f} s"


_env.filters["duration"] = _duration

router = APIRouter(prefix="/console", include_in_schema=False)


def render(request: Request, template: str, staff: Staff | None, status_code: int = 200,
           **context: Any) -> HTMLResponse:
    html = _env.get_template(template).render(request=request, staff=staff, flash=request.query_params.get("msg"),
                                              tiers=get_settings().tiers_by_priority(), **context)
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


async def page(request: Request, staff: Staff, template: str, fn: Any, *args: Any, **kwargs: Any) -> HTMLResponse:
    """Run a read in a thread and render it; the library's refusals become pages."""
    try:
        context = await run_in_threadpool(fn, *args, **kwargs)
    except NotFound as exc:
        return render(request, "error.html", staff, 404, message=str(exc))
    except ValidationError as exc:
        return render(request, "error.html", staff, 422, message=str(exc))
    except DirectoryBoltError as exc:
        return render(request, "error.html", staff, 409, message=str(exc))
    return render(request, template, staff, **context)


@router.get("/static/{name}")
def static(name: str) -> Response:
    if name not in STATIC:
        return Response("not found", status_code=404)
    return FileResponse(HERE / "static" / name, media_type=STATIC[name],
                        headers={"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"})


@router.get("/sign-in")
def sign_in_page(request: Request, next: str | None = None) -> HTMLResponse:  # noqa: A002 - the query name
    token = signin_csrf(request)
    response = render(request, "sign_in.html", None, csrf_token=token, next=next or "", error=None)
    set_cookie(response, request, SIGNIN_COOKIE, token, 3600)
    return response


@router.get("")
async def dashboard(request: Request, staff: Staff = Depends(current_staff)) -> HTMLResponse:
    return await page(request, staff, "dashboard.html", lambda: {"d": views.dashboard()})


@router.get("/jobs")
async def jobs(request: Request, staff: Staff = Depends(current_staff), status: str | None = Query(None),
               tier: str | None = Query(None), customer: str | None = Query(None, max_length=200),
               page_no: int = Query(1, alias="page", ge=1, le=100_000)) -> HTMLResponse:
    filters = {"status": status or None, "tier": tier or None, "customer": (customer or "").strip() or None}
    return await page(request, staff, "jobs.html", lambda: {**views.jobs_page(**filters, page=page_no),
                                                            "filters": filters, "statuses": views.JOB_STATUSES})


@router.get("/jobs/{job_id}")
async def job(request: Request, job_id: uuid.UUID, staff: Staff = Depends(current_staff)) -> HTMLResponse:
    return await page(request, staff, "job.html", lambda: {"j": views.job_detail(job_id)})


@router.get("/jobs/{job_id}/live")
async def job_live(request: Request, job_id: uuid.UUID, staff: Staff = Depends(current_staff)) -> HTMLResponse:
    """The part of the job page that changes, polled every 2 s while the job runs."""
    return await page(request, staff, "job_live.html", lambda: {"j": views.job_detail(job_id)})


@router.get("/reviews")
async def review_queue(request: Request, staff: Staff = Depends(current_staff), tier: str | None = Query(None),
                       state: str = Query("unresolved")) -> HTMLResponse:
    return await page(request, staff, "reviews.html", lambda: {
        "items": reviews.list_items(tier=tier or None, state=state), "summary": reviews.summary(),
        "tier": tier or "", "state": state})


@router.get("/reviews/{item_id}")
async def review_item(request: Request, item_id: int, staff: Staff = Depends(current_staff)) -> HTMLResponse:
    return await page(request, staff, "review.html", lambda: {"item": reviews.get(item_id)})


@router.get("/dead-letters")
async def dead_letters(request: Request, staff: Staff = Depends(current_staff),
                       state: str = Query("open")) -> HTMLResponse:
    def read() -> dict[str, Any]:
        if state not in ("open", "replayed", "purged", "all"):
            raise ValidationError("state must be open, replayed, purged or all")
        entries = dlq.list_entries(state=None if state == "all" else state, limit=200)
        return {"entries": [dlq.as_dict(e) for e in entries], "state": state, "open": dlq.open_count()}

    return await page(request, staff, "dead_letters.html", read)


@router.get("/dead-letters/{entry_id}")
async def dead_letter(request: Request, entry_id: int, staff: Staff = Depends(current_staff),
                      confirm: str | None = Query(None)) -> HTMLResponse:
    action = confirm if confirm in ("replay", "purge") else None
    return await page(request, staff, "dead_letter.html",
                      lambda: {"e": dlq.as_dict(dlq.get(entry_id), full=True), "confirm": action})


@router.get("/workers")
async def workers(request: Request, staff: Staff = Depends(current_staff)) -> HTMLResponse:
    return await page(request, staff, "workers.html", lambda: {"workers": views.workers()})


@router.get("/screenshots/{result_id}")
async def screenshot(request: Request, result_id: int, staff: Staff = Depends(current_staff)) -> Response:
    try:
        path = await run_in_threadpool(views.screenshot_file, result_id)
    except NotFound as exc:
        return render(request, "error.html", staff, 404, message=str(exc))
    return FileResponse(path, media_type="image/png", headers={"Cache-Control": "private, max-age=60",
                                                               "X-Content-Type-Options": "nosniff"})


__all__ = ["router", "render", "SESSION_COOKIE"]
