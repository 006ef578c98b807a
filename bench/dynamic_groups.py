"""Dynamic groups at scale: the dynamic-groups issue's targets, each next to a raw-SQL floor.

    .venv/bin/python -m bench.dynamic_groups [--runs 3] [--fresh]

On a seeded 1,000,000-user tenant that also holds 200 dynamic groups with realistic rules
(department and location, job-title prefixes), two of them licensed:
- `createGroup` with a rule matching ~110,000 users (floor: INSERT … SELECT of the same rows
  into a membership-shaped table), then `assignGroupLicenses` of 3 products to it (floor: the
  3 × members path rows), then the licenses removed and the group deleted (not timed);
- `membershipRulePreview` of that rule, p50 over 20 (floor: SELECT count(*) with the predicate);
- `updateUser` moving one user from a licensed dynamic group to another, p50 over 40 (floor: the
  UPDATE of the user's row);
- `licensing import users` of 10,000 new users (a process, from start to exit), who join the
  dynamic groups their attributes match, licenses included (floor: INSERT of 10,000 user rows).
Imported users stay: the tenant grows by 10,000 users per run (the bench reuses it as it is).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.engine import make_url

from bench.common import (
    Figure,
    GraphQL,
    bench_database,
    console,
    ensure_seeded,
    load_average,
    print_figures,
    running_server,
)
from db.seed import DEPARTMENTS, LOCATIONS
from services.ids import to_global_id

TENANT = "bench"
USERS = 1_000_000
PREFIX = "Dyn "
BIG_RULE = 'user.department -in ["Marketing", "Legal"]'  # 4/36 of the members: ~110,000 users
BIG_SQL = "lower(department COLLATE \"C\") IN ('marketing', 'legal')"
SKUS = ("SPE_E5", "EMSPREMIUM", "PROJECTPREMIUM")
SEATS = 400_000
TITLE_PREFIXES = ("Senior", "Sales", "Support", "Operations", "Product", "Research", "Marketing", "IT ")
LICENSED = (("Sales", "NO"), ("Support", "NO"))  # dynamic groups holding EMSPREMIUM: movers between them
IMPORTED = 10_000

CREATE = "mutation($i: CreateGroupInput!) { createGroup(input: $i) { group { id } errors { code message } } }"
ASSIGN = """
mutation($i: AssignGroupLicensesInput!) {
  assignGroupLicenses(input: $i) { errors { code message } changes { affectedUserCount errorCounts { code count } } }
}"""
DELETE = "mutation($i: DeleteGroupInput!) { deleteGroup(input: $i) { errors { code message } } }"
PREVIEW = "query($r: String!) { membershipRulePreview(rule: $r) { valid matchingCount sample(first: 20) { id } } }"
UPDATE_USER = "mutation($i: UpdateUserInput!) { updateUser(input: $i) { errors { code message } changes { affectedUserCount } } }"
PURCHASE = "mutation($i: PurchaseSubscriptionInput!) { purchaseSubscription(input: $i) { errors { code message } } }"


def rules() -> list[tuple[str, str]]:
    """The 200 dynamic groups: (name, rule)."""
    out = []
    locations = list(dict.fromkeys(LOCATIONS))[:16]
    for department, _weight, _titles in DEPARTMENTS:
        for location in locations:
            out.append((f"{PREFIX}{department} {location}",
                        f'user.department -eq "{department}" -and user.usageLocation -eq "{location}"'))
    for prefix in TITLE_PREFIXES:
        out.append((f"{PREFIX}title {prefix.strip()}", f'user.jobTitle -startsWith "{prefix}"'))
    return out[:200]


def _call(api: GraphQL, query: str, variables: dict[str, Any], field: str) -> tuple[float, dict[str, Any]]:
    ms, content = api.timed(query, variables)
    body = httpx.Response(200, content=content).json()
    if body.get("errors") or (isinstance(body["data"][field], dict) and body["data"][field].get("errors")):
        raise SystemExit(f"{field} failed: {body}")
    return ms, body["data"][field]


async def _setup(dsn: str, api: GraphQL) -> dict[str, str]:
    """The 200 dynamic groups (made through the API when missing), seats, and the two licensed
    groups. Returns product ids by SKU."""
    conn = await asyncpg.connect(dsn)
    try:
        have = {r["display_name"] for r in await conn.fetch(
            "SELECT display_name FROM groups WHERE tenant_id = $1 AND membership_rule IS NOT NULL", TENANT)}
        missing = [(n, r) for n, r in rules() if n not in have]
        if missing:
            progress = Progress(TextColumn("dynamic groups"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console)
            with progress:
                task = progress.add_task("groups", total=len(missing))
                for name, rule in missing:
                    _call(api, CREATE, {"i": {"displayName": name, "membershipRule": rule}}, "createGroup")
                    progress.advance(task)
        products = {r["sku_part_number"]: to_global_id("Product", r["id"]) for r in await conn.fetch(
            "SELECT id, sku_part_number FROM products WHERE sku_part_number = ANY($1::text[])", list(SKUS))}
        for sku in SKUS:
            total = await conn.fetchval(
                "SELECT coalesce(sum(s.quantity), 0) FROM subscriptions s JOIN products p ON p.id = s.product_id "
                "WHERE s.tenant_id = $1 AND p.sku_part_number = $2", TENANT, sku)
            if total < SEATS:
                _call(api, PURCHASE, {"i": {"productId": products[sku], "quantity": SEATS - total}}, "purchaseSubscription")
        for department, location in LICENSED:
            row = await conn.fetchrow(
                "SELECT g.id, EXISTS (SELECT 1 FROM group_licenses l WHERE l.tenant_id = g.tenant_id AND l.group_id = g.id) AS licensed "
                "FROM groups g WHERE g.tenant_id = $1 AND g.display_name = $2", TENANT, f"{PREFIX}{department} {location}")
            if not row["licensed"]:
                _call(api, ASSIGN, {"i": {"groupId": to_global_id("Group", row["id"]),
                                          "addLicenses": [{"productId": products["EMSPREMIUM"]}]}}, "assignGroupLicenses")
        stale = await conn.fetch("SELECT id FROM groups WHERE tenant_id = $1 AND display_name = 'Bench dynamic 100k'", TENANT)
        for r in stale:  # an interrupted earlier run
            await _drop_big(api, conn, to_global_id("Group", r["id"]))
        count = await conn.fetchval("SELECT count(*) FROM groups WHERE tenant_id = $1 AND membership_rule IS NOT NULL", TENANT)
        console.print(f"{count} dynamic groups; licensed: {', '.join(f'{d} {loc}' for d, loc in LICENSED)} (EMSPREMIUM)")
        return products
    finally:
        await conn.close()


async def _drop_big(api: GraphQL, conn: asyncpg.Connection, gid: str) -> None:
    from services.ids import from_global_id

    held = await conn.fetch("SELECT product_id FROM group_licenses WHERE tenant_id = $1 AND group_id = $2", TENANT,
                            from_global_id(gid).uuid())
    if held:
        _call(api, ASSIGN, {"i": {"groupId": gid, "removeProductIds": [to_global_id("Product", r["product_id"]) for r in held]}},
              "assignGroupLicenses")
    _call(api, DELETE, {"i": {"groupId": gid}}, "deleteGroup")


async def _drop(dsn: str, api: GraphQL, gid: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await _drop_big(api, conn, gid)
    finally:
        await conn.close()


async def _timed_sql(dsn: str, statements: list[str], *args: Any) -> float:
    """The last statement's time, inside a transaction that is rolled back."""
    conn = await asyncpg.connect(dsn)
    try:
        tx = conn.transaction()
        await tx.start()
        try:
            for sql in statements[:-1]:
                await conn.execute(sql, *args) if "$" in sql else await conn.execute(sql)
            started = time.perf_counter()
            await conn.execute(statements[-1], *args)
            return (time.perf_counter() - started) * 1000
        finally:
            await tx.rollback()
    finally:
        await conn.close()


MEMBERS_FLOOR = [
    "CREATE TEMP TABLE floor_members (tenant_id text, group_id uuid, user_id uuid, added_seq bigint, "
    "PRIMARY KEY (tenant_id, group_id, user_id)) ON COMMIT DROP",
    f"INSERT INTO floor_members SELECT tenant_id, gen_random_uuid(), id, created_seq FROM users WHERE tenant_id = $1 AND {BIG_SQL}",
]
PATHS_FLOOR = [
    "CREATE TEMP TABLE floor_paths (tenant_id text, user_id uuid, product_id uuid, group_id uuid, queue_seq bigint, "
    "state text, PRIMARY KEY (tenant_id, user_id, product_id, group_id)) ON COMMIT DROP",
    "INSERT INTO floor_paths SELECT u.tenant_id, u.id, p.id, gen_random_uuid(), u.created_seq, 'ACTIVE' "
    f"FROM users u CROSS JOIN products p WHERE u.tenant_id = $1 AND {BIG_SQL.replace('department', 'u.department')} "
    "AND p.sku_part_number IN ('SPE_E5', 'EMSPREMIUM', 'PROJECTPREMIUM')",
]
COUNT_FLOOR = [f"SELECT count(*) FROM users WHERE tenant_id = $1 AND {BIG_SQL}"]
USERS_FLOOR = [
    "CREATE TEMP TABLE floor_users (LIKE users INCLUDING ALL) ON COMMIT DROP",
    "INSERT INTO floor_users (tenant_id, id, user_principal_name, display_name, usage_location, department, created_seq) "
    "SELECT $1, gen_random_uuid(), 'floor' || g || '@bench.example', 'Floor ' || g, 'NO', 'Sales', g FROM generate_series(1, 10000) g",
]


def _write_import(path: Path, run: int) -> None:
    """10,000 new users, spread over departments and locations like the seed's."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["User name", "First name", "Last name", "Display name", "Job title", "Department", "Usage location"])
        departments = [d for d, weight, _t in DEPARTMENTS for _ in range(weight)]
        for i in range(IMPORTED):
            department = departments[i % len(departments)]
            location = LOCATIONS[(i * 7) % len(LOCATIONS)]
            w.writerow([f"imported{run}-{os.getpid()}-{i}@bench.example", "Imported", f"User {i}", f"Imported User {run}.{i}",
                        "Analyst", department, location])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--fresh", action="store_true", help="drop and re-seed the scratch database")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    url = bench_database(args.server_url, "licensing_bench_dynamic", fresh=args.fresh)
    ensure_seeded(url, TENANT, USERS, groups=200, at_least=True)
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    samples: dict[str, list[float]] = {k: [] for k in (
        "create", "create_floor", "assign", "assign_floor", "preview", "preview_floor", "move", "move_floor", "import", "import_floor")}
    with running_server(url) as server:
        api = GraphQL(server, server.token(TENANT, "bench-admin"))
        api.client.timeout = httpx.Timeout(600)
        products = asyncio.run(_setup(dsn, api))
        for run in range(args.runs):
            ms, created = _call(api, CREATE, {"i": {"displayName": "Bench dynamic 100k", "membershipRule": BIG_RULE}}, "createGroup")
            samples["create"].append(ms)
            samples["create_floor"].append(asyncio.run(_timed_sql(dsn, MEMBERS_FLOOR, TENANT)))
            gid = created["group"]["id"]
            ms, assigned = _call(api, ASSIGN, {"i": {"groupId": gid, "addLicenses": [{"productId": products[s]} for s in SKUS]}},
                                 "assignGroupLicenses")
            samples["assign"].append(ms)
            samples["assign_floor"].append(asyncio.run(_timed_sql(dsn, PATHS_FLOOR, TENANT)))
            console.print(f"run {run + 1}: group of {assigned['changes']['affectedUserCount']:,} users licensed; "
                          f"errors {assigned['changes']['errorCounts']}")

            asyncio.run(_drop(dsn, api, gid))
        for _ in range(22):
            ms, _ = _call(api, PREVIEW, {"r": BIG_RULE}, "membershipRulePreview")
            samples["preview"].append(ms)
            samples["preview_floor"].append(asyncio.run(_timed_sql(dsn, COUNT_FLOOR, TENANT)))
        samples["preview"], samples["preview_floor"] = samples["preview"][2:], samples["preview_floor"][2:]
        movers = asyncio.run(_movers(dsn))
        for i in range(42):
            user = movers[i % len(movers)]
            to = LICENSED[1][0] if (i // len(movers)) % 2 == 0 else LICENSED[0][0]
            ms, moved = _call(api, UPDATE_USER, {"i": {"userId": user, "department": to}}, "updateUser")
            if i >= 2:
                samples["move"].append(ms)
                samples["move_floor"].append(asyncio.run(_timed_sql(
                    dsn, ["UPDATE users SET department = 'Support' WHERE tenant_id = $1 AND id = $2::text::uuid"], TENANT, _uuid(user))))
            assert moved["changes"]["affectedUserCount"] >= 1, moved
        for run in range(args.runs):
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "users.csv"
                _write_import(path, run)
                env = {**os.environ, "DATABASE_URL": url}
                started = time.perf_counter()
                done = subprocess.run([str(Path(os.sys.executable).with_name("licensing")), "import", "users", str(path), "--tenant", TENANT],
                                      env=env, capture_output=True, text=True)
                samples["import"].append((time.perf_counter() - started) * 1000)
                if done.returncode != 0:
                    raise SystemExit(f"import failed: {done.stdout[-2000:]} {done.stderr[-2000:]}")
                samples["import_floor"].append(asyncio.run(_timed_sql(dsn, USERS_FLOOR, TENANT)))
        peak = server.peak_rss_mb()
    figures = [
        Figure("createGroup with a rule matching ~110,000 users", samples["create"], samples["create_floor"], 5000,
               note="floor: INSERT … SELECT of the matching users into a membership-shaped table"),
        Figure("… assignGroupLicenses of 3 products to it", samples["assign"], samples["assign_floor"], 5000,
               note="floor: INSERT … SELECT of 3 × members path rows"),
        Figure("membershipRulePreview of that rule (count + sample of 20)", samples["preview"], samples["preview_floor"], 300,
               note="floor: SELECT count(*) with the same predicate"),
        Figure("updateUser: a department change moving a user between two licensed dynamic groups", samples["move"],
               samples["move_floor"], 50, note="floor: the UPDATE of the user's row"),
        Figure(f"licensing import users of {IMPORTED:,} new users (the whole process)", samples["import"], samples["import_floor"],
               10_000, note="floor: INSERT of 10,000 user rows"),
    ]
    print_figures(f"Dynamic groups, tenant of {USERS:,}+ users with 200 dynamic groups", figures,
                  [f"server peak RSS {peak:.0f} MB", f"load average {load_average()}",
                   f"median preview {statistics.median(samples['preview']):.0f} ms"])


def _uuid(global_id: str) -> str:
    from services.ids import from_global_id

    return str(from_global_id(global_id).uuid())


async def _movers(dsn: str) -> list[str]:
    """20 members of the first licensed dynamic group (they move to the second and back)."""
    conn = await asyncpg.connect(dsn)
    try:
        department, location = LICENSED[0]
        rows = await conn.fetch(
            "SELECT id FROM users WHERE tenant_id = $1 AND department = $2 AND usage_location = $3 ORDER BY created_seq LIMIT 20",
            TENANT, department, location)
        return [to_global_id("User", r["id"]) for r in rows]
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
