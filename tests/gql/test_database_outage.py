"""While PostgreSQL cannot be reached, GraphQL answers 503 with Retry-After and says so
(DATABASE_UNAVAILABLE), instead of 500 "Unexpected error."; once it is back, the same app
serves again without a restart.

The outage is real: the app reaches the test database through a TCP proxy on 127.0.0.1 that
the test cuts (every connection closed, nothing listening) and restores on the same port. A
connection lost during execution is a backend ended with pg_terminate_backend (57P01).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from gql.app import create_app
from gql.auth import Role
from tests.support import Tenant

VIEWER = "{ viewer { roles } }"
USERS = "{ users(first: 1) { totalCount } }"
CREATE_GROUP = 'mutation { createGroup(input: {displayName: "During the outage"}) { group { id } errors { code } } }'


class TcpProxy:
    """127.0.0.1:<port> → the PostgreSQL server (over TCP, or its Unix socket when the URL names
    a socket directory); ``cut`` drops every connection and stops listening, ``restore``
    listens again on the same port."""

    def __init__(self, database_url: str) -> None:
        url = make_url(database_url)
        host = url.query.get("host") or url.host or "127.0.0.1"
        port = int(url.query.get("port") or url.port or 5432)  # type: ignore[arg-type]
        self.socket_path = f"{host}/.s.PGSQL.{port}" if str(host).startswith("/") else None
        self.target = (str(host), port)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.pipes: set[asyncio.Task[None]] = set()
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.socket_path:
                up_reader, up_writer = await asyncio.open_unix_connection(self.socket_path)
            else:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self.pipes.add(task)
            task.add_done_callback(self.pipes.discard)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        sink.close()

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()
        for task in list(self.pipes):
            task.cancel()
        await asyncio.gather(*self.pipes, return_exceptions=True)

    async def restore(self) -> None:
        await self.start()


@pytest.fixture
async def proxy(database_url: str) -> AsyncIterator[TcpProxy]:
    p = TcpProxy(database_url)
    await p.start()
    yield p
    with contextlib.suppress(Exception):
        await p.cut()


@pytest.fixture
async def app_via_proxy(database_url: str, settings: Any, proxy: TcpProxy) -> AsyncIterator[httpx.AsyncClient]:
    url = (
        make_url(database_url)
        .difference_update_query(["host", "port"])
        .set(host="127.0.0.1", port=proxy.port)
        .render_as_string(hide_password=False)
    )
    app = create_app(settings, url, run_lifecycle_job=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            yield client


async def _post(client: httpx.AsyncClient, query: str, token: str, accept: str = "application/json") -> httpx.Response:
    return await client.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}", "Accept": accept}
    )


def _assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "DATABASE_UNAVAILABLE"
    assert "database is unavailable" in error["message"] and "try again" in error["message"].lower()


async def test_graphql_answers_503_while_the_database_is_down_and_recovers(
    app_via_proxy: httpx.AsyncClient, proxy: TcpProxy, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    client, token = app_via_proxy, tenant.token(Role.GLOBAL_READER)
    assert (await _post(client, VIEWER, token)).status_code == 200

    await proxy.cut()
    caplog.set_level(logging.INFO)
    for accept in ("application/json", "application/graphql-response+json"):
        response = await _post(client, VIEWER, token, accept)
        _assert_unavailable(response)
        assert response.headers["content-type"].startswith(accept)
    assert not [r for r in caplog.records if r.exc_info], "an outage is not a bug: no traceback"

    await proxy.restore()
    deadline = time.monotonic() + 10
    while (response := await _post(client, USERS, token)).status_code != 200:
        _assert_unavailable(response)  # a pooled connection of the lost server, at most
        assert time.monotonic() < deadline, "the app did not recover"
        await asyncio.sleep(0.2)
    assert response.json() == {"data": {"users": {"totalCount": 0}}}


async def test_a_connection_lost_during_execution_is_503(
    database_url: str, settings: Any, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings, database_url, run_lifecycle_job=False)
    async with app.router.lifespan_context(app):
        engine = app.state.runtime.db.engine
        # Two idle connections in the pool, in this order (the pool hands them out first in,
        # first out): the request's snapshot (opened by resolving the caller) takes the first,
        # the mutation's own transaction the second.
        first, second = await engine.connect(), await engine.connect()
        first_pid = (await first.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        second_pid = (await second.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        await first.close()
        await second.close()
        async with tenant.api.database().engine.connect() as admin:  # not a connection of the app's pool
            await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": second_pid})
            deadline = time.monotonic() + 10
            while (
                await admin.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": second_pid})
            ).scalar_one():
                # pg_stat_activity is read once per transaction: a new one sees the backend gone
                await admin.commit()
                assert time.monotonic() < deadline, "the terminated backend did not exit"
                await asyncio.sleep(0.05)
        assert first_pid != second_pid

        caplog.set_level(logging.INFO)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            response = await _post(client, CREATE_GROUP, tenant.admin)
            _assert_unavailable(response)
            assert response.json()["errors"][0]["path"] == ["createGroup"]  # failed in the resolver
            assert not [r for r in caplog.records if r.exc_info]

            # the pool replaced the lost connection
            response = await _post(client, USERS, tenant.token(Role.GLOBAL_READER))
            assert response.status_code == 200, response.text


async def test_scim_answers_503_while_the_database_is_down(
    app_via_proxy: httpx.AsyncClient, proxy: TcpProxy, tenant: Tenant
) -> None:
    """D34: SCIM says the database is unavailable (503, Retry-After, a SCIM error body), then recovers."""
    client, token = app_via_proxy, tenant.token(Role.GLOBAL_ADMINISTRATOR)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/scim+json"}
    assert (await client.get("/scim/v2/Users", headers=headers)).status_code == 200
    await proxy.cut()
    response = await client.get("/scim/v2/Users", headers=headers)
    assert response.status_code == 503, response.text
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["status"] == "503" and "urn:ietf:params:scim:api:messages:2.0:Error" in body["schemas"]
    assert "database is unavailable" in body["detail"]
    await proxy.restore()
    deadline = time.monotonic() + 10
    while (response := await client.get("/scim/v2/Users", headers=headers)).status_code != 200:
        assert response.status_code == 503 and time.monotonic() < deadline, response.text
        await asyncio.sleep(0.2)
