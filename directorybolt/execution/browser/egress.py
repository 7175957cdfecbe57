"""What a directory's page may reach from our browser: its own sites, nothing inside.

A directory page runs its own scripts in a browser that sits inside the deployment,
next to Redis, PostgreSQL, the API, Flower and the cloud metadata service. Every
context gets an :class:`EgressFilter` on all requests (``context.route``) and
WebSockets (``context.route_web_socket``); service workers are blocked by the pool,
so none can bypass the route. A request leaves only when both hold:

* its host is allowed by the directory: the hosts of its plan's ``goto`` steps and
  ``allow_hosts`` (subdomains included, ``www.`` ignored), or, before anything was
  allowed, the first top-level navigation (our own ``goto`` of the directory URL);
* its destination is public: no IP literal or resolved address that is private,
  loopback, link-local, CGNAT, multicast or reserved, unless ``host:port`` is listed
  in ``browser_allowed_origins`` (the sandbox on 127.0.0.1, set by the demo and tests).

Anything else is aborted (``blockedbyclient``) and remembered in ``blocked``; the
page sees a failed request, the submission carries on. Names are resolved to check
them; a name that re-resolves differently between our check and Chromium's
connection (DNS rebinding) is the remaining gap, narrowed by the host allow-list.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import weakref
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from directorybolt.core.plans import Plan
from directorybolt.core.settings import get_settings
from directorybolt.core.websites import is_public_ip

log = logging.getLogger(__name__)

_filters: weakref.WeakKeyDictionary[Any, EgressFilter] = weakref.WeakKeyDictionary()
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _base(host: str) -> str:
    host = host.lower().rstrip(".")
    return host[4:] if host.startswith("www.") else host


class EgressFilter:
    """The allow-list of one browser context (module docstring)."""

    def __init__(self, allowed_origins: Iterable[str] = ()) -> None:
        self.allowed_origins = {o.strip().lower() for o in allowed_origins if o.strip()}
        self.hosts: set[str] = set()
        self.blocked: list[str] = []
        self._resolved: dict[str, bool] = {}

    def allow_hosts(self, hosts: Iterable[str]) -> None:
        self.hosts.update(_base(h) for h in hosts if h)

    def allow_plan(self, plan: Plan) -> None:
        self.allow_hosts(urlsplit(s.url).hostname or "" for s in plan.steps if s.action == "goto" and s.url)
        self.allow_hosts(plan.allow_hosts)

    def _host_allowed(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(host == h or host.endswith("." + h) for h in self.hosts)

    def _public(self, host: str, port: int) -> bool:
        if f"{host}:{port}" in self.allowed_origins:
            return True
        try:
            return is_public_ip(ipaddress.ip_address(host.strip("[]")))
        except ValueError:
            pass
        if host not in self._resolved:
            try:
                infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
                self._resolved[host] = bool(infos) and all(
                    is_public_ip(ipaddress.ip_address(info[4][0].split("%")[0])) for info in infos)
            except (OSError, ValueError):
                self._resolved[host] = False
        return self._resolved[host]

    def permits(self, url: str, *, first_navigation: bool = False) -> bool:
        """Whether a request to ``url`` may leave; ``first_navigation`` lets the very
        first top-level navigation name the directory's host."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme in ("data", "blob", "about"):
            return True
        if scheme not in _DEFAULT_PORTS or not parts.hostname:
            return False
        try:
            port = parts.port or _DEFAULT_PORTS[scheme]
        except ValueError:
            return False
        host = parts.hostname
        if not self._public(host, port):
            return False
        if not self.hosts and first_navigation:
            self.allow_hosts([host])
            return True
        return self._host_allowed(host)

    def _refuse(self, url: str) -> None:
        self.blocked.append(url)
        log.info("egress blocked: %s", url[:300])

    def on_route(self, route: Any) -> None:
        request = route.request
        first = request.is_navigation_request() and request.frame.parent_frame is None
        if self.permits(request.url, first_navigation=first):
            route.fallback()
        else:
            self._refuse(request.url)
            route.abort("blockedbyclient")

    def on_web_socket(self, ws: Any) -> None:
        if self.permits(ws.url):
            ws.connect_to_server()
        else:
            self._refuse(ws.url)
            ws.close(code=1008, reason="blocked by egress policy")


def guard(context: Any) -> EgressFilter:
    """Install a filter on a new context (the pool calls this for every context)."""
    f = EgressFilter(get_settings().browser_allowed_origins)
    context.route("**/*", f.on_route)
    context.route_web_socket("**/*", f.on_web_socket)
    _filters[context] = f
    return f


def filter_of(page: Any) -> EgressFilter | None:
    return _filters.get(page.context)
