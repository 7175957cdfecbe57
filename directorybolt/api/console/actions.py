"""The console's forms (POST): sign in and out, claim/release/resolve a review item,
replay or purge a dead letter. Each checks the CSRF token first, calls the same
library functions as the CLI and the API, then redirects (post/redirect/get) with a
short message; a refusal (409, 422) comes back as that message, not as a traceback."""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from directorybolt.api import ratelimit
from directorybolt.api.console.pages import render
from directorybolt.api.console.session import (
    CONSOLE,
    SESSION_COOKIE,
    SIGNIN_CSRF_COOKIE,
    CsrfRefused,
    current_staff,
    form_with_csrf,
    safe_next,
    set_cookie,
)
from directorybolt.api.errors import ApiError
from directorybolt.core.errors import DirectoryBoltError
from directorybolt.core.settings import get_settings
from directorybolt.lifecycle import reviews
from directorybolt.queueing.dispatch import HANDOFF
from directorybolt.recovery import dlq
from directorybolt.store import staff as accounts
from directorybolt.store.staff import Staff

router = APIRouter(prefix="/console", include_in_schema=False)


def _back(path: str, message: str) -> RedirectResponse:
    return RedirectResponse(f"{path}?msg={quote(message[:300])}", status_code=303)


@router.post("/sign-in")
async def sign_in(request: Request) -> Response:
    form = dict(await request.form())
    sent, cookie = str(form.get("csrf_token", "")), request.cookies.get(SIGNIN_CSRF_COOKIE, "")
    if not sent or not cookie or not hmac.compare_digest(sent.encode(), cookie.encode()):
        raise CsrfRefused()
    name, password = str(form.get("name", ""))[:120], str(form.get("password", ""))[:1000]
    target = safe_next(str(form.get("next", "")))

    def again(status: int, error: str) -> HTMLResponse:
        return render(request, "sign_in.html", None, status, csrf_token=cookie, next=target, error=error)

    s = get_settings()
    try:
        await ratelimit.enforce(s.console_signin_rate, "POST /console/sign-in", "ip",
                                ratelimit.client_ip(request.scope))
    except ApiError as exc:
        response = again(429, f"Too many sign-in attempts; try again in {exc.extra.get('retry_after', 60)} s.")
        response.headers.update(exc.headers)
        return response
    signed = await run_in_threadpool(accounts.sign_in, name, password, s.console_session_s)
    if signed is None:
        return again(401, "Wrong name or password.")
    token, _ = signed
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, request, SESSION_COOKIE, token, s.console_session_s)
    response.delete_cookie(SIGNIN_CSRF_COOKIE, path=CONSOLE)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, staff: Staff = Depends(current_staff)) -> Response:
    await form_with_csrf(request, staff)
    await run_in_threadpool(accounts.sign_out, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse(f"{CONSOLE}/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=CONSOLE)
    return response


async def _act(back: str, fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, str | None]:
    try:
        return await run_in_threadpool(lambda: fn(*args, **kwargs)), None
    except DirectoryBoltError as exc:
        return None, str(exc)


@router.post("/reviews/{item_id}/claim")
async def claim(request: Request, item_id: int, staff: Staff = Depends(current_staff)) -> Response:
    await form_with_csrf(request, staff)
    back = f"{CONSOLE}/reviews/{item_id}"
    _, error = await _act(back, reviews.claim, item_id, staff.name)
    return _back(back, error or f"You hold this item for {get_settings().review_lease_s // 60} minutes.")


@router.post("/reviews/{item_id}/release")
async def release(request: Request, item_id: int, staff: Staff = Depends(current_staff)) -> Response:
    await form_with_csrf(request, staff)
    back = f"{CONSOLE}/reviews/{item_id}"
    _, error = await _act(back, reviews.release, item_id, staff.name)
    return _back(back, error or "Released: back in the queue.")


def _send(job_id: Any, directory_ids: list[str], queue: str) -> int:
    return HANDOFF.send_submissions(job_id, directory_ids, queue)


@router.post("/reviews/{item_id}/resolve")
async def resolve(request: Request, item_id: int, staff: Staff = Depends(current_staff)) -> Response:
    form = await form_with_csrf(request, staff)
    back = f"{CONSOLE}/reviews/{item_id}"
    done, error = await _act(back, reviews.resolve, item_id, staff.name, str(form.get("resolution", "")),
                             evidence_url=str(form.get("evidence_url", "")) or None,
                             note=str(form.get("note", "")) or None, send=_send)
    if error:
        return _back(back, error)
    msg = f"Resolved as {done.item['resolution']}; the job is {done.job_status}."
    return _back(back, msg + (" Sent back to the workers." if done.queued else ""))


@router.post("/dead-letters/{entry_id}/{action}")
async def dead_letter_action(request: Request, entry_id: int, action: str,
                             staff: Staff = Depends(current_staff)) -> Response:
    form = await form_with_csrf(request, staff)
    back = f"{CONSOLE}/dead-letters/{entry_id}"
    if action not in ("replay", "purge"):
        return _back(back, f"unknown action {action!r}")
    if form.get("confirmed") != "yes":
        return RedirectResponse(f"{back}?confirm={action}", status_code=303)
    if action == "replay":
        _, error = await _act(back, dlq.replay, entry_id, HANDOFF, force=form.get("force") == "yes")
    else:
        _, error = await _act(back, dlq.purge, entry_id, HANDOFF)
    return _back(back, error or f"Dead letter {entry_id} {'replayed' if action == 'replay' else 'purged'} "
                                f"by {staff.name}.")
