"""Concurrency against the real server and PostgreSQL (D21, R4, R11).

The service runs as a subprocess (`licensing serve`) on the session's test database; requests go
over real HTTP. 100 concurrent single-user assignments race for 10 seats: exactly 10 win, the
other 90 are refused with COUNT_VIOLATION, and the counters agree. The per-tenant advisory lock
serialises one tenant's license changes without holding up another tenant (or a dry run).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gql.auth import Role, issue_token
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
SECRET = "concurrency-test-secret-0123456789-abcdefghijklmnop"
STARTUP_SECONDS = 60

ASSIGN = """
mutation($i: AssignLicensesInput!) {
  assignLicenses(input: $i) {
    users { id }
    errors { code message userId productId }
    changes { dryRun products { product { skuPartNumber } consumedBefore consumedAfter totalUnits } }
  }
}"""
CREATE_USER = "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id } errors { code message } } }"
PURCHASE = "mutation($i: PurchaseSubscriptionInput!) { purchaseSubscription(input: $i) { subscription { id } errors { code message } } }"
PRODUCT = "query($s: String!) { product(skuPartNumber: $s) { id totalUnits consumedUnits availableUnits } }"
HOLDERS = "query($p: ID!) { users(first: 100, filter: {hasProductId: $p}) { totalCount edges { node { id licenses { state } } } } }"


# ------------------------------------------------------------------------------ the server


def _licensing_command() -> list[str]:
    script = Path(sys.executable).with_name("licensing")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gql.cli"]


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""


@pytest.fixture(scope="module")
def server_factory(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Server]]:
    """Starts `licensing serve` subprocesses on the test database; stops them at the end."""
    started: list[Server] = []

    def start(**env_extra: str) -> Server:
        port = free_port()
        log = tmp_path_factory.mktemp("server") / "server.log"
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "LICENSING_JWT_SECRET": SECRET,
            "LICENSING_DB_POOL_SIZE": "10",
            "LICENSING_LIFECYCLE_INTERVAL_SECONDS": "3600",
            **env_extra,
        }
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*_licensing_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
            )
        server = Server(f"http://127.0.0.1:{port}", process, log)
        started.append(server)
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode} while starting:\n{server.log_tail()}")
            try:
                if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the server did not answer /healthz within {STARTUP_SECONDS}s:\n{server.log_tail()}")
            time.sleep(0.2)

    try:
        yield start
    finally:
        for server in started:
            server.process.terminate()
            try:
                server.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait(timeout=10)


@pytest.fixture(scope="module")
def server(server_factory: Callable[..., Server]) -> Server:
    """The main server: a lock wait long enough for 100 queued requests."""
    return server_factory(LICENSING_LOCK_TIMEOUT_MS="60000")


@pytest.fixture(scope="module")
def impatient_server(server_factory: Callable[..., Server]) -> Server:
    """A second replica on the same database with a short lock timeout (D21: the wait becomes an error)."""
    return server_factory(LICENSING_LOCK_TIMEOUT_MS="2500")


# ------------------------------------------------------------------------------ a tenant over HTTP


class RemoteTenant:
    def __init__(self, client: httpx.AsyncClient, tenant_id: str) -> None:
        self.client = client
        self.id = tenant_id
        self.domain = f"{tenant_id}.example"
        self.admin = issue_token(SECRET, tenant_id, f"admin@{self.domain}", [Role.GLOBAL_ADMINISTRATOR], ttl_seconds=900)

    async def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {self.admin}"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    async def create_users(self, count: int, prefix: str) -> list[str]:
        payloads = await asyncio.gather(
            *(
                self.gql(CREATE_USER, {"i": {"userPrincipalName": f"{prefix}{i:03d}@{self.domain}",
                                             "displayName": f"{prefix} {i:03d}", "usageLocation": "US"}})
                for i in range(count)
            )
        )
        for p in payloads:
            assert p["createUser"]["errors"] == [], p
        return [p["createUser"]["user"]["id"] for p in payloads]

    async def buy(self, product_id: str, quantity: int) -> None:
        payload = (await self.gql(PURCHASE, {"i": {"productId": product_id, "quantity": quantity}}))["purchaseSubscription"]
        assert payload["errors"] == [], payload

    async def product(self, sku: str) -> dict[str, Any]:
        return (await self.gql(PRODUCT, {"s": sku}))["product"]

    async def assign(self, user_id: str, product_id: str, *, dry_run: bool = False) -> dict[str, Any]:
        data = await self.gql(ASSIGN, {"i": {"userIds": [user_id], "addLicenses": [{"productId": product_id}], "dryRun": dry_run}})
        return data["assignLicenses"]


async def _new_tenant(database_url: str) -> str:
    from db.repo import tenants
    from db.session import Database

    tid = f"c{uuid.uuid4().hex[:12]}"
    db = Database(database_url, pool_size=1)
    try:
        async with db.write() as conn:
            await tenants.create_tenant(conn, tid, f"Tenant {tid}", f"{tid}.example", "US")
    finally:
        await db.dispose()
    return tid


@pytest.fixture
async def client(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    # keep-alive shorter than uvicorn's 5 s, so the client never reuses a connection the server is closing
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200, keepalive_expiry=2)
    async with httpx.AsyncClient(base_url=server.url, timeout=90, limits=limits) as c:
        yield c


# ------------------------------------------------------------------------------ tests


async def test_d21_hundred_concurrent_assignments_for_ten_seats(client: httpx.AsyncClient, database_url: str, server: Server) -> None:
    tenant = RemoteTenant(client, await _new_tenant(database_url))
    ems = (await tenant.product("EMS"))["id"]
    await tenant.buy(ems, 10)
    users = await tenant.create_users(100, "racer")
    assert len(set(users)) == 100

    started = time.monotonic()
    results = await asyncio.wait_for(asyncio.gather(*(tenant.assign(u, ems) for u in users)), timeout=120)
    elapsed = time.monotonic() - started

    winners = [(u, r) for u, r in zip(users, results) if r["errors"] == []]
    losers = [(u, r) for u, r in zip(users, results) if r["errors"] != []]
    assert len(winners) == 10, (len(winners), [r["errors"] for _, r in losers][:3], server.log_tail())
    assert len(losers) == 90
    for user, payload in winners:
        assert payload["changes"]["dryRun"] is False
        assert payload["users"] == [{"id": user}]
        (seats,) = payload["changes"]["products"]
        assert seats["product"] == {"skuPartNumber": "EMS"}
        assert seats["consumedAfter"] == seats["consumedBefore"] + 1
        assert seats["totalUnits"] == 10
    # serialised: each winner saw the counter the previous one left, 0→1, 1→2, … 9→10
    assert sorted(p["changes"]["products"][0]["consumedAfter"] for _, p in winners) == list(range(1, 11))
    for _, payload in losers:
        assert payload["changes"] is None
        assert payload["users"] == []
        assert [(e["code"], e["userId"], e["productId"]) for e in payload["errors"]] == [("COUNT_VIOLATION", None, ems)], payload
        assert "0 available" in payload["errors"][0]["message"], payload["errors"][0]["message"]

    seats = await tenant.product("EMS")
    assert (seats["totalUnits"], seats["consumedUnits"], seats["availableUnits"]) == (10, 10, 0)
    holders = (await tenant.gql(HOLDERS, {"p": ems}))["users"]
    assert holders["totalCount"] == 10
    assert {e["node"]["id"] for e in holders["edges"]} == {u for u, _ in winners}
    assert all(e["node"]["licenses"] == [{"state": "ACTIVE"}] for e in holders["edges"])
    # refusals recorded nothing (D11): 100 users created, 1 purchase, 10 assignments
    audit = await tenant.gql("{ auditLog(first: 0) { totalCount } }")
    assert audit["auditLog"]["totalCount"] == 100 + 1 + 10
    assert elapsed < 90


class HeldTenantLock:
    """Another transaction holding a tenant's license lock (db.session.lock_tenant_licenses)."""

    def __init__(self, database_url: str, tenant_id: str) -> None:
        from db.session import Database

        self.db = Database(database_url, pool_size=1)
        self.tenant_id = tenant_id
        self._ctx: Any = None

    async def __aenter__(self) -> HeldTenantLock:
        from db.session import lock_tenant_licenses

        self._ctx = self.db.write(dry_run=True)
        conn = await self._ctx.__aenter__()
        await lock_tenant_licenses(conn, self.tenant_id)
        return self

    async def release(self) -> None:
        if self._ctx is not None:
            ctx, self._ctx = self._ctx, None
            await ctx.__aexit__(None, None, None)

    async def __aexit__(self, *exc: object) -> None:
        await self.release()
        await self.db.dispose()


async def test_d21_a_tenant_waiting_on_its_lock_does_not_block_another_tenant(
    client: httpx.AsyncClient, database_url: str, server: Server
) -> None:
    a = RemoteTenant(client, await _new_tenant(database_url))
    b = RemoteTenant(client, await _new_tenant(database_url))
    ems = (await a.product("EMS"))["id"]
    await a.buy(ems, 2)
    await b.buy(ems, 2)
    (alice,) = await a.create_users(1, "alice")
    (bert,) = await b.create_users(1, "bert")

    async with HeldTenantLock(database_url, a.id) as held:
        waiting = asyncio.create_task(a.assign(alice, ems))
        await asyncio.sleep(0.5)
        assert not waiting.done(), "tenant A's assignment went ahead while another transaction held A's lock"

        started = time.monotonic()
        other = await asyncio.wait_for(b.assign(bert, ems), timeout=10)
        assert time.monotonic() - started < 3, "tenant B's assignment waited on tenant A's lock"
        assert other["errors"] == [] and other["changes"]["products"][0]["consumedAfter"] == 1

        # a dry run of the blocked tenant takes no lock (D21, R19): it answers at once
        started = time.monotonic()
        dry = await asyncio.wait_for(a.assign(alice, ems, dry_run=True), timeout=10)
        assert time.monotonic() - started < 3, "a dry run waited for the tenant lock"
        assert dry["errors"] == [] and dry["changes"]["dryRun"] is True
        assert dry["changes"]["products"][0]["consumedAfter"] == 1

        assert not waiting.done(), "tenant A's assignment did not wait for A's lock"
        await held.release()
        done = await asyncio.wait_for(waiting, timeout=30)
    assert done["errors"] == [] and done["changes"]["products"][0]["consumedAfter"] == 1
    assert (await a.product("EMS"))["consumedUnits"] == 1
    assert (await b.product("EMS"))["consumedUnits"] == 1


async def test_d21_a_lock_wait_past_the_timeout_is_an_admin_facing_error(database_url: str, impatient_server: Server) -> None:
    async with httpx.AsyncClient(base_url=impatient_server.url, timeout=60) as c:
        a = RemoteTenant(c, await _new_tenant(database_url))
        b = RemoteTenant(c, await _new_tenant(database_url))
        ems = (await a.product("EMS"))["id"]
        await a.buy(ems, 1)
        await b.buy(ems, 1)
        (alice,) = await a.create_users(1, "alice")
        (bert,) = await b.create_users(1, "bert")

        async with HeldTenantLock(database_url, a.id):
            started = time.monotonic()
            refused, other = await asyncio.wait_for(asyncio.gather(a.assign(alice, ems), b.assign(bert, ems)), timeout=30)
            waited = time.monotonic() - started
        assert other["errors"] == [], other
        assert waited >= 2.0, "the refused request did not wait for the lock timeout"
        assert refused["changes"] is None
        assert len(refused["errors"]) == 1, refused
        message = refused["errors"][0]["message"]
        assert message and "Unexpected error" not in message
        assert "try again" in message.lower(), message
        # nothing changed for A; B went through
        assert (await a.product("EMS"))["consumedUnits"] == 0
        assert (await b.product("EMS"))["consumedUnits"] == 1
        # and once the lock is free, A's request succeeds
        again = await a.assign(alice, ems)
        assert again["errors"] == [], again
        assert impatient_server.process.poll() is None
