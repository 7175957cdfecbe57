"""431 for a request head over ``api_max_head_bytes`` (16 KiB), however it arrives.

Two places, because a head reaches the app by two roads. h11 (uvicorn's HTTP/1.1
parser) refuses a head still incomplete past ``h11_max_incomplete_event_size`` (one
sent in pieces), but uvicorn answers that with a plain 400; the server's protocol
(``directorybolt.cli.api.HeadLimitedH11Protocol``) answers it 431 with our JSON body.
A head that arrives whole in one read is parsed without that limit, so
:func:`head_bytes` measures it again from the ASGI scope, and the limits middleware
answers 431 before anything else runs.
"""

from __future__ import annotations

from starlette.types import Scope


def too_large(limit: int) -> str:
    return f"request head too large: request line and headers together at most {limit} bytes"


def head_bytes(scope: Scope) -> int:
    """Bytes of the request line and headers as sent (CRLFs and ': ' included)."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string", b"")
    line = len(scope["method"]) + 1 + len(raw_path) + (len(query) + 1 if query else 0) + len(" HTTP/1.1\r\n")
    return line + sum(len(k) + len(v) + 4 for k, v in scope.get("headers", [])) + 2
