"""R27 across replicas: two `licensing serve` processes on one database share nothing but
PostgreSQL; a change committed through either reaches the subscribers of both, in cursor
order, from the log (LISTEN/NOTIFY carries cursors only)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gql.auth import Role, issue_token
from gql.types.events import event_cursor
from tests.gql.live_support import EVENTS, SEATS, live_socket
from tests.support import free_port

SECRET = "replicas-test-secret-0123456789-0123456789-0123456789"


@pytest.fixture(scope="module")
def replicas(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[int]]]:
    """(tenant id, ports) of two servers started as `licensing serve` would be on two machines."""
    env = {**os.environ, "DATABASE_URL": database_url, "LICENSING_JWT_SECRET": SECRET,
           "LICENSING_LIFECYCLE_INTERVAL_SECONDS": "3600"}
    licensing = str(Path(sys.executable).with_name("licensing"))
    tid = f"r{os.getpid()}"
    subprocess.run([licensing, "tenants", "create", tid, "--name", "Replicas"], env=env, check=True, capture_output=True)
    logs = tmp_path_factory.mktemp("replicas")
    ports = [free_port(), free_port()]
    procs = [
        subprocess.Popen([licensing, "serve", "--port", str(port)], env=env, stdout=(logs / f"{port}.log").open("wb"),
                         stderr=subprocess.STDOUT)
        for port in ports
    ]
    try:
        deadline = time.monotonic() + 60
        for proc, port in zip(procs, ports, strict=True):
            while True:
                assert proc.poll() is None, (logs / f"{port}.log").read_text()
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, (logs / f"{port}.log").read_text()
                time.sleep(0.2)
        yield tid, ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def _call(client: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = (await client.post("/graphql", json={"query": query, "variables": variables})).json()
    assert "errors" not in body, body
    return body["data"]  # type: ignore[no-any-return]


async def test_r27_a_change_through_one_replica_reaches_subscribers_of_the_other(replicas: tuple[str, list[int]]) -> None:
    tid, (a, b) = replicas
    token = issue_token(SECRET, tid, f"admin@{tid}.example", [Role.GLOBAL_ADMINISTRATOR], ttl_seconds=600)
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{a}", headers=headers, timeout=10) as via_a,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{b}", headers=headers, timeout=10) as via_b,
        live_socket(b, token) as on_b,
        live_socket(a, token) as on_a,
    ):
        for ws in (on_a, on_b):
            await ws.subscribe("events", EVENTS, {"a": event_cursor(0)})  # from the tenant's first event: no race
            await ws.subscribe("seats", SEATS)
        # a subscribe has no acknowledgement: give the servers time to read the pools'
        # starting figures (a change before that is not news to a subscription)
        await asyncio.sleep(0.5)
        e3 = (await _call(via_a, "{ product(skuPartNumber: \"SPE_E3\") { id } }", {}))["product"]["id"]
        buy = "mutation($i: PurchaseSubscriptionInput!) { purchaseSubscription(input: $i) { errors { code } } }"
        assert (await _call(via_a, buy, {"i": {"productId": e3, "quantity": 3}}))["purchaseSubscription"]["errors"] == []
        assert (await on_b.data("seats", timeout=2))["seatsChanged"]["totalUnits"] == 3
        create = "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id } errors { code } } }"
        users = []
        for name, via in (("ann", via_a), ("bob", via_b)):
            made = await _call(via, create, {"i": {"userPrincipalName": f"{name}@{tid}.example", "displayName": name,
                                                   "usageLocation": "US", "licenses": [{"productId": e3}]}})
            users.append(made["createUser"]["user"]["id"])
        # ann's license committed through A, bob's through B: both sockets see both, in order
        got_b = await on_b.events("events", 2, timeout=2)
        got_a = await on_a.events("events", 2, timeout=2)
        assert got_a == got_b
        assert [(e["userId"], e["kind"]) for e in got_b] == [(users[0], "ADDED"), (users[1], "ADDED")]
        feed = await _call(via_b, "{ licenseEvents(first: 10) { edges { cursor } } }", {})
        assert [e["cursor"] for e in got_b] == [e["cursor"] for e in feed["licenseEvents"]["edges"]]
        assert (await on_a.data("seats"))["seatsChanged"]["totalUnits"] == 3
        assert [(await on_b.data("seats"))["seatsChanged"]["consumedUnits"] for _ in range(2)] == [1, 2]
