"""Serving test pages on loopback to a browser that cannot leave it.

``PageServer`` serves a folder (the real forms in ``../shared/data/realforms/``) and
pages written by a test, and records what it was sent. ``offline_context`` gives a
browser context in which every request to a host other than loopback is aborted (the
real forms load CDN scripts and one posts to a third-party form service), and records
the aborted ones so a test can prove nothing left the machine.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parents[3]
LOOPBACK = ("127.0.0.1", "localhost", "[::1]", "::1")
THANKS = b"<!doctype html><title>ok</title><h1 class='done'>Thank you, your listing was received.</h1>"
CHROMIUM = "/usr/bin/chromium"
#: Besides route(): no name resolves but loopback, so not even a preconnect leaves.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--dns-prefetch-disable",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"]


def realforms_dir() -> Path | None:
    """``DIRECTORYBOLT_REALFORMS_DIR``, else ``../shared/data/realforms/`` beside the repository."""
    env = os.environ.get("DIRECTORYBOLT_REALFORMS_DIR")
    path = Path(env) if env else ROOT.parent / "shared" / "data" / "realforms"
    return path if (path / "FORMS.md").is_file() else None


@dataclass
class PageServer:
    folder: Path | None = None
    pages: dict[str, str] = field(default_factory=dict)
    posts: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        outer = self

        class Handler(SimpleHTTPRequestHandler):
            def __init__(self, *args: Any, **kw: Any) -> None:
                super().__init__(*args, directory=str(outer.folder or ROOT / "tests"), **kw)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                path = urlsplit(self.path).path
                if path in outer.pages:
                    return self._send(outer.pages[path].encode())
                if outer.folder is None:
                    return self.send_error(404)
                return super().do_GET()

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
                outer.posts.append((urlsplit(self.path).path, parse_qs(body, keep_blank_values=True)))
                self._send(THANKS)

            def _send(self, body: bytes) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add(self, path: str, html: str) -> str:
        self.pages[path] = html
        return self.url + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("data", "about", "blob") or (parts.hostname or "") in LOOPBACK


@dataclass
class Egress:
    """Requests the context let through and those it aborted."""

    allowed: list[str] = field(default_factory=list)
    aborted: list[str] = field(default_factory=list)


def block_egress(context: Any) -> Egress:
    seen = Egress()

    def route(r: Any) -> None:
        url = r.request.url
        if is_loopback(url):
            seen.allowed.append(url)
            r.continue_()
        else:
            seen.aborted.append(url)
            r.abort("blockedbyclient")

    context.route("**/*", route)
    return seen


@contextmanager
def offline_context(browser: Any) -> Iterator[tuple[Any, Egress]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    egress = block_egress(context)
    try:
        yield context, egress
    finally:
        context.close()
