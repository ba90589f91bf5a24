"""The served OpenAPI schema against the real responses (schemathesis), on both databases.

Any 5xx fails, and so does a status code, content type, header or body the schema
does not document. Examples are bounded per operation so that the category stays
quick on two cores.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import checks

from netra.env import IsolatedEnvironment
from netra.testing.fixtures import TestUser, register_user
from netra.testing.server import NetraServer
from netra.testing.services import create_database, drop_database

EXAMPLES_PER_OPERATION = 15
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def documented_server(
    request: pytest.FixtureRequest,
    netra_process_env: IsolatedEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[NetraServer, TestUser]]:
    """A server with NETRA_API_DOCS on, and a user whose token every call carries."""
    if request.config.getoption("netra_base_url"):
        pytest.skip("starts its own server processes; not run against --netra-base-url")
    server_settings = {"NETRA_API_DOCS": "true"}
    database = None
    if request.param == "postgresql":
        service = request.getfixturevalue("postgres")
        database = f"netra_schema_{secrets.token_hex(4)}"
        url = asyncio.run(create_database(service, database, template=service.template))
        server_settings["NETRA_DATABASE_URL"] = url
    data_dir = tmp_path_factory.mktemp("netra-schema")
    try:
        with NetraServer(netra_process_env, data_dir, server_settings) as server:
            yield server, asyncio.run(register_user(server.base_url))
    finally:
        if database is not None:
            asyncio.run(drop_database(service, database))


def test_responses_match_the_served_schema(
    documented_server: tuple[NetraServer, TestUser],
) -> None:
    server, user = documented_server
    api = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    failures: dict[str, str] = {}
    operations = [result.ok() for result in api.get_all_operations()]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,  # no example database in the work tree; every run starts afresh
        )
        def conforms(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=user.headers, checks=CHECKS, timeout=60)

        try:
            conforms()
        except Exception as exc:  # every operation is tried; all failures are reported
            failures[operation.label] = str(exc)
    assert len(operations) >= 14
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
