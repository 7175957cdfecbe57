"""Serving the sandbox: in a background thread for tests, the demo and the benchmarks,
or in the foreground for ``directorybolt sandbox``."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from types import TracebackType

import httpx
import uvicorn

from directorybolt.sandbox.app import SandboxState, create_app

ALLOW_ENV = "DIRECTORYBOLT_BROWSER_ALLOWED_ORIGINS"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


def allowed_origins_with(current: str | None, origin: str) -> str:
    """The JSON list in ``current`` (the setting's environment form) plus ``origin``."""
    origins = json.loads(current) if current else []
    return json.dumps([*origins, origin] if origin not in origins else origins)


class SandboxServer:
    """A real HTTP server for the sandbox, on 127.0.0.1, in a background thread::

        with SandboxServer(port=0) as sandbox:
            httpx.get(f"{sandbox.url}/plain/")
            sandbox.state.submissions

    The socket is bound here, before uvicorn starts, so ``port=0`` picks a free port
    without the race of probing for one and binding it later. ``__enter__`` returns
    only once ``/_health`` answers; a server is started once.
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1", state: SandboxState | None = None) -> None:
        self.host = host
        self.port = port
        self.state = state or SandboxState()
        config = uvicorn.Config(create_app(self.state), log_level="warning", access_log=False, lifespan="off",
                                timeout_graceful_shutdown=2)
        self._server = uvicorn.Server(config)
        self._socket: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def origin(self) -> str:
        return f"{self.host}:{self.port}"

    def allow_browser(self) -> None:
        """Let our browser reach this server (on loopback, so refused by default) from
        this process and the workers it starts: add it to
        ``DIRECTORYBOLT_BROWSER_ALLOWED_ORIGINS``. The demo and the benchmarks call this;
        tests set the variable through their fixture."""
        from directorybolt.core.settings import reload_settings

        os.environ[ALLOW_ENV] = allowed_origins_with(os.environ.get(ALLOW_ENV), self.origin)
        reload_settings()

    def _run(self) -> None:
        try:
            self._server.run(sockets=[self._socket] if self._socket else None)
        except BaseException as exc:  # reported by __enter__ rather than lost in the thread
            self._error = exc

    def __enter__(self) -> SandboxServer:
        if self._thread is not None:
            raise RuntimeError("a SandboxServer is started once; create a new one")
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections only when the
        # listening socket says TCP, and without it every response waits ~40 ms on delayed ACKs.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((self.host, self.port))
        except OSError:
            self._socket.close()
            raise
        self.port = self._socket.getsockname()[1]
        self._thread = threading.Thread(target=self._run, name=f"sandbox:{self.port}", daemon=True)
        self._thread.start()
        try:
            self._wait_until_answering()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        # trust_env=False: a proxy configured in the environment must not see 127.0.0.1 traffic.
        with httpx.Client(trust_env=False, timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self._thread is None or not self._thread.is_alive():
                    raise RuntimeError(f"sandbox on {self.url} stopped while starting: {self._error!r}")
                if self._server.started:
                    try:
                        if client.get(f"{self.url}/_health").status_code == 200:
                            return
                    except httpx.HTTPError:
                        pass
                time.sleep(0.02)
        raise RuntimeError(f"sandbox did not answer on {self.url} within {START_TIMEOUT_S:.0f} s")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
            if self._thread.is_alive():  # a request still sleeping past the graceful timeout
                self._server.force_exit = True
                self._thread.join(STOP_TIMEOUT_S)
        if self._socket is not None:
            self._socket.close()


def serve(host: str, port: int) -> None:
    """Serve the sandbox in the foreground until interrupted (``directorybolt sandbox``)."""
    uvicorn.run(create_app(), host=host, port=port, log_level="info")
