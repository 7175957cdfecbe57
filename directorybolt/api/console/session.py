"""Who is signed in to the console, and the checks every page and form goes through.

- The session cookie (``dbolt_session``) holds a random token; the server keeps its
  hash (:mod:`directorybolt.store.staff`). HttpOnly, SameSite=Lax, and Secure when
  the request came over https (or ``console_secure_cookies``).
- Every POST carries the session's CSRF token in a hidden field, compared in constant
  time; without it: 403. The sign-in form, which has no session yet, uses a
  double-submit token (a cookie of its own plus the same value in the form).
- A page asked for without a session redirects to the sign-in page (303), keeping
  where the person wanted to go (only ever a ``/console`` path).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import quote

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from directorybolt.core.settings import get_settings
from directorybolt.store import staff as accounts
from directorybolt.store.staff import Staff

SESSION_COOKIE = "dbolt_session"
SIGNIN_CSRF_COOKIE = "dbolt_signin_csrf"
CONSOLE = "/console"


class SignInRequired(Exception):
    """Raised by :func:`current_staff`; answered with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRefused(Exception):
    """A POST without the right CSRF token: 403."""


def secure(request: Request) -> bool:
    return request.url.scheme == "https" or get_settings().console_secure_cookies


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(name, value, max_age=max_age, path=CONSOLE, httponly=True, samesite="lax",
                        secure=secure(request))


def safe_next(value: str | None) -> str:
    """Only a path inside the console (no scheme, no host, no ``//``)."""
    if value and value.startswith(CONSOLE) and not value.startswith("//") and "\\" not in value:
        return value
    return CONSOLE


async def current_staff(request: Request) -> Staff:
    """The signed-in person, or :class:`SignInRequired`."""
    found = await run_in_threadpool(accounts.session_for, request.cookies.get(SESSION_COOKIE))
    if found is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInRequired(path)
    return found


async def form_with_csrf(request: Request, staff: Staff) -> dict[str, Any]:
    """The posted form, after its CSRF token matched the session's."""
    form = dict(await request.form())
    sent = str(form.get("csrf_token", ""))
    if not sent or not hmac.compare_digest(sent.encode(), staff.csrf_token.encode()):
        raise CsrfRefused()
    return form


def signin_csrf(request: Request) -> str:
    return request.cookies.get(SIGNIN_CSRF_COOKIE) or secrets.token_urlsafe(32)


def redirect_to_sign_in(exc: SignInRequired) -> RedirectResponse:
    return RedirectResponse(f"{CONSOLE}/sign-in?next={quote(exc.next_path, safe='/')}", status_code=303)
