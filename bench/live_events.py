"""Live updates (R27): how soon a committed change reaches many subscribers of one server.

    .venv/bin/python -m bench.live_events                      # 200 subscribers, 5 rounds
    .venv/bin/python -m bench.live_events --subscribers 500 --rounds 10

Starts `licensing serve` on a scratch database with a small tenant (one product, a few users),
connects N graphql-transport-ws sockets that each subscribe to `licenseEvents` and `seatsChanged`,
then, round after round, makes one assignment (or removes it again) and times, for every
subscriber, from sending the mutation to receiving its event — and its seatsChanged. Prints the
p50/p99/max of those, the mutation's own round trip, and the server's resident memory before
the subscribers came, with them, and at its peak. Target: every subscriber within 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from rich.table import Table
from websockets.asyncio.client import ClientConnection, connect

from bench.common import Server, bench_database, console, load_average, running_server
from db.repo import tenants
from db.session import Database

SUBSCRIBE_EVENTS = "subscription { licenseEvents { cursor kind } }"
SUBSCRIBE_SEATS = "subscription { seatsChanged { consumedUnits } }"
ASSIGN = "mutation($i: AssignLicensesInput!) { assignLicenses(input: $i) { errors { code } } }"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def subscriber(ws_url: str, token: str, ready: asyncio.Event, arrivals: dict[str, list[float]]) -> ClientConnection:
    ws = await connect(ws_url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "events", "type": "subscribe", "payload": {"query": SUBSCRIBE_EVENTS}}))
    await ws.send(json.dumps({"id": "seats", "type": "subscribe", "payload": {"query": SUBSCRIBE_SEATS}}))

    async def read() -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] != "next":
                raise SystemExit(f"unexpected message: {message}")
            arrivals[message["id"]].append(time.perf_counter())

    asyncio.get_running_loop().create_task(read())
    ready.set()
    return ws


async def call(client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    body = (await client.post("/graphql", json={"query": query, "variables": variables or {}})).json()
    if body.get("errors"):
        raise SystemExit(f"GraphQL errors: {body['errors']}")
    return body["data"]  # type: ignore[no-any-return]


async def measure(server: Server, tenant_id: str, args: argparse.Namespace) -> None:
    token = server.token(tenant_id, f"admin@{tenant_id}.example")
    async with httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        e3 = (await call(client, '{ product(skuPartNumber: "SPE_E3") { id } }'))["product"]["id"]
        await call(client, "mutation($i: PurchaseSubscriptionInput!) { purchaseSubscription(input: $i) { errors { code } } }",
                   {"i": {"productId": e3, "quantity": 10}})
        users = []
        for i in range(3):
            made = await call(client, "mutation($i: CreateUserInput!) { createUser(input: $i) { user { id } } }",
                              {"i": {"userPrincipalName": f"user{i}@{tenant_id}.example", "displayName": f"User {i}", "usageLocation": "US"}})
            users.append(made["createUser"]["user"]["id"])
        rss_before = rss_mb(server.pid)
        ws_url = server.base_url.replace("http://", "ws://") + "/graphql"
        per_socket = [{"events": [], "seats": []} for _ in range(args.subscribers)]
        sockets = []
        for arrivals in per_socket:  # one after another, as browsers would come
            ready = asyncio.Event()
            sockets.append(await subscriber(ws_url, token, ready, arrivals))  # type: ignore[arg-type]
        await asyncio.sleep(2)  # a subscribe has no acknowledgement: let every one take its starting point
        rss_with = rss_mb(server.pid)
        latencies: dict[str, list[float]] = {"events": [], "seats": []}
        round_trips: list[float] = []
        for r in range(args.rounds):
            for arrivals in per_socket:
                arrivals["events"].clear()
                arrivals["seats"].clear()
            change = {"userIds": [users[0]], "addLicenses": [{"productId": e3}]} if r % 2 == 0 else \
                {"userIds": [users[0]], "addLicenses": [], "removeProductIds": [e3]}
            sent = time.perf_counter()
            await call(client, ASSIGN, {"i": change})
            round_trips.append((time.perf_counter() - sent) * 1000)
            deadline = time.monotonic() + 10
            while any(len(a["events"]) < 1 or len(a["seats"]) < 1 for a in per_socket):
                if time.monotonic() > deadline:
                    missing = sum(1 for a in per_socket if not a["events"])
                    raise SystemExit(f"round {r}: {missing} subscribers got no event within 10 s")
                await asyncio.sleep(0.005)
            for arrivals in per_socket:
                latencies["events"].append((arrivals["events"][0] - sent) * 1000)
                latencies["seats"].append((arrivals["seats"][0] - sent) * 1000)
            await asyncio.sleep(0.3)
        rss_after = rss_mb(server.pid)
        for ws in sockets:
            await ws.close()

    table = Table(title=f"Live updates: {args.subscribers} subscribers × {args.rounds} rounds (one assignment each)",
                  title_justify="left")
    for column in ("measure", "samples", "p50 ms", "p99 ms", "max ms", "target"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for name, samples in (("licenseEvents: mutation sent → event received", latencies["events"]),
                          ("seatsChanged: mutation sent → product received", latencies["seats"]),
                          ("the mutation's round trip", round_trips)):
        table.add_row(name, str(len(samples)), f"{statistics.median(samples):.1f}", f"{percentile(samples, 0.99):.1f}",
                      f"{max(samples):.1f}", "≤ 1000" if "received" in name else "")
    console.print(table)
    console.print(f"server RSS: {rss_before:.0f} MB before the subscribers, {rss_with:.0f} MB with them "
                  f"({(rss_with - rss_before) * 1024 / args.subscribers:.0f} KB each), {rss_after:.0f} MB after the rounds, "
                  f"peak {server.peak_rss_mb():.0f} MB")
    console.print(f"load average {load_average()}")


async def run(args: argparse.Namespace) -> None:
    url = bench_database(args.server_url, "licensing_bench_live", fresh=True)
    tenant_id = f"live{uuid.uuid4().hex[:6]}"
    db = Database(url, pool_size=1)
    async with db.write() as conn:
        await tenants.create_tenant(conn, tenant_id, "Live updates", f"{tenant_id}.example", "US")
    await db.dispose()
    with running_server(url) as server:
        await measure(server, tenant_id, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--server-url", help="PostgreSQL server for the scratch database (BENCH_DATABASE_URL)",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
