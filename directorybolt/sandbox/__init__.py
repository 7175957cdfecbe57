"""Local imitations of directory sign-up flows (plain, wizard, select, slow, transient,
rate-limited, broken, CAPTCHA, changed form, unmapped, catalog-style), so that tests,
the demo and the benchmarks exercise real HTTP and real forms without ever
contacting a real directory."""

from directorybolt.sandbox.app import SandboxState, create_app
from directorybolt.sandbox.catalog import sandbox_directories
from directorybolt.sandbox.server import SandboxServer

__all__ = ["SandboxServer", "SandboxState", "create_app", "sandbox_directories"]
