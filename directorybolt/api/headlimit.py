"""431 for a request head over ``MAX_HEAD_BYTES``, however it arrives.

Two places, because a head reaches the app by two roads. h11 (uvicorn's HTTP/1.1
parser) refuses a head still incomplete past ``h11_max_incomplete_event_size`` (one
sent in pieces), but uvicorn answers that with a plain 400;
:class:`HeadLimitedH11Protocol` answers it 431 with our JSON body. A head that
arrives whole in one read is parsed without that limit, so
:func:`head_bytes` measures it again from the ASGI scope, and the limits middleware
answers 431 before anything else runs.
"""

from __future__ import annotations

import json
import sys

import h11
from starlette.types import Scope
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_HEAD_BYTES = 16 * 1024
MESSAGE = f"request head too large: request line and headers together at most {MAX_HEAD_BYTES} bytes"


def head_bytes(scope: Scope) -> int:
    """Bytes of the request line and headers as sent (CRLFs and ': ' included)."""
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string", b"")
    line = len(scope["method"]) + 1 + len(raw_path) + (len(query) + 1 if query else 0) + len(" HTTP/1.1\r\n")
    return line + sum(len(k) + len(v) + 4 for k, v in scope.get("headers", [])) + 2


class HeadLimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, but the parser's "head too large" is a 431 with a JSON
    body instead of a plain-text 400."""

    def send_400_response(self, msg: str) -> None:
        exc = sys.exception()  # called from handle_events' ``except RemoteProtocolError``
        if not (isinstance(exc, h11.RemoteProtocolError) and exc.error_status_hint == 431):
            super().send_400_response(msg)
            return
        body = json.dumps({"error": MESSAGE}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        self.transport.write(self.conn.send(h11.Response(status_code=431, headers=headers,
                                                         reason=b"Request Header Fields Too Large")))
        self.transport.write(self.conn.send(h11.Data(data=body)))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self.transport.close()
