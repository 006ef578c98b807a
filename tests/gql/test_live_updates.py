"""Live updates over the WebSocket endpoint (R27, D26, D29, D30, D33): `licenseEvents` replays
after a cursor and then streams in cursor order without gap or duplicate; filters and the role
rules; an undecodable `after` ends only its operation; `seatsChanged` after purchases and
assignments; SUBSCRIBER_TOO_SLOW and resuming; a lost LISTEN connection losing nothing; the
root type's name. Two replicas on one database: tests/gql/test_live_replicas.py.

The server runs in a background thread (uvicorn, as `licensing serve` runs it); changes are made
through the test's in-process app: another process as far as PostgreSQL is concerned."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from db.config import Settings
from db.notifications import APPLICATION_NAME
from db.urls import sync_url
from gql.app import create_app
from gql.auth import Role
from gql.http.server import build_server
from gql.schema import build_schema
from services import live_updates
from services.lifecycle_job import run_once
from tests.gql.live_support import EVENTS, SEATS, error_codes, live_socket
from tests.gql.test_assign_licenses import assign, product
from tests.gql.test_license_events import feed
from tests.support import Tenant, free_port


@pytest.fixture(scope="module")
def server(database_url: str, settings: Any, clock: Any) -> Iterator[tuple[int, Any]]:
    """(port, app) of a server in a background thread, on the tests' clock."""
    server_settings = Settings(LICENSING_JWT_SECRET=settings.jwt_secret, LICENSING_LIFECYCLE_INTERVAL_SECONDS=3600)
    port = free_port()
    app = create_app(server_settings, database_url, clock=clock, run_lifecycle_job=False)
    uvicorn_server = build_server(app, "127.0.0.1", port, server_settings, log_level="warning")
    thread = threading.Thread(target=uvicorn_server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not uvicorn_server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    yield port, app
    uvicorn_server.should_exit = True
    thread.join(timeout=15)


@pytest.fixture
def port(server: tuple[int, Any]) -> int:
    return server[0]


@pytest.fixture
def ready(server: tuple[int, Any]) -> Callable[[Tenant, int], Awaitable[None]]:
    """Waits until `n` subscriptions of the tenant wait for news: a subscribe has no
    acknowledgement in graphql-transport-ws, and a change committed before a subscription took
    its starting point is (rightly) not news to it."""
    notifications = server[1].state.runtime.db.notifications

    async def wait(tenant: Tenant, n: int) -> None:
        deadline = time.monotonic() + 5
        while notifications.watch_count(tenant.id, waiting=True) < n:
            assert time.monotonic() < deadline, notifications.watch_count(tenant.id)
            await asyncio.sleep(0.01)

    return wait


async def _licensed_tenant(tenant: Tenant, *names: str) -> tuple[str, list[str]]:
    await tenant.buy("SPE_E3", 50)
    e3 = (await product(tenant, "SPE_E3"))["id"]
    return e3, [await tenant.create_user(name) for name in names]


async def test_r27_replays_after_a_cursor_then_streams_each_commit_in_order(port: int, tenant: Tenant, ready: Callable[[Tenant, int], Awaitable[None]]) -> None:
    e3, (ann, bob, cat) = await _licensed_tenant(tenant, "Ann", "Bob", "Cat")
    assert (await assign(tenant, [ann], [{"productId": e3}]))["errors"] == []
    assert (await assign(tenant, [bob], [{"productId": e3}]))["errors"] == []
    first, second = await feed(tenant)
    async with live_socket(port, tenant.admin) as ws:
        await ws.subscribe("r", EVENTS, {"a": first["cursor"]})
        await ws.subscribe("now", EVENTS)  # no `after`: from now on, no replay
        await ready(tenant, 2)
        assert [e["cursor"] for e in await ws.events("r", 1)] == [second["cursor"]]
        assert await ws.silent("now", 0.3)
        assert (await assign(tenant, [cat], [{"productId": e3}]))["errors"] == []
        started = time.monotonic()
        live = await ws.events("r", 1, timeout=1)  # R27: within 1 s of the commit
        assert time.monotonic() - started < 1
        assert await ws.events("now", 1) == live
        assert (await assign(tenant, [ann, bob], [], removeProductIds=[e3]))["errors"] == []
        tail = await ws.events("r", 2)
        assert await ws.events("now", 2) == tail
        stored = await feed(tenant)
        assert [e["cursor"] for e in [second, *live, *tail]] == [e["cursor"] for e in stored[1:]]
        assert [(e["userId"], e["kind"]) for e in [*live, *tail]] == [(cat, "ADDED"), (ann, "REMOVED"), (bob, "REMOVED")]
        assert await ws.silent("r", 0.3)


async def test_d30_filters_and_a_caller_without_a_role_sees_only_their_own_events(port: int, tenant: Tenant, ready: Callable[[Tenant, int], Awaitable[None]]) -> None:
    e3, (ann, bob) = await _licensed_tenant(tenant, "Ann", "Bob")
    ann_token = tenant.token(sub=f"ann@{tenant.domain}")  # no role: their own user's events only
    async with live_socket(port, tenant.admin) as admin, live_socket(port, ann_token) as own:
        await admin.subscribe("bob", EVENTS, {"f": {"userId": bob}})
        await admin.subscribe("removed", EVENTS, {"f": {"kinds": ["REMOVED"]}})
        await own.subscribe("mine", EVENTS)
        await own.subscribe("theirs", EVENTS, {"f": {"userId": bob}})
        await ready(tenant, 3)
        assert (await assign(tenant, [ann, bob], [{"productId": e3}]))["errors"] == []
        assert (await assign(tenant, [ann], [], removeProductIds=[e3]))["errors"] == []
        assert [(e["userId"], e["kind"]) for e in await admin.events("bob", 1)] == [(bob, "ADDED")]
        assert [(e["userId"], e["kind"]) for e in await admin.events("removed", 1)] == [(ann, "REMOVED")]
        assert [(e["userId"], e["kind"]) for e in await own.events("mine", 2)] == [(ann, "ADDED"), (ann, "REMOVED")]
        assert await own.silent("theirs", 0.3) and await own.silent("mine", 0.1) and await admin.silent("bob", 0.1)


async def test_d29_an_undecodable_after_ends_that_operation_and_the_socket_stays_usable(port: int, tenant: Tenant, ready: Callable[[Tenant, int], Awaitable[None]]) -> None:
    e3, (ann,) = await _licensed_tenant(tenant, "Ann")
    async with live_socket(port, tenant.admin) as ws:
        await ws.subscribe("ok", EVENTS)
        await ws.subscribe("bad", EVENTS, {"a": "not-a-cursor"})
        assert error_codes(await ws.message("bad")) == ["INVALID_INPUT"]
        await ws.subscribe("unknown", SEATS, {"p": ["00000000-0000-0000-0000-000000000001"]})
        assert error_codes(await ws.message("unknown")) == ["INVALID_INPUT"]
        assert await ws.silent("bad", 0.2)  # an `error` is final: no `complete` after it
        await ws.subscribe("bad", EVENTS)  # and its id is free again
        await ready(tenant, 2)
        assert (await assign(tenant, [ann], [{"productId": e3}]))["errors"] == []
        assert [e["userId"] for e in await ws.events("ok", 1)] == [ann]
        assert [e["userId"] for e in await ws.events("bad", 1)] == [ann]


async def test_r27_seats_changed_after_a_purchase_and_an_assignment(port: int, tenant: Tenant, ready: Callable[[Tenant, int], Awaitable[None]]) -> None:
    ann = await tenant.create_user("Ann")
    e3 = (await product(tenant, "SPE_E3"))["id"]
    ems = (await product(tenant, "EMS"))["id"]
    async with live_socket(port, tenant.admin) as ws, live_socket(port, tenant.token(sub=f"ann@{tenant.domain}")) as own:
        await ws.subscribe("all", SEATS, {"p": None})  # D33: every product the tenant owns (none yet)
        await ws.subscribe("ems", SEATS, {"p": [ems]})
        await own.subscribe("no-role", SEATS)
        assert error_codes(await own.message("no-role")) == ["FORBIDDEN"]  # D30, D22
        await ready(tenant, 2)
        await tenant.buy("SPE_E3", 5)
        expected = {"skuPartNumber": "SPE_E3", "totalUnits": 5, "consumedUnits": 0, "availableUnits": 5}
        assert (await ws.data("all", timeout=1))["seatsChanged"] == expected
        assert (await assign(tenant, [ann], [{"productId": e3}]))["errors"] == []
        expected = {"skuPartNumber": "SPE_E3", "totalUnits": 5, "consumedUnits": 1, "availableUnits": 4}
        assert (await ws.data("all", timeout=1))["seatsChanged"] == expected
        assert await ws.silent("ems", 0.3)
        await tenant.buy("EMS", 2)
        expected = {"skuPartNumber": "EMS", "totalUnits": 2, "consumedUnits": 0, "availableUnits": 2}
        assert (await ws.data("ems"))["seatsChanged"] == expected
        assert (await ws.data("all"))["seatsChanged"] == expected
        assert (await assign(tenant, [ann], [{"productId": ems}]))["errors"] == []
        assert (await ws.data("ems"))["seatsChanged"]["consumedUnits"] == 1
        assert (await ws.data("all"))["seatsChanged"]["consumedUnits"] == 1
        assert await ws.silent("all", 0.3)


async def test_d33_the_lifecycle_job_announces_clock_driven_pool_changes(port: int, tenant: Tenant, clock: Any, ready: Callable[[Tenant, int], Awaitable[None]]) -> None:
    clock.set(datetime.now(UTC))
    try:
        await tenant.buy("SPE_E3", 5, recurringBilling=False, startsAt=(clock.now() - timedelta(days=367)).isoformat())
        async with live_socket(port, tenant.admin) as ws:
            await ws.subscribe("all", SEATS)
            await ready(tenant, 1)
            assert (await product(tenant, "SPE_E3"))["totalUnits"] == 5  # EXPIRED: still usable (grace)
            clock.advance(timedelta(days=31))
            assert await run_once(tenant.api.database(), clock, 7)  # DISABLED
            assert (await ws.data("all", timeout=1))["seatsChanged"] == {
                "skuPartNumber": "SPE_E3", "totalUnits": 0, "consumedUnits": 0, "availableUnits": 0,
            }
    finally:
        clock.set(datetime.now(UTC))


async def test_r27_a_subscriber_too_far_behind_is_ended_and_resumes_without_loss(
    port: int, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, ready: Callable[[Tenant, int], Awaitable[None]]
) -> None:
    monkeypatch.setattr(live_updates, "MAX_LAG", 5)
    monkeypatch.setattr(live_updates, "PAGE", 2)
    e3, users = await _licensed_tenant(tenant, *(f"User {i}" for i in range(10)))
    async with live_socket(port, tenant.admin) as ws:
        await ws.subscribe("all", EVENTS)
        await ws.subscribe("one", EVENTS, {"f": {"userId": users[3]}})  # 1 visible event: not behind
        await ws.subscribe("seats", SEATS)
        await ready(tenant, 3)
        assert (await assign(tenant, users[:1], [{"productId": e3}]))["errors"] == []
        received = await ws.events("all", 1)
        assert (await ws.data("seats"))["seatsChanged"]["consumedUnits"] == 1
        assert (await assign(tenant, users[1:], [{"productId": e3}]))["errors"] == []  # 9 events in one commit
        while True:
            message = await ws.message("all")
            if message["type"] != "next":
                break
            received.append(message["payload"]["data"]["licenseEvents"])
        assert error_codes(message) == ["SUBSCRIBER_TOO_SLOW"]
        assert len(received) == 1  # 9 behind at once: ended before a page of them
        assert [e["userId"] for e in await ws.events("one", 1)] == [users[3]]  # the socket's others carry on
        assert (await ws.data("seats"))["seatsChanged"]["consumedUnits"] == 10
        await ws.subscribe("resumed", EVENTS, {"a": received[-1]["cursor"]})
        rest = await ws.events("resumed", 10 - len(received))
        stored = await feed(tenant)
        assert [e["cursor"] for e in received + rest] == [e["cursor"] for e in stored]
        assert await ws.silent("resumed", 0.3)


@pytest.mark.parametrize(("in_one_commit", "ended"), [(5, False), (6, True)], ids=["at the limit", "one over"])
async def test_r27_one_change_of_more_events_than_the_limit_ends_a_live_subscription_at_once(
    port: int, tenant: Tenant, monkeypatch: pytest.MonkeyPatch, ready: Callable[[Tenant, int], Awaitable[None]],
    in_one_commit: int, ended: bool,
) -> None:
    """R27's limit counts the events a change puts the subscriber behind, not what is left after a
    first page: with pages of 2 and a limit of 5, one change of 6 events ends it before any page."""
    monkeypatch.setattr(live_updates, "MAX_LAG", 5)
    monkeypatch.setattr(live_updates, "PAGE", 2)
    e3, users = await _licensed_tenant(tenant, *(f"User {i}" for i in range(in_one_commit)))
    async with live_socket(port, tenant.admin) as ws:
        await ws.subscribe("all", EVENTS)
        await ready(tenant, 1)
        assert (await assign(tenant, users, [{"productId": e3}]))["errors"] == []
        if ended:
            message = await ws.message("all")
            assert message["type"] == "error", message
            assert error_codes(message) == ["SUBSCRIBER_TOO_SLOW"]
        else:
            assert sorted(e["userId"] for e in await ws.events("all", in_one_commit)) == sorted(users)
            assert await ws.silent("all", 0.3)


async def test_r27_a_lost_listen_connection_is_remade_and_loses_nothing(
    server: tuple[int, Any], tenant: Tenant, database_url: str, ready: Callable[[Tenant, int], Awaitable[None]]
) -> None:
    port, app = server
    e3, (ann, bob) = await _licensed_tenant(tenant, "Ann", "Bob")
    notifications = app.state.runtime.db.notifications
    async with live_socket(port, tenant.admin) as ws:
        await ws.subscribe("r", EVENTS)
        await ready(tenant, 1)
        assert (await assign(tenant, [ann], [{"productId": e3}]))["errors"] == []
        assert [e["userId"] for e in await ws.events("r", 1)] == [ann]
        made = notifications.connections_made
        engine = create_engine(sync_url(database_url))
        try:
            with engine.connect() as conn:
                killed = conn.execute(
                    text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                         "WHERE application_name = :a AND datname = current_database()"),
                    {"a": APPLICATION_NAME},
                ).scalar_one()
        finally:
            engine.dispose()
        assert killed >= 1
        # committed while the connection is down or being remade: its notification may be lost
        assert (await assign(tenant, [bob], [{"productId": e3}]))["errors"] == []
        assert [e["userId"] for e in await ws.events("r", 1)] == [bob]
        deadline = time.monotonic() + 5
        while notifications.connections_made == made:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        assert (await assign(tenant, [ann, bob], [], removeProductIds=[e3]))["errors"] == []
        assert [e["kind"] for e in await ws.events("r", 2)] == ["REMOVED", "REMOVED"]
        assert await ws.silent("r", 0.3)


def _listen_connections(database_url: str) -> int:
    """The LISTEN connections open on the tests' database, as PostgreSQL sees them."""
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            return int(conn.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :a AND datname = current_database()"),
                {"a": APPLICATION_NAME},
            ).scalar_one())
    finally:
        engine.dispose()


async def test_one_listen_connection_per_process_and_no_watch_left_behind(
    server: tuple[int, Any], tenant: Tenant, database_url: str, ready: Callable[[Tenant, int], Awaitable[None]]
) -> None:
    port, app = server
    notifications = app.state.runtime.db.notifications
    async with live_socket(port, tenant.admin) as a, live_socket(port, tenant.admin) as b:
        for ws in (a, b):
            await ws.subscribe("e", EVENTS)
            await ws.subscribe("s", SEATS)
        await ready(tenant, 4)
        await tenant.buy("SPE_E3", 1)
        for ws in (a, b):
            assert (await ws.data("s"))["seatsChanged"]["totalUnits"] == 1
        assert notifications.watch_count(tenant.id) == 4
        # four subscriptions on two sockets, one process: one connection listens for them all
        assert _listen_connections(database_url) == 1
        await a.complete("e")
    deadline = time.monotonic() + 5
    while notifications.watch_count():
        assert time.monotonic() < deadline, notifications.watch_count()
        await asyncio.sleep(0.05)
    assert sum(1 for t in asyncio.all_tasks() if t.get_name() == "licensing-listen") == 0  # its own loop, not ours


async def test_the_subscription_root_is_named_subscription_root(tenant: Tenant, settings: Any) -> None:
    printed = build_schema(settings).as_str()
    assert "subscription: SubscriptionRoot" in printed
    assert "type SubscriptionRoot {" in printed and "type Subscription implements Node {" in printed  # the purchased kind
    data = await tenant.ok("{ __schema { subscriptionType { name fields { name } } } }")
    assert data["__schema"]["subscriptionType"] == {"name": "SubscriptionRoot", "fields": [{"name": "licenseEvents"}, {"name": "seatsChanged"}]}
    over_http = await tenant.api.post(SEATS, token=tenant.token(Role.GLOBAL_READER))
    assert over_http.status_code == 400 and "WebSocket" in over_http.json()["errors"][0]["message"]
