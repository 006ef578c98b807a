"""An identity provider's initial SCIM sync, against the real server over HTTP (issue 12, R29).

    .venv/bin/python -m bench.scim_sync [--server-url postgresql://…/postgres] [--users 100000] [--groups 500]

In a fresh database `licensing_bench_scim`: a tenant with a SCIM token and 20,000 EMS seats;
`licensing serve` on a free port. Then, as Entra's client does it:

1. every user by one POST /Users (with a work address, so a usage location), 8 connections at once;
2. the groups by POST /Groups, then their members by PATCH (`add` with `--users / --groups`
   values each), 8 at once;
3. a licensed group (EMS through GraphQL), and one PATCH adding 10,000 members to it, timed
   (target ≤ 2 s), checked through GraphQL (10,000 seats consumed).

Prints the wall time of the sync (target ≤ 10 minutes for 100,000 users and 500 groups), the
request rates and p50/p90/max latencies, and the error count (target 0).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.common import GraphQL, bench_database, console, load_average, running_server
from db.clock import SystemClock
from db.repo import tenants
from db.session import Database
from db.urls import libpq_url
from services.ids import to_global_id
from services.scim_tokens import create_token

TENANT = "scimbench"
MEDIA = "application/scim+json"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
CONCURRENCY = 8
LICENSED_MEMBERS = 10_000
SEATS = 20_000
PURCHASE = """
mutation($i: PurchaseSubscriptionInput!) { purchaseSubscription(input: $i) { errors { code message } subscription { id } } }"""
ASSIGN = """
mutation($i: AssignGroupLicensesInput!) { assignGroupLicenses(input: $i) { errors { code message } } }"""
SEATS_QUERY = "query { product(skuPartNumber: \"EMS\") { id consumedUnits } }"


async def _prepare(url: str) -> str:
    db = Database(url)
    try:
        async with db.write() as conn:
            await tenants.create_tenant(conn, TENANT, "SCIM bench", f"{TENANT}.example", None)
        return (await create_token(db, SystemClock(), TENANT, "bench", None)).secret
    finally:
        await db.dispose()


class Timings:
    def __init__(self) -> None:
        self.ms: list[float] = []
        self.errors: list[str] = []

    def line(self, name: str, wall: float) -> str:
        if not self.ms:
            return f"{name}: nothing sent"
        ordered = sorted(self.ms)
        p90 = ordered[int(0.9 * (len(ordered) - 1))]
        return (f"{name}: {len(self.ms):,} requests in {wall:.1f} s ({len(self.ms) / wall:,.0f}/s); "
                f"p50 {statistics.median(ordered):.1f} ms, p90 {p90:.1f} ms, max {ordered[-1]:.1f} ms; errors {len(self.errors)}")


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> tuple[float, float]:
    """(busy, all) CPU seconds of the whole machine so far (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick


def _process_tree(pid: int) -> list[int]:
    """The process and its children (the workers of `--workers N`)."""
    found = [pid]
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


class Cpu:
    """CPU seconds of each phase: the server's processes, PostgreSQL's backends serving the
    bench database, and this client (which shares the machine with both)."""

    def __init__(self, server_pid: int, database_url: str) -> None:
        self.server_pid = server_pid
        self.url = libpq_url(database_url)
        self.used: dict[str, tuple[float, float, float, float]] = {}
        self._start: dict[int, float] = {}
        self._machine = (0.0, 0.0)

    async def _pids(self) -> tuple[list[int], list[int]]:
        conn = await asyncpg.connect(self.url)
        try:
            rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        finally:
            await conn.close()
        return _process_tree(self.server_pid), [r[0] for r in rows]

    async def start(self) -> None:
        server, backends = await self._pids()
        self._start = {p: _cpu_seconds(p) for p in [*server, *backends, os.getpid()]}
        self._machine = _machine_busy()

    async def stop(self, name: str) -> None:
        server, backends = await self._pids()

        def used(pids: list[int]) -> float:
            return sum(_cpu_seconds(p) - self._start.get(p, 0.0) for p in pids)

        busy, _ = _machine_busy()
        self.used[name] = (used(server), used(backends), used([os.getpid()]), busy - self._machine[0])

    def line(self, name: str, requests: int, wall: float) -> str:
        server, pg, client, machine = self.used[name]
        per = 1000 / max(1, requests)
        return (f"  CPU per request: server {server * per:.2f} ms, PostgreSQL {pg * per:.2f} ms, client {client * per:.2f} ms "
                f"(cores busy: server {server / wall:.2f}, PostgreSQL {pg / wall:.2f}, client {client / wall:.2f}; "
                f"whole machine {machine / wall:.2f} of {os.cpu_count()})")


async def _send(client: httpx.AsyncClient, timings: Timings, method: str, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
    started = time.perf_counter()
    response = await client.request(method, path, json=body)
    timings.ms.append((time.perf_counter() - started) * 1000)
    if response.status_code >= 300:
        timings.errors.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
        return None
    return response.json() if response.content else {}


async def _pool(jobs: list[Any], work: Any) -> None:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def worker() -> None:
        while not queue.empty():
            await work(queue.get_nowait())

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def _sync(base_url: str, token: str, users: int, groups: int, cpu: Cpu) -> tuple[list[str], dict[str, Timings], dict[str, float]]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": MEDIA, "Accept": MEDIA}
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    timings = {"POST /Users": Timings(), "POST /Groups": Timings(), "PATCH /Groups members": Timings()}
    walls: dict[str, float] = {}
    ids: list[str] = [""] * users
    async with httpx.AsyncClient(base_url=f"{base_url}/scim/v2", headers=headers, limits=limits, timeout=120) as client:
        async def post_user(i: int) -> None:
            body = {
                "schemas": [USER], "userName": f"user{i:06d}@{TENANT}.example", "externalId": str(uuid.uuid4()),
                "displayName": f"User {i:06d}", "active": True, "name": {"givenName": "User", "familyName": f"{i:06d}"},
                "emails": [{"value": f"user{i:06d}@{TENANT}.example", "type": "work", "primary": True}],
                "addresses": [{"type": "work", "country": ("NO", "SE", "US", "DE")[i % 4]}],
            }
            created = await _send(client, timings["POST /Users"], "POST", "/Users", body)
            if created:
                ids[i] = created["id"]

        await cpu.start()
        started = time.perf_counter()
        await _pool(list(range(users)), post_user)
        walls["POST /Users"] = time.perf_counter() - started
        await cpu.stop("POST /Users")

        group_ids: list[str] = [""] * groups

        async def post_group(g: int) -> None:
            created = await _send(client, timings["POST /Groups"], "POST", "/Groups",
                                  {"schemas": [GROUP], "displayName": f"Group {g:03d}", "externalId": str(uuid.uuid4())})
            if created:
                group_ids[g] = created["id"]

        await cpu.start()
        started = time.perf_counter()
        await _pool(list(range(groups)), post_group)
        walls["POST /Groups"] = time.perf_counter() - started
        await cpu.stop("POST /Groups")

        per_group = max(1, users // max(1, groups))

        async def patch_group(g: int) -> None:
            members = [{"value": i} for i in ids[g * per_group:(g + 1) * per_group] if i]
            if group_ids[g] and members:
                await _send(client, timings["PATCH /Groups members"], "PATCH", f"/Groups/{group_ids[g]}",
                            {"schemas": [PATCH_OP], "Operations": [{"op": "Add", "path": "members", "value": members}]})

        await cpu.start()
        started = time.perf_counter()
        await _pool(list(range(groups)), patch_group)
        walls["PATCH /Groups members"] = time.perf_counter() - started
        await cpu.stop("PATCH /Groups members")
    return [i for i in ids if i], timings, walls


def _licensed_patch(base_url: str, token: str, api: GraphQL, user_ids: list[str]) -> tuple[float, int, int]:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": MEDIA, "Accept": MEDIA}
    with httpx.Client(base_url=f"{base_url}/scim/v2", headers=headers, timeout=600) as client:
        created = client.post("/Groups", json={"schemas": [GROUP], "displayName": "Licensed"})
        created.raise_for_status()
        group = created.json()["id"]
        product = api.data(SEATS_QUERY)["product"]
        bought = api.data(PURCHASE, {"i": {"productId": product["id"], "quantity": SEATS}})
        assert not bought["purchaseSubscription"]["errors"], bought
        assigned = api.data(ASSIGN, {"i": {"groupId": to_global_id("Group", uuid.UUID(group)), "addLicenses": [{"productId": product["id"]}]}})
        assert not assigned["assignGroupLicenses"]["errors"], assigned
        members = [{"value": i} for i in user_ids[:LICENSED_MEMBERS]]
        started = time.perf_counter()
        response = client.patch(f"/Groups/{group}", json={"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": members}]})
        elapsed = time.perf_counter() - started
        consumed = api.data(SEATS_QUERY)["product"]["consumedUnits"]
    return elapsed, response.status_code, consumed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=500)
    parser.add_argument("--workers", type=int, default=1, help="`licensing serve --workers N` (default 1)")
    parser.add_argument("--database", default="licensing_bench_scim", help="the scratch database (dropped and re-created)")
    args = parser.parse_args()

    url = bench_database(args.server_url, args.database, fresh=True)
    token = asyncio.run(_prepare(url))
    with running_server(url, ["--workers", str(args.workers)] if args.workers > 1 else []) as server:
        api = GraphQL(server, server.token(TENANT, "bench-admin"))
        api.client.timeout = httpx.Timeout(600)
        console.print(f"Initial sync: {args.users:,} users, {args.groups:,} groups, {CONCURRENCY} connections, "
                      f"{args.workers} server worker process(es); load {load_average()}")
        started = time.perf_counter()
        cpu = Cpu(server.pid, url)
        user_ids, timings, walls = asyncio.run(_sync(server.base_url, token, args.users, args.groups, cpu))
        total = time.perf_counter() - started
        for name, timing in timings.items():
            console.print(timing.line(name, walls[name]))
            if timing.ms:
                console.print(cpu.line(name, len(timing.ms), walls[name]))
            for error in timing.errors[:5]:
                console.print(f"  [red]{error}[/]")
        errors = sum(len(t.errors) for t in timings.values())
        met = "[green]met[/]" if total <= 600 and errors == 0 else "[red]not met[/]"
        console.print(f"Sync wall time {total:.1f} s (target ≤ 600 s for 100,000 users and 500 groups, no errors): {met}")
        if len(user_ids) >= LICENSED_MEMBERS:
            elapsed, status, consumed = _licensed_patch(server.base_url, token, api, user_ids)
            met = "[green]met[/]" if elapsed <= 2 and status == 204 and consumed == LICENSED_MEMBERS else "[red]not met[/]"
            console.print(f"PATCH adding {LICENSED_MEMBERS:,} members to a licensed group: {elapsed * 1000:.0f} ms, HTTP {status}, "
                          f"{consumed:,} seats consumed (target ≤ 2 s): {met}")
        else:
            console.print(f"(the {LICENSED_MEMBERS:,}-member PATCH needs at least that many users; skipped)")
        console.print(f"Server peak RSS {server.peak_rss_mb():.0f} MB; load {load_average()}")


if __name__ == "__main__":
    main()
