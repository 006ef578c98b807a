"""Group-based licensing at large-tenant scale, against the real server over HTTP.

    .venv/bin/python -m bench.group_licensing [--server-url postgresql://…/postgres] [--database NAME] [--fresh] [--runs 3]

Seeds (once; reused afterwards) a 1,000,000-user tenant in database `licensing_bench_groups` (or `--database`),
makes a security group of 100,000 of its users (every tenth, in creation order), buys 150,000
seats each of three products nobody holds (Microsoft 365 E5, EMS E5, Project Online Premium),
starts `licensing serve` on a free port, and times, `--runs` times over:

- the dry run of giving the group the 3 products (assignGroupLicenses, dryRun: true);
- giving it the 3 products for real (300,000 paths, 300,000 seats), while another thread asks
  `/healthz` every 50 ms (its slowest answer is printed: the event loop must stay responsive);
- adding 10,000 more users to the group (30,000 paths), and removing them again;
- removing the 3 products from the group;

then, once, the group licensed again with `--subscribers` (default 200) graphql-transport-ws
clients subscribed to `licenseEvents` and `seatsChanged` on the same server: the server's RSS,
sampled every 100 ms from before the change until every subscriber has caught up or been ended
(SUBSCRIBER_TOO_SLOW, R27), against the license-events issue's 500 MB.

The floor is the issue's: a raw `INSERT … SELECT` of 3 × 100,000 rows into a path-shaped table
(tenant, user, product, group, state, time; primary key) in the same database — an ordinary,
WAL-logged table, created and rolled back in one transaction — timed between the API runs. The server's peak RSS (VmHWM) is printed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from typing import Any

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from bench.common import (
    Figure,
    GraphQL,
    Server,
    bench_database,
    console,
    ensure_seeded,
    load_average,
    print_figures,
    running_server,
)
from services.ids import to_global_id

TENANT = "bench"
USERS = 1_000_000
GROUP = "Bench licensing group"
MEMBERS_EVERY = 10  # every tenth user: 100,000 members
ADDED = 10_000
SKUS = ("SPE_E5", "EMSPREMIUM", "PROJECTPREMIUM")
SEATS = 150_000
# The mixed batch: one member in a hundred holds Microsoft 365 Audio Conferencing directly. Its
# plan needs Skype for Business Online (Plan 2) from another path (R7: E3 from All Staff, and
# E5 once the group is licensed), so the engine must judge those members, SQL the others. (A
# Yammer for Academic holder cannot be set up here: every seeded member holds E3's Yammer
# Enterprise, and D1 refuses the direct assignment.)
MIXED_SKU = "MCOMEETADV"
MIXED_EVERY = 100
ASSIGN_DIRECT = """
mutation($i: AssignLicensesInput!) { assignLicenses(input: $i) { errors { code message } } }"""

ASSIGN = """
mutation($i: AssignGroupLicensesInput!) {
  assignGroupLicenses(input: $i) {
    errors { code message }
    changes { dryRun affectedUserCount products { product { skuPartNumber } consumedBefore consumedAfter totalUnits }
              errorCounts { product { skuPartNumber } code count } }
  }
}"""
MEMBERS = """
mutation($i: GroupMembersInput!) {
  %s(input: $i) { errors { code message } changes { affectedUserCount products { product { skuPartNumber } consumedAfter } } }
}"""
PURCHASE = """
mutation($i: PurchaseSubscriptionInput!) { purchaseSubscription(input: $i) { errors { code message } subscription { id } } }"""
CREATE_GROUP = """
mutation($i: CreateGroupInput!) { createGroup(input: $i) { errors { code message } group { id } } }"""

HISTORY = 1_000_000  # license events kept from earlier invocations (see _trim_history)
FLOOR_TABLE = """
CREATE TABLE floor_paths (
    tenant_id text NOT NULL, user_id uuid NOT NULL, product_id uuid NOT NULL, group_id uuid NOT NULL,
    state text NOT NULL, updated_at timestamptz NOT NULL, PRIMARY KEY (tenant_id, user_id, product_id, group_id)
)"""
# the same number of event rows as the change appends (one per member and product), shaped
# and indexed like license_events
EVENTS_FLOOR_TABLE = """
CREATE TABLE floor_events (LIKE license_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)"""
EVENTS_FLOOR_INSERT = """
INSERT INTO floor_events (tenant_id, seq, occurred_at, kind, user_id, user_principal_name, product_id, holds_seat, paths,
                          group_ids, actor, audit_id)
SELECT m.tenant_id, row_number() OVER (), now(), 'ADDED', m.user_id, 'user@bench.example', p.id, true,
       jsonb_build_array(jsonb_build_object('g', m.group_id, 's', 'ACTIVE', 'c', NULL, 'm', NULL, 'd', '[]'::jsonb)),
       ARRAY[m.group_id], 'bench-admin', 1
FROM group_user_members m CROSS JOIN products p
WHERE m.tenant_id = $1 AND m.group_id = $2 AND p.sku_part_number = ANY($3::text[])"""
FLOOR_INSERT = """
INSERT INTO floor_paths
SELECT m.tenant_id, m.user_id, p.id, m.group_id, 'ACTIVE', now()
FROM group_user_members m CROSS JOIN products p
WHERE m.tenant_id = $1 AND m.group_id = $2 AND p.sku_part_number = ANY($3::text[])"""

# The same writes on the real tables, rolled back: the group's 300,000 paths, a license for each
# (user, product) without one, and the events, each a raw INSERT … SELECT. What index upkeep on
# tables of this size costs without any of the change's deciding (not the floor, which
# writes into empty tables; printed beside it).
TABLES_FLOOR = (
    """INSERT INTO license_paths (tenant_id, user_id, product_id, group_id, disabled_plan_ids, queue_seq, state, updated_at)
    SELECT m.tenant_id, m.user_id, p.id, m.group_id, '{}', nextval('order_seq'), 'ACTIVE', now()
    FROM group_user_members m CROSS JOIN products p
    WHERE m.tenant_id = $1 AND m.group_id = $2 AND p.sku_part_number = ANY($3::text[])
    ORDER BY m.user_id, p.id""",
    """INSERT INTO user_licenses (tenant_id, user_id, product_id, holds_seat, updated_at)
    SELECT m.tenant_id, m.user_id, p.id, true, now()
    FROM group_user_members m CROSS JOIN products p
    WHERE m.tenant_id = $1 AND m.group_id = $2 AND p.sku_part_number = ANY($3::text[])
    ORDER BY m.user_id, p.id
    ON CONFLICT DO NOTHING""",
    """INSERT INTO license_events (tenant_id, seq, occurred_at, kind, user_id, user_principal_name, product_id, holds_seat,
                                paths, group_ids, actor, audit_id)
    SELECT m.tenant_id, (SELECT event_seq FROM tenants WHERE id = $1) + row_number() OVER (), now(), 'ADDED', m.user_id,
           'user@bench.example', p.id, true,
           jsonb_build_array(jsonb_build_object('g', m.group_id, 's', 'ACTIVE', 'c', NULL, 'm', NULL, 'd', '[]'::jsonb)),
           ARRAY[m.group_id], 'bench-admin', 1
    FROM group_user_members m CROSS JOIN products p
    WHERE m.tenant_id = $1 AND m.group_id = $2 AND p.sku_part_number = ANY($3::text[])""",
)


async def _mixed_members(dsn: str, group_global_id: str) -> tuple[str, list[str]]:
    """The mixed batch's product (seats bought) and every MIXED_EVERY-th member of the group in the
    US who holds E3 (a direct license needs a usage location, and Audio Conferencing needs E3's
    Skype for Business Online, R7)."""
    from services.ids import from_global_id

    conn = await asyncpg.connect(dsn)
    try:
        product_id = await conn.fetchval("SELECT id FROM products WHERE sku_part_number = $1", MIXED_SKU)
        members = [to_global_id("User", r["user_id"]) for r in await conn.fetch(
            "SELECT m.user_id FROM group_user_members m JOIN users u ON u.tenant_id = m.tenant_id AND u.id = m.user_id "
            "WHERE m.tenant_id = $1 AND m.group_id = $2 AND u.usage_location = 'US' AND EXISTS ("
            "SELECT 1 FROM license_paths p JOIN products pr ON pr.id = p.product_id WHERE p.tenant_id = $1 "
            "AND p.user_id = u.id AND pr.sku_part_number = 'SPE_E3' AND p.state = 'ACTIVE') ORDER BY u.created_seq", TENANT, from_global_id(group_global_id).uuid())]
        return to_global_id("Product", product_id), members[:: MIXED_EVERY // 4]
    finally:
        await conn.close()


def _direct(api: GraphQL, users: list[str], product: str, *, add: bool) -> None:
    """Assign (or remove) a product directly, 20 users per call (R12)."""
    for start in range(0, len(users), 20):
        batch = {"userIds": users[start : start + 20]}
        batch.update({"addLicenses": [{"productId": product}]} if add else {"removeProductIds": [product]})
        _call(api, ASSIGN_DIRECT, {"i": batch}, "assignLicenses")


async def _trim_history(conn: asyncpg.Connection) -> None:
    """Every invocation starts from the same event history: the newest HISTORY events, the table
    compacted. Each run appends over a million events (nothing here is old enough for the
    retention job), and a log that grew from one invocation to the next made the figures drift."""
    count = await conn.fetchval("SELECT count(*) FROM license_events WHERE tenant_id = $1", TENANT)
    if count <= HISTORY:
        return
    await conn.execute(
        "DELETE FROM license_events WHERE tenant_id = $1 AND seq <= "
        "(SELECT max(seq) FROM license_events WHERE tenant_id = $1) - $2", TENANT, HISTORY)
    await conn.execute("VACUUM (FULL, ANALYZE) license_events")
    console.print(f"License events: kept the newest {HISTORY:,} of {count:,}, table compacted")


# the tables every run churns (each run writes and deletes about 1,500,000 paths and as many
# licenses)
CHURNED = ("license_paths", "user_licenses", "group_user_members", "group_licenses", "product_pools", "tenants")


async def _vacuum(dsn: str) -> None:
    """What autovacuum would have done by the next change (untimed): PostgreSQL runs it by
    default, with a table's dead rows past a fifth of its live ones — after every change here.
    The PostgreSQL this bench was measured on runs with autovacuum off, and without this the
    second run read the first one's 2,000,000 dead paths in every scan."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"VACUUM (ANALYZE) {', '.join(CHURNED)}")
    finally:
        await conn.close()


async def _setup(dsn: str, api: GraphQL) -> tuple[str, list[str], list[str]]:
    """The group (with its 100,000 members), the products' ids and the 10,000 users to add.
    Idempotent; also puts the group back as it should be if an earlier run was interrupted."""
    conn = await asyncpg.connect(dsn)
    try:
        products = {r["sku_part_number"]: r["id"] for r in await conn.fetch(
            "SELECT id, sku_part_number FROM products WHERE sku_part_number = ANY($1::text[])", list(SKUS))}
        group_id = await conn.fetchval("SELECT id FROM groups WHERE tenant_id = $1 AND display_name = $2", TENANT, GROUP)
        if group_id is None:
            created = api.data(CREATE_GROUP, {"i": {"displayName": GROUP, "securityEnabled": True}})["createGroup"]
            group_id = (await conn.fetchval("SELECT id FROM groups WHERE tenant_id = $1 AND display_name = $2", TENANT, GROUP))
            assert created["group"], created
        gid = to_global_id("Group", group_id)
        held = await conn.fetch(
            "SELECT product_id FROM group_licenses WHERE tenant_id = $1 AND group_id = $2", TENANT, group_id)
        if held:
            api.data(ASSIGN, {"i": {"groupId": gid, "removeProductIds": [to_global_id("Product", r["product_id"]) for r in held]}})
        ranked = """SELECT id, row_number() OVER (ORDER BY created_seq) AS rn FROM users WHERE tenant_id = $1"""
        await conn.execute(
            f"DELETE FROM group_user_members WHERE tenant_id = $1 AND group_id = $2 AND user_id IN "
            f"(SELECT id FROM ({ranked}) r WHERE r.rn % {MEMBERS_EVERY} <> 1)", TENANT, group_id)
        await conn.execute(
            f"INSERT INTO group_user_members (tenant_id, group_id, user_id) SELECT $1, $2, id FROM ({ranked}) r "
            f"WHERE r.rn % {MEMBERS_EVERY} = 1 ON CONFLICT DO NOTHING", TENANT, group_id)
        await conn.execute("ANALYZE group_user_members")
        await _trim_history(conn)
        added = [to_global_id("User", r["id"]) for r in await conn.fetch(
            f"SELECT id FROM ({ranked}) r WHERE r.rn % {MEMBERS_EVERY} = 2 ORDER BY rn LIMIT {ADDED}", TENANT)]
        for sku, product_id in products.items():
            total = await conn.fetchval(
                "SELECT coalesce(sum(quantity), 0) FROM subscriptions WHERE tenant_id = $1 AND product_id = $2", TENANT, product_id)
            if total < SEATS:
                bought = api.data(PURCHASE, {"i": {"productId": to_global_id("Product", product_id), "quantity": SEATS - total}})
                assert not bought["purchaseSubscription"]["errors"], (sku, bought)
        members = await conn.fetchval(
            "SELECT count(*) FROM group_user_members WHERE tenant_id = $1 AND group_id = $2", TENANT, group_id)
        console.print(f"Group {GROUP!r}: {members:,} members; adding {len(added):,} more; products {', '.join(SKUS)}")
        return gid, [to_global_id("Product", products[s]) for s in SKUS], added
    finally:
        await conn.close()


async def _timed_rollback(dsn: str, group_global_id: str, setup: tuple[str, ...], timed: tuple[str, ...]) -> float:
    """Milliseconds the `timed` statements (tenant, group, SKUs as $1–$3) take after `setup`, in
    one transaction rolled back: a floor."""
    from services.ids import from_global_id

    group_id = from_global_id(group_global_id).key
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            for statement in setup:
                await conn.execute(statement)
            started = time.perf_counter()
            for statement in timed:
                await conn.execute(statement, TENANT, group_id, list(SKUS))
            raise _Rollback((time.perf_counter() - started) * 1000)
    except _Rollback as done:
        return done.ms
    finally:
        await conn.close()


async def _floor(dsn: str, group_global_id: str) -> float:
    """The issue's floor: the path rows, raw, into an empty path-shaped table."""
    return await _timed_rollback(dsn, group_global_id, (FLOOR_TABLE,), (FLOOR_INSERT,))


async def _events_floor(dsn: str, group_global_id: str) -> float:
    """The floor with events: the path rows and the event rows, each one raw INSERT … SELECT."""
    return await _timed_rollback(dsn, group_global_id, (FLOOR_TABLE, EVENTS_FLOOR_TABLE), (FLOOR_INSERT, EVENTS_FLOOR_INSERT))


async def _tables_floor(dsn: str, group_global_id: str) -> float:
    """TABLES_FLOOR on the real tables (the group holds none of the products then)."""
    return await _timed_rollback(dsn, group_global_id, (), TABLES_FLOOR)


class _Rollback(Exception):
    def __init__(self, ms: float) -> None:
        self.ms = ms


class HealthWatch:
    """Asks /healthz every 50 ms in a thread; `slowest` is the longest answer while it ran."""

    def __init__(self, server: Server) -> None:
        self.url = f"{server.base_url}/healthz"
        self.slowest = 0.0
        self.answers = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set():
                started = time.perf_counter()
                ok = client.get(self.url).status_code == 200
                elapsed = (time.perf_counter() - started) * 1000
                if ok:
                    self.answers += 1
                    self.slowest = max(self.slowest, elapsed)
                self._stop.wait(0.05)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _call(api: GraphQL, query: str, variables: dict[str, Any], field: str) -> tuple[float, dict[str, Any]]:
    ms, content = api.timed(query, variables)
    body = httpx.Response(200, content=content).json()
    if body.get("errors") or body["data"][field]["errors"]:
        raise SystemExit(f"{field} failed: {body}")
    return ms, body["data"][field]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--fresh", action="store_true", help="drop and re-seed the scratch database")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--subscribers", type=int, default=200,
                        help="subscribers connected for the last, untimed licensing of the group (0: none)")
    parser.add_argument("--database", default="licensing_bench_groups",
                        help="the scratch database's name (seeded on first use; default %(default)s)")
    args = parser.parse_args()

    url = bench_database(args.server_url, args.database, fresh=args.fresh)
    ensure_seeded(url, TENANT, USERS, groups=200)
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with running_server(url) as server:
        api = GraphQL(server, server.token(TENANT, "bench-admin"))
        api.client.timeout = httpx.Timeout(600)
        gid, products, added = asyncio.run(_setup(dsn, api))
        add = {"i": {"groupId": gid, "addLicenses": [{"productId": p} for p in products]}}
        dry = {"i": {**add["i"], "dryRun": True}}
        remove = {"i": {"groupId": gid, "removeProductIds": products}}
        members = {"i": {"groupId": gid, "memberIds": added}}
        samples: dict[str, list[float]] = {
            k: [] for k in ("dry", "assign", "add", "removeMembers", "remove", "floor", "mixed", "events_floor", "tables_floor")
        }
        mixed_product, mixed_users = asyncio.run(_mixed_members(dsn, gid))
        bought = api.data(PURCHASE, {"i": {"productId": mixed_product, "quantity": len(mixed_users) + 10}})
        assert not bought["purchaseSubscription"]["errors"], bought
        slowest_health = 0.0
        for run in range(args.runs):
            asyncio.run(_vacuum(dsn))
            ms, payload = _call(api, ASSIGN, dry, "assignGroupLicenses")
            samples["dry"].append(ms)
            with HealthWatch(server) as watch:
                ms, payload = _call(api, ASSIGN, add, "assignGroupLicenses")
            samples["assign"].append(ms)
            slowest_health = max(slowest_health, watch.slowest)
            changes = payload["changes"]
            moved = {p["product"]["skuPartNumber"]: p["consumedAfter"] - p["consumedBefore"] for p in changes["products"]}
            console.print(f"run {run + 1}: assigned to {changes['affectedUserCount']:,} users, seats taken {moved}, "
                          f"errors {changes['errorCounts']}; /healthz answered {watch.answers} times, slowest {watch.slowest:.0f} ms")
            ms, _ = _call(api, MEMBERS % "addGroupMembers", members, "addGroupMembers")
            samples["add"].append(ms)
            ms, _ = _call(api, MEMBERS % "removeGroupMembers", members, "removeGroupMembers")
            samples["removeMembers"].append(ms)
            ms, _ = _call(api, ASSIGN, remove, "assignGroupLicenses")
            samples["remove"].append(ms)
            samples["floor"].append(asyncio.run(_floor(dsn, gid)))
            samples["events_floor"].append(asyncio.run(_events_floor(dsn, gid)))
            samples["tables_floor"].append(asyncio.run(_tables_floor(dsn, gid)))
            _direct(api, mixed_users, mixed_product, add=True)
            ms, payload = _call(api, ASSIGN, add, "assignGroupLicenses")
            samples["mixed"].append(ms)
            errors = {e["code"]: e["count"] for e in payload["changes"]["errorCounts"]}
            console.print(f"run {run + 1} (mixed): {len(mixed_users):,} members hold {MIXED_SKU}; errors {errors}")
            _call(api, ASSIGN, remove, "assignGroupLicenses")
            _direct(api, mixed_users, mixed_product, add=False)
        if args.subscribers:
            asyncio.run(_vacuum(dsn))
        subscribed = asyncio.run(_with_subscribers(server, api, add, args.subscribers)) if args.subscribers else []
        if args.subscribers:
            _call(api, ASSIGN, remove, "assignGroupLicenses")
        floor = samples["floor"]
        figures = [
            Figure("license a 100,000-member group with 3 products", samples["assign"], floor, 5000,
                   note="with its 300,000 license events (R25)"),
            Figure("… the same against a floor writing the paths and the events", samples["assign"], samples["events_floor"],
                   None, note="target ≤ 3 × this floor (license-events issue)"),
            Figure("… the same against the same raw writes into the real tables", samples["assign"], samples["tables_floor"],
                   None, note="paths, licenses, events: index upkeep on tables of this size, no deciding (rolled back)"),
            Figure("… its dry run", samples["dry"], floor, 3000),
            Figure("add 10,000 members to the group holding 3 licenses", samples["add"], floor, 1000,
                   note="floor: the 3 × 100,000-row INSERT (the 30,000 rows written are a tenth of it)"),
            Figure("… remove them again", samples["removeMembers"], floor, None),
            Figure("remove the 3 licenses from the 100,000-member group", samples["remove"], floor, 5000),
            Figure(f"license the group, 1 % of members needing the engine ({MIXED_SKU})", samples["mixed"], floor,
                   None, note=f"target ≤ 1.5 × the clean batch: {1.5 * _median(samples['assign']):,.0f} ms"),
        ]
        print_figures(
            f"Group-based licensing, tenant of {USERS:,} users (floor: INSERT … SELECT of 3 × 100,000 path rows)",
            figures,
            [f"/healthz during the real assignments: slowest answer {slowest_health:.0f} ms",
             *subscribed, f"server peak RSS {server.peak_rss_mb():.0f} MB (target ≤ 500 MB)", f"load average {load_average()}"],
        )


async def _with_subscribers(server: Server, api: GraphQL, add: dict[str, Any], n: int) -> list[str]:
    """License the group with `n` subscribers connected; the lines to print."""
    import json

    from websockets.asyncio.client import connect

    from bench.live_events import rss_mb

    token = server.token(TENANT, "bench-admin")
    ws_url = server.base_url.replace("http://", "ws://") + "/graphql"
    received = [0] * n
    ended: dict[str, int] = {}
    sockets = []
    readers = []

    async def read(index: int, ws: Any) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "next" and message["id"] == "events":
                received[index] += 1
            elif message["type"] in ("error", "complete"):
                codes = [e.get("extensions", {}).get("code", "?") for e in message.get("payload") or []] or [message["type"]]
                for code in codes:
                    ended[code] = ended.get(code, 0) + 1
                if message["id"] == "events":
                    return

    for index in range(n):
        ws = await connect(ws_url, subprotocols=["graphql-transport-ws"], max_queue=None)  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "events", "type": "subscribe", "payload": {"query": "subscription { licenseEvents { cursor kind } }"}}))
        await ws.send(json.dumps({"id": "seats", "type": "subscribe", "payload": {"query": "subscription { seatsChanged { consumedUnits } }"}}))
        sockets.append(ws)
        readers.append(asyncio.get_running_loop().create_task(read(index, ws)))
    await asyncio.sleep(2)  # every subscription takes its starting point
    rss_with = rss_mb(server.pid)
    peak = rss_with
    change = asyncio.get_running_loop().run_in_executor(None, _call, api, ASSIGN, add, "assignGroupLicenses")
    started = time.perf_counter()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        peak = max(peak, rss_mb(server.pid))
        if change.done() and all(r.done() or received[i] >= 300_000 for i, r in enumerate(readers)):
            break
        await asyncio.sleep(0.1)
    ms, _ = await change
    settled = (time.perf_counter() - started) * 1000
    for ws in sockets:
        await ws.close()
    for reader in readers:
        reader.cancel()
    caught_up = sum(1 for count in received if count >= 300_000)
    return [
        f"with {n} subscribers (licenseEvents + seatsChanged) connected: licensing the group took {ms:,.0f} ms; "
        f"server RSS {rss_with:.0f} MB with them before the change, peak {peak:.0f} MB until all had caught up or "
        f"were ended ({settled / 1000:.0f} s; target ≤ 500 MB)",
        f"… subscribers: {caught_up} received all 300,000 events, ended: {ended or 'none'}; "
        f"{sum(received):,} events delivered in all",
    ]


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


if __name__ == "__main__":
    main()
