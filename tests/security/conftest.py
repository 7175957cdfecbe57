"""The API fixtures (a real server, keys, a customer in scope) for the security tests."""

from tests.api.conftest import api, customer_id, keys, start_api  # noqa: F401 - fixtures
