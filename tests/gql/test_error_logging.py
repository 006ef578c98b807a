"""What the log shows of GraphQL errors (SPEC §6): an expected refusal — FORBIDDEN, a
BAD_USER_INPUT, a document that does not validate, a variable of the wrong type — is one line
without a traceback; an unexpected failure is masked for the client and logged once, with its
traceback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from strawberry.extensions import SchemaExtension

from gql.app import create_app
from gql.auth import Role
from tests.support import Tenant

USERS = "{ users(first: 5) { totalCount } }"
TOO_MANY = "{ users(first: 101) { totalCount } }"
NOT_IN_SCHEMA = "{ nope }"
WRONG_VARIABLE = "query($n: Int) { users(first: $n) { totalCount } }"


def records_of_the_request(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith(("strawberry", "licensing", "gql"))]


def assert_one_line_without_traceback(records: list[logging.LogRecord]) -> None:
    assert len(records) <= 1, [r.getMessage() for r in records]
    for record in records:
        assert record.exc_info is None, record.getMessage()
        assert "\n" not in record.getMessage()
        assert record.levelno < logging.ERROR


async def test_a_forbidden_query_logs_no_traceback(tenant: Tenant, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    no_role = tenant.token(sub=f"nobody@{tenant.domain}")
    body = await tenant.gql(USERS, token=no_role)
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert_one_line_without_traceback(records_of_the_request(caplog))


@pytest.mark.parametrize(
    ("query", "variables"),
    [(TOO_MANY, None), (NOT_IN_SCHEMA, None), (WRONG_VARIABLE, {"n": "five"})],
    ids=["bad-user-input", "validation", "variable-coercion"],
)
async def test_other_expected_refusals_log_no_traceback(
    tenant: Tenant, caplog: pytest.LogCaptureFixture, query: str, variables: dict[str, Any] | None
) -> None:
    caplog.set_level(logging.DEBUG)
    body = await tenant.gql(query, variables)
    assert body["errors"]
    assert_one_line_without_traceback(records_of_the_request(caplog))


class FailingResolver(SchemaExtension):
    """Makes the `users` field fail the way a bug would."""

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        if info.field_name == "users":
            raise RuntimeError("SELECT secret FROM somewhere")
        return _next(root, info, *args, **kwargs)


@pytest.fixture
def failing_schema(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import gql.app
    from gql.schema import build_schema

    monkeypatch.setattr(gql.app, "build_schema", lambda settings: build_schema(settings, [FailingResolver]))
    yield


async def test_an_unexpected_failure_is_logged_once_with_its_traceback(
    database_url: str, settings: Any, tenant: Tenant, failing_schema: None, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings, database_url, run_lifecycle_job=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            caplog.set_level(logging.DEBUG)
            response = await client.post(
                "/graphql", json={"query": USERS}, headers={"Authorization": f"Bearer {tenant.token(Role.GLOBAL_READER)}"}
            )
    body = response.json()
    assert body["errors"][0]["message"] == "Unexpected error."
    assert "secret" not in response.text
    with_traceback = [r for r in records_of_the_request(caplog) if r.exc_info]
    assert len(with_traceback) == 1
    assert with_traceback[0].levelno == logging.ERROR
    assert "SELECT secret" in str(with_traceback[0].exc_info[1])
