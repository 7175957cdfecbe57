"""The staff console at ``/console``: server-rendered pages in the API's own FastAPI
app (Jinja2 templates, plain forms, one small script file, no build step). See
docs/console.md."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from directorybolt.api.console import actions, pages
from directorybolt.api.console.session import CsrfRefused, SignInRequired, redirect_to_sign_in

ROUTERS = (pages.router, actions.router)


async def _sign_in_first(request: Request, exc: Exception) -> RedirectResponse:
    assert isinstance(exc, SignInRequired)
    return redirect_to_sign_in(exc)


async def _csrf_refused(request: Request, exc: Exception) -> HTMLResponse:
    return pages.render(request, "error.html", None, 403,
                        message="This form was sent without its security token (CSRF). Reload the page and "
                                "try again.")


def install(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(SignInRequired, _sign_in_first)
    app.add_exception_handler(CsrfRefused, _csrf_refused)
