"""Serving the sandbox: in a background thread for tests and the demo, or in the foreground."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import httpx
import uvicorn

from directorybolt.sandbox.app import SandboxState, create_app


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class SandboxServer:
    """``with SandboxServer(port=0) as sb: sb.url`` — a real HTTP server on 127.0.0.1."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = port or _free_port(host)
        self.state = SandboxState()
        config = uvicorn.Config(create_app(self.state), host=host, port=self.port, log_level="warning",
                                lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="sandbox", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __enter__(self) -> SandboxServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/_health", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"sandbox did not start on {self.url}")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.should_exit = True
        self._thread.join(10)


def serve(host: str, port: int) -> None:
    uvicorn.run(create_app(), host=host, port=port, log_level="info")
