"""Request head size, body size, URL length and content type, enforced before any
route runs (and before authentication: they cost nothing to check).

Pure ASGI on purpose: Starlette's BaseHTTPMiddleware and a route's ``await
request.body()`` both buffer a body whole, so a 2 GB upload would sit in memory
before anyone looked at its size. Here a declared ``Content-Length`` over the limit
is refused without reading a byte, and a chunked body is counted as it streams in
and cut off the moment it passes the limit.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from directorybolt.api.errors import send_error
from directorybolt.api.headlimit import head_bytes, too_large
from directorybolt.core.settings import get_settings

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class _BodyTooLarge(Exception):
    """Stops the route's read; the middleware answers 413 in its place."""


def is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


#: The staff console's pages post plain HTML forms; everything else speaks JSON.
FORM_PREFIX = "/console/"


def is_form(content_type: str, path: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return path.startswith(FORM_PREFIX) and media == "application/x-www-form-urlencoded"


class RequestLimitsMiddleware:
    """431 for a large head, 414 for a long URL, 413 for a large body (declared or
    streamed), 415 for a body that is not JSON. Limits come from settings
    (``api_max_url_chars``, ``api_max_body_bytes``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        s = get_settings()
        if head_bytes(scope) > s.api_max_head_bytes:
            await send_error(send, 431, too_large(s.api_max_head_bytes), {"Connection": "close"})
            return
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        url_chars = len(raw_path) + (len(query) + 1 if query else 0)
        if url_chars > s.api_max_url_chars:
            await send_error(send, 414, f"URL too long: {url_chars} characters, at most {s.api_max_url_chars}")
            return

        length_header = content_type = None
        chunked = False
        for k, v in scope.get("headers", []):
            if k == b"content-length":
                length_header = v
            elif k == b"content-type":
                content_type = v.decode("latin-1")
            elif k == b"transfer-encoding" and b"chunked" in v.lower():
                chunked = True
        declared = 0
        if length_header is not None:
            try:
                declared = int(length_header)
            except ValueError:
                await send_error(send, 400, "Content-Length is not a number")
                return
        limit = s.api_max_body_bytes
        if declared > limit:
            await send_error(send, 413, _too_large(limit), {"Connection": "close"})
            return
        has_body = declared > 0 or chunked
        if scope["method"] in BODY_METHODS and (
            (content_type is not None and not is_json(content_type) and not is_form(content_type, scope["path"]))
            or (content_type is None and has_body)
        ):
            await send_error(send, 415, f"send the body as application/json (got {content_type or 'no content type'})")
            return
        await self._counted(scope, receive, send, limit)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        received = 0
        too_large = False
        answered = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal answered
            if too_large:  # whatever the route made of the cut-off read, the answer is 413
                return
            answered = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _BodyTooLarge:
            pass
        if too_large and not answered:
            await send_error(send, 413, _too_large(limit), {"Connection": "close"})


def _too_large(limit: int) -> str:
    return f"request body too large: at most {limit} bytes"
