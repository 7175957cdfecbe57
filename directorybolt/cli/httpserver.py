"""The API's HTTP/1.1 protocol: uvicorn's h11 one, but a request head that h11 finds
too large (one sent in pieces, past ``h11_max_incomplete_event_size``) is answered
431 with a JSON body instead of uvicorn's plain-text 400. A head that arrives whole
is measured by the app (``directorybolt.api.headlimit``). Module level, so uvicorn
can hand the class to worker processes it spawns."""

from __future__ import annotations

import json
import sys

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from directorybolt.core.settings import get_settings


class HeadLimitedH11Protocol(H11Protocol):
    def send_400_response(self, msg: str) -> None:
        exc = sys.exception()  # called from handle_events' ``except RemoteProtocolError``
        if not (isinstance(exc, h11.RemoteProtocolError) and exc.error_status_hint == 431):
            super().send_400_response(msg)
            return
        limit = get_settings().api_max_head_bytes
        body = json.dumps({"error": f"request head too large: request line and headers together at most "
                                    f"{limit} bytes"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        self.transport.write(self.conn.send(h11.Response(status_code=431, headers=headers,
                                                         reason=b"Request Header Fields Too Large")))
        self.transport.write(self.conn.send(h11.Data(data=body)))
        self.transport.write(self.conn.send(h11.EndOfMessage()))
        self.transport.close()
