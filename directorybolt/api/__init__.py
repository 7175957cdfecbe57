"""The HTTP API (FastAPI under ``/api``): see :mod:`directorybolt.api.app` and docs/api.md."""
