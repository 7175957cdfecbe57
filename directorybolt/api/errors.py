"""One error shape for every failure: ``{"error": "<what to do>", ...}``.

Library errors keep their meaning over HTTP (ValidationError 422, NotFound 404,
ConflictError 409); a database or broker that does not answer is a 503 the client
may retry, not a 500; anything else is a 500 that carries a request id and no
stack trace, and is logged once here with that id so an operator can find it.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from directorybolt.api.routing import allowed_methods
from directorybolt.core.errors import (
    ConfigurationError,
    ConflictError,
    DirectoryBoltError,
    NotFound,
    ServiceUnavailable,
    ValidationError,
    first_line,
)
from directorybolt.core.retries import SERVICE_ERRORS

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: Seconds a client should wait before retrying when a backing service is down.
SERVICE_RETRY_AFTER_S = 5

class FieldError(BaseModel):
    field: str
    message: str
    type: str


class ErrorBody(BaseModel):
    """Every answer that is not a success."""

    error: str = Field(description="What went wrong and what to do about it.")
    details: list[FieldError] | None = Field(default=None, description="One entry per invalid field (422).")
    retry_after: int | None = Field(default=None, description="Seconds, as in Retry-After (429).")
    request_id: str | None = Field(default=None, description="Quote it to an operator (500).")


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


#: What any route can answer before it runs: the request's own size and shape.
LIMIT_ERRORS: dict[int | str, dict[str, Any]] = {
    413: _error("body too large"),
    414: _error("URL too long"),
    415: _error("body is not JSON"),
    431: _error("request line and headers too large (over 16 KiB)"),
    500: _error("internal error; `request_id` identifies it in the logs"),
}

#: The failures every authenticated route can answer with, for the OpenAPI schema.
ERRORS: dict[int | str, dict[str, Any]] = {
    401: _error("missing or invalid API key"),
    403: _error("the key's role may not use this route"),
    **LIMIT_ERRORS,
    422: _error("invalid input; `details` lists each field"),
    429: _error("rate limit exceeded; see Retry-After"),
    503: _error("database or broker unavailable; retry after Retry-After"),
}



_LIBRARY_STATUS: dict[type[DirectoryBoltError], int] = {
    ValidationError: 422,
    NotFound: 404,
    ConflictError: 409,
    ConfigurationError: 503,
    ServiceUnavailable: 503,
}


class ApiError(Exception):
    """Raised by routes and dependencies for an answer that is not a success."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        self.extra = extra


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status, headers=dict(headers or {}))


async def send_error(send: Send, status: int, message: str, headers: Mapping[str, str] | None = None,
                     **extra: Any) -> None:
    """Answer from a pure ASGI middleware, before any route runs."""
    body = json.dumps({"error": message, **extra}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def request_id(scope: Scope) -> str:
    return str(scope.get("state", {}).get("request_id", ""))


def readable_validation(errors: list[Any]) -> list[dict[str, str]]:
    """Where and what, without echoing the input back (it may be megabytes)."""
    out = []
    for e in errors:
        loc = ".".join(str(p) for p in e.get("loc", ())) or "body"
        message = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        out.append({"field": loc, "message": message, "type": str(e.get("type", ""))})
    return out


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.message, exc.headers, **exc.extra)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:  # FastAPI: a body json cannot read (bad UTF-8, too deep, huge numbers)
        return error_response(422, "invalid request: the body is not valid JSON (check its encoding, nesting "
                              "and number sizes)", details=[{"field": "body", "message": "not valid JSON",
                                                              "type": "json_invalid"}])
    message = {404: "no such route", 405: "method not allowed on this route"}.get(exc.status_code, str(exc.detail))
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request.scope))
    return error_response(exc.status_code, message, headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = readable_validation(list(exc.errors()))
    summary = "; ".join(f"{d['field']}: {d['message']}" for d in details[:5])
    return error_response(422, f"invalid request: {summary}", details=details)


async def _library_error(request: Request, exc: Exception) -> JSONResponse:
    for cls in type(exc).__mro__:
        if cls in _LIBRARY_STATUS:
            status = _LIBRARY_STATUS[cls]
            headers = {"Retry-After": str(SERVICE_RETRY_AFTER_S)} if status == 503 else None
            job_id = getattr(exc, "job_id", None)
            extra = {"job_id": str(job_id)} if job_id is not None else {}
            return error_response(status, str(exc), headers, **extra)
    return _internal(request.scope, exc)


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    """A value the database refused (too long for its column, out of range): the
    input's fault, so a 422; the statement and its parameters stay out of the answer."""
    log.warning("database refused a value in %s %s: %s", request.method, request.url.path, first_line(exc))
    return error_response(422, "a value is too long or out of range for what it is stored in")


async def _service_down(request: Request, exc: Exception) -> JSONResponse:
    log.warning("service unavailable during %s %s: %s", request.method, request.url.path, first_line(exc))
    return error_response(
        503, "a backing service (database or broker) is unavailable; retry shortly",
        {"Retry-After": str(SERVICE_RETRY_AFTER_S)},
    )




def _internal(scope: Scope, exc: BaseException) -> JSONResponse:
    rid = request_id(scope)
    log.error("unhandled error in %s %s (request %s)", scope.get("method"), scope.get("path"), rid, exc_info=exc)
    _report(exc)
    return error_response(500, "internal error", {"X-Request-ID": rid}, request_id=rid)


def _report(exc: BaseException) -> None:
    from directorybolt.ops.sentry import init_sentry

    if init_sentry("api"):
        import sentry_sdk

        sentry_sdk.capture_exception(exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DirectoryBoltError, _library_error)
    app.add_exception_handler(sqlalchemy.exc.DataError, _data_error)
    for cls in SERVICE_ERRORS:
        app.add_exception_handler(cls, _service_down)


def handler_for(app: Any, exc: Exception) -> Callable[[Request, Exception], Awaitable[Response]] | None:
    """The app's exception handler for ``exc`` (by class, most specific first), for
    middleware that runs outside the router's own error handling."""
    handlers = getattr(app, "exception_handlers", {}) or {}
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    return None


class ErrorMiddleware:
    """Gives every request an id (echoed in ``X-Request-ID``) and turns an exception no
    handler claimed into a 500 JSON body. Pure ASGI, so a streamed body stays streamed.

    Starlette would send its own plain-text 500 from its outermost layer and log the
    traceback without our request id; catching here logs it once, with the id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        rid = incoming if incoming and _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if started:  # too late for a clean answer: let the server drop the connection
                raise
            response = _internal(scope, exc)
            await response(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", []):
        if k == name:
            return v.decode("latin-1")
    return None
