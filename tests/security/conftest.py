"""The API fixtures (a real server, keys, a customer in scope) for the security tests,
plus ``roomy_api``: a real server whose rate limits stay out of the way of a corpus."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.api.conftest import ApiServer, api, customer_id, keys, server_env, start_api  # noqa: F401 - fixtures


@pytest.fixture(scope="module")
def roomy_api(services, tmp_path_factory) -> Iterator[ApiServer]:
    env = server_env(api_rate_per_ip="1000000/minute", api_rate_per_key="1000000/hour")
    server = ApiServer(env, tmp_path_factory.mktemp("roomy") / "api.log").wait_ready()
    yield server
    server.stop()
