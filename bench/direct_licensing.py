"""Direct licensing and the pages an admin opens most, against the real server over HTTP.

    .venv/bin/python -m bench.direct_licensing [--server-url postgresql://…/postgres] [--fresh]

Seeds (once; reused afterwards) a 100,000-user tenant in database `licensing_bench`, with 9
add-on products licensed directly to every member so the tenant holds over 1,000,000
licenses, starts `licensing serve` on a free port, and prints p50/p90 of many runs for:

- assignLicenses, 20 users × 3 products (ADD), and the same call removing them again;
- the Licenses page (`products { totalUnits consumedUnits availableUnits prepaidUnits }`);
- `users(first: 50)` with licenses (product, state) and the first 10 groups, and the same with
  every license's `enabledServicePlans`.

Each is compared with its floor: the raw SQL (asyncpg, one connection, prepared statements)
that reads or writes the same rows, run alternately with the API call so both see the same
machine load. Figures are medians of many runs; the machine's load average is printed too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
from sqlalchemy.engine import make_url

from bench.common import (
    Figure,
    GraphQL,
    bench_database,
    console,
    ensure_seeded,
    interleaved,
    load_average,
    print_figures,
    running_server,
)
from db.models import DIRECT
from db.session import TENANT_LOCK_NAMESPACE
from services.ids import to_global_id

TENANT = "bench"
ASSIGNED = ("PROJECTPROFESSIONAL", "VISIOCLIENT", "MCOEV")  # bought by the seed, assigned to nobody

ASSIGN = """
mutation($i: AssignLicensesInput!) {
  assignLicenses(input: $i) {
    users { id }
    errors { code message }
    changes { affectedUserCount products { product { skuPartNumber } consumedBefore consumedAfter totalUnits } }
  }
}"""
LICENSES_PAGE = """
{ products { id skuPartNumber displayName totalUnits consumedUnits availableUnits prepaidUnits { enabled warning suspended } } }"""
USERS_PAGE = """
{ users(first: 50) { edges { node { id displayName userPrincipalName
    licenses { product { skuPartNumber } state }
    memberOf(first: 10) { edges { node { displayName } } } } } } }"""
USERS_PAGE_PLANS = """
{ users(first: 50) { edges { node { id displayName userPrincipalName
    licenses { product { skuPartNumber } state enabledServicePlans { servicePlanName } }
    memberOf(first: 10) { edges { node { displayName } } } } } } }"""


# ------------------------------------------------------------------------------------ floors
# The same rows the server reads or writes, as plain SQL on one asyncpg connection.

async def _read_only(conn: asyncpg.Connection, work: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await work()
    return (time.perf_counter() - started) * 1000


async def licenses_page_floor(conn: asyncpg.Connection) -> float:
    async def work() -> None:
        await conn.fetch(
            "SELECT id, product_id, quantity, is_trial, is_self_service, purchased_by, starts_at, term_starts_at, "
            "term_ends_at, recurring_billing, cancelled_at FROM subscriptions WHERE tenant_id = $1 ORDER BY created_seq",
            TENANT,
        )
        await conn.fetch("SELECT product_id, consumed FROM product_pools WHERE tenant_id = $1", TENANT)

    return await _read_only(conn, work)


async def users_page_floor(conn: asyncpg.Connection, *, plans: bool) -> float:
    async def work() -> None:
        users = await conn.fetch(
            "SELECT id, user_principal_name, display_name, mail, user_type, usage_location, account_enabled, department, "
            "job_title, created_at, created_seq, lower(display_name) COLLATE \"C\" AS sort FROM users WHERE tenant_id = $1 "
            "ORDER BY lower(display_name) COLLATE \"C\", id LIMIT 51",
            TENANT,
        )
        ids = [u["id"] for u in users[:50]]
        await conn.fetch(
            "SELECT user_id, product_id, group_id, disabled_plan_ids, state, error_code, error_message, updated_at, queue_seq "
            "FROM license_paths WHERE tenant_id = $1 AND user_id = ANY($2::uuid[])",
            TENANT, ids,
        )
        await conn.fetch(
            "SELECT user_id, product_id FROM user_licenses WHERE tenant_id = $1 AND user_id = ANY($2::uuid[]) AND holds_seat",
            TENANT, ids,
        )
        await conn.fetch(
            "SELECT u.uid, g.* FROM unnest($2::uuid[]) AS u(uid) CROSS JOIN LATERAL (SELECT gr.id, gr.display_name, "
            "gr.description, gr.security_enabled, gr.created_at FROM group_user_members m JOIN groups gr "
            "ON gr.tenant_id = m.tenant_id AND gr.id = m.group_id WHERE m.tenant_id = $1 AND m.user_id = u.uid "
            "ORDER BY lower(gr.display_name) COLLATE \"C\", gr.id LIMIT 11) g",
            TENANT, ids,
        )
        if plans:  # every enabled plan of every license, as rows: the union over ACTIVE paths (R5)
            await conn.fetch(
                "SELECT DISTINCT p.user_id, p.product_id, sp.name FROM license_paths p "
                "JOIN product_service_plans psp ON psp.product_id = p.product_id "
                "JOIN service_plans sp ON sp.id = psp.service_plan_id "
                "WHERE p.tenant_id = $1 AND p.user_id = ANY($2::uuid[]) AND p.state = 'ACTIVE' "
                "AND NOT psp.service_plan_id = ANY(p.disabled_plan_ids)",
                TENANT, ids,
            )

    return await _read_only(conn, work)


async def _license_change_reads(conn: asyncpg.Connection, users: list[uuid.UUID], products: list[uuid.UUID]) -> None:
    """What a direct change reads under its locks (D21): tenant lock, facts of the users, pool rows."""
    await conn.execute("SET LOCAL lock_timeout = 10000")
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", TENANT_LOCK_NAMESPACE, TENANT)
    await conn.fetch("SELECT default_usage_location FROM tenants WHERE id = $1", TENANT)
    await conn.fetch("SELECT id, usage_location, created_seq FROM users WHERE tenant_id = $1 AND id = ANY($2::uuid[])", TENANT, users)
    await conn.fetch(
        "SELECT user_id, product_id, group_id, disabled_plan_ids, queue_seq, state, error_code, error_message, "
        "subscription_id, updated_at FROM license_paths WHERE tenant_id = $1 AND user_id = ANY($2::uuid[])",
        TENANT, users,
    )
    await conn.fetch(
        "SELECT user_id, product_id, subscription_id FROM user_licenses WHERE tenant_id = $1 AND user_id = ANY($2::uuid[]) "
        "AND holds_seat",
        TENANT, users,
    )
    await conn.fetch(
        "SELECT product_id, consumed FROM product_pools WHERE tenant_id = $1 AND product_id = ANY($2::uuid[]) "
        "ORDER BY product_id FOR UPDATE",
        TENANT, products,
    )
    await conn.fetch("SELECT id, product_id, quantity, term_starts_at, term_ends_at FROM subscriptions WHERE tenant_id = $1", TENANT)


async def assign_floor(conn: asyncpg.Connection, users: list[uuid.UUID], products: list[uuid.UUID]) -> float:
    started = time.perf_counter()
    async with conn.transaction():
        await _license_change_reads(conn, users, products)
        await conn.execute(
            "INSERT INTO license_paths (tenant_id, user_id, product_id, group_id, queue_seq, state) "
            "SELECT $1, u, p, $4, nextval('order_seq'), 'ACTIVE' FROM unnest($2::uuid[]) u CROSS JOIN unnest($3::uuid[]) p",
            TENANT, users, products, DIRECT,
        )
        await conn.execute(
            "INSERT INTO user_licenses (tenant_id, user_id, product_id, holds_seat) "
            "SELECT $1, u, p, true FROM unnest($2::uuid[]) u CROSS JOIN unnest($3::uuid[]) p "
            "ON CONFLICT (tenant_id, user_id, product_id) DO UPDATE SET holds_seat = true",
            TENANT, users, products,
        )
        await conn.execute(
            "UPDATE product_pools SET consumed = consumed + $3 WHERE tenant_id = $1 AND product_id = ANY($2::uuid[])",
            TENANT, products, len(users),
        )
        await conn.execute(AUDIT_FLOOR, TENANT)
        await conn.execute(EVENTS_FLOOR, TENANT, users, products)
    return (time.perf_counter() - started) * 1000


# the audit event and the license events (one per user and product, R25) the service appends too
AUDIT_FLOOR = """
WITH n AS (UPDATE tenants SET audit_seq = audit_seq + 1 WHERE id = $1 RETURNING audit_seq)
INSERT INTO audit_events (tenant_id, id, occurred_at, actor, action, summary) SELECT $1, n.audit_seq, now(), 'bench', 'floor', 'floor' FROM n"""
EVENTS_FLOOR = """
WITH k AS (SELECT u, p, row_number() OVER () AS rn FROM unnest($2::uuid[]) u CROSS JOIN unnest($3::uuid[]) p),
b AS (UPDATE tenants SET event_seq = event_seq + (SELECT count(*) FROM k) WHERE id = $1
      RETURNING event_seq - (SELECT count(*) FROM k) AS first)
INSERT INTO license_events (tenant_id, seq, occurred_at, kind, user_id, user_principal_name, product_id, holds_seat, paths, actor)
SELECT $1, b.first + k.rn, now(), 'ADDED', k.u, 'floor@bench.example', k.p, true, '[]', 'bench' FROM k CROSS JOIN b"""


async def remove_floor(conn: asyncpg.Connection, users: list[uuid.UUID], products: list[uuid.UUID]) -> float:
    started = time.perf_counter()
    async with conn.transaction():
        await _license_change_reads(conn, users, products)
        await conn.execute(
            "DELETE FROM license_paths WHERE tenant_id = $1 AND user_id = ANY($2::uuid[]) AND product_id = ANY($3::uuid[])",
            TENANT, users, products,
        )
        await conn.execute(
            "DELETE FROM user_licenses WHERE tenant_id = $1 AND user_id = ANY($2::uuid[]) AND product_id = ANY($3::uuid[])",
            TENANT, users, products,
        )
        await conn.execute(
            "UPDATE product_pools SET consumed = consumed - $3 WHERE tenant_id = $1 AND product_id = ANY($2::uuid[])",
            TENANT, products, len(users),
        )
        await conn.execute(AUDIT_FLOOR, TENANT)
        await conn.execute(EVENTS_FLOOR, TENANT, users, products)
    return (time.perf_counter() - started) * 1000


# ------------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server-url", default=os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="a PostgreSQL server where the scratch database may be created")
    parser.add_argument("--database", default="licensing_bench")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--add-ons", type=int, default=9, help="products licensed directly to every member (licenses)")
    parser.add_argument("--runs", type=int, default=100, help="measured runs of each read (after 10 warm-up runs)")
    parser.add_argument("--mutation-runs", type=int, default=60, help="measured assign/remove pairs (after 5 warm-up pairs)")
    parser.add_argument("--fresh", action="store_true", help="drop and re-seed the scratch database")
    args = parser.parse_args()

    url = bench_database(args.server_url, args.database, fresh=args.fresh)
    ensure_seeded(url, TENANT, args.users, add_ons=args.add_ons)
    loop = asyncio.new_event_loop()
    conn: asyncpg.Connection = loop.run_until_complete(asyncpg.connect(make_url(url).render_as_string(hide_password=False)))

    def floor(work: Callable[[], Awaitable[float]]) -> Callable[[], float]:
        return lambda: loop.run_until_complete(work())

    licenses = loop.run_until_complete(conn.fetchval("SELECT count(*) FROM user_licenses WHERE tenant_id = $1", TENANT))
    picked = [r["id"] for r in loop.run_until_complete(conn.fetch(
        "SELECT id FROM users WHERE tenant_id = $1 AND user_type = 'MEMBER' ORDER BY created_seq OFFSET 5000 LIMIT 20", TENANT
    ))]
    product_ids = [r["id"] for r in loop.run_until_complete(conn.fetch(
        "SELECT id FROM products WHERE sku_part_number = ANY($1::text[]) ORDER BY id", list(ASSIGNED)
    ))]
    figures: list[Figure] = []
    with running_server(url) as server:
        api = GraphQL(server, server.token(TENANT, "admin@bench.example"))
        assign_input = {"userIds": [to_global_id("User", u) for u in picked],
                        "addLicenses": [{"productId": to_global_id("Product", p)} for p in product_ids]}
        remove_input = {"userIds": assign_input["userIds"], "removeProductIds": [to_global_id("Product", p) for p in product_ids]}
        first = api.data(ASSIGN, {"i": assign_input})["assignLicenses"]
        if first["errors"]:
            raise SystemExit(f"assignLicenses refused: {first['errors']}")
        api.data(ASSIGN, {"i": remove_input})

        console.print(f"Server pid {server.pid}; load average {load_average()}")
        assign_ms: list[float] = []
        remove_ms: list[float] = []
        assign_floor_ms: list[float] = []
        remove_floor_ms: list[float] = []
        for i in range(5 + args.mutation_runs):
            a, body = api.timed(ASSIGN, {"i": assign_input})
            r, _ = api.timed(ASSIGN, {"i": remove_input})
            if json.loads(body)["data"]["assignLicenses"]["errors"]:
                raise SystemExit(f"assignLicenses refused: {body[:400]!r}")
            fa = loop.run_until_complete(assign_floor(conn, picked, product_ids))
            fr = loop.run_until_complete(remove_floor(conn, picked, product_ids))
            if i >= 5:
                assign_ms.append(a)
                remove_ms.append(r)
                assign_floor_ms.append(fa)
                remove_floor_ms.append(fr)
        figures.append(Figure("assignLicenses 20 users × 3 products (ADD)", assign_ms, assign_floor_ms, 60))
        figures.append(Figure("assignLicenses removing them again", remove_ms, remove_floor_ms))

        page = interleaved(lambda: api.timed(LICENSES_PAGE)[0], floor(lambda: licenses_page_floor(conn)), args.runs, 10)
        figures.append(Figure("Licenses page (products, seat counts)", *page, 10, note=f"{licenses:,} licenses assigned"))

        users = interleaved(lambda: api.timed(USERS_PAGE)[0], floor(lambda: users_page_floor(conn, plans=False)), args.runs, 10)
        figures.append(Figure("users(first: 50) + licenses + memberOf(first: 10)", *users, 40))

        body = api.data(USERS_PAGE_PLANS)
        plan_objects = sum(len(lic["enabledServicePlans"]) for e in body["users"]["edges"] for lic in e["node"]["licenses"])
        license_objects = sum(len(e["node"]["licenses"]) for e in body["users"]["edges"])
        with_plans = interleaved(lambda: api.timed(USERS_PAGE_PLANS)[0], floor(lambda: users_page_floor(conn, plans=True)),
                                 args.runs, 10)
        figures.append(Figure("… with enabledServicePlans { servicePlanName }", *with_plans, 100,
                              note=f"{license_objects} licenses, {plan_objects:,} plan objects"))
        peak = server.peak_rss_mb()
    loop.run_until_complete(conn.close())
    loop.close()
    print_figures(
        f"Direct licensing, tenant of {args.users:,} users over HTTP (median of many runs)",
        figures,
        [f"Server peak RSS (VmHWM): {peak:.0f} MB", f"Load average at the end: {load_average()}"],
    )


if __name__ == "__main__":
    main()
