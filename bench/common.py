"""What every benchmark needs: a scratch database with a seeded tenant, the real server in a
subprocess, a keep-alive GraphQL client, and figures printed with the machine's noise in mind
(median and p90 of many runs, API and floor runs interleaved so both see the same load)."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from db import migrate
from db.seed import PHASES, seed_tenant
from db.session import Database
from db.urls import sync_url

ROOT = Path(__file__).resolve().parent.parent
console = Console(width=None if sys.stdout.isatty() else 160)  # a wide table also in a log file


# ------------------------------------------------------------------------------------ database


def bench_database(server_url: str, name: str, *, fresh: bool) -> str:
    """The URL of database `name` on the server, created (or recreated when `fresh`) and migrated."""
    admin = create_engine(sync_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first() is not None
            if exists and fresh:
                conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
                exists = False
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    return url


async def _users_of(url: str, tenant_id: str) -> int:
    db = Database(url)
    try:
        async with db.read() as conn:
            return int((await conn.execute(text("SELECT count(*) FROM users WHERE tenant_id = :t"), {"t": tenant_id})).scalar_one())
    finally:
        await db.dispose()


def ensure_seeded(
    url: str, tenant_id: str, users: int, *, groups: int = 200, add_ons: int = 0, seed: int = 1, at_least: bool = False
) -> None:
    """Seed the tenant unless it is already there with that many users (seeding takes a minute or
    two); `at_least`: a tenant grown by earlier runs (imports) is reused too."""
    have = asyncio.run(_users_of(url, tenant_id))
    if have == users or (at_least and have > users):
        console.print(f"[dim]Reusing tenant {tenant_id} ({users:,} users) in {make_url(url).database}.[/]")
        return
    if have:
        raise SystemExit(f"tenant {tenant_id} has {have:,} users, not {users:,}: run with --fresh")

    async def run() -> None:
        db = Database(url)
        progress = Progress(TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                            console=console)
        tasks = {p: progress.add_task(p, total=users if p in ("users", "memberships", "licenses", "events") else 1) for p in PHASES}
        try:
            with progress:
                summary = await seed_tenant(
                    db, tenant_id, users, groups, seed,
                    lambda phase, done, _total: progress.update(tasks[phase], completed=done), add_ons=add_ons,
                )
        finally:
            await db.dispose()
        console.print(f"Seeded {tenant_id}: {summary.users:,} users, {summary.licenses:,} licenses in "
                      f"{sum(summary.seconds.values()):.0f} s")

    asyncio.run(run())


# ------------------------------------------------------------------------------------ server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    jwt_secret: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def peak_rss_mb(self) -> float:
        """VmHWM: the most resident memory the server process has had."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def token(self, tenant_id: str, sub: str) -> str:
        from gql.auth import Role, issue_token

        return issue_token(self.jwt_secret, tenant_id, sub, [Role.GLOBAL_ADMINISTRATOR], ttl_seconds=7200)


@contextmanager
def running_server(database_url: str, serve_args: Sequence[str] = ()) -> Iterator[Server]:
    """`licensing serve [serve_args]` on a free port against the database; stopped (by its pid) at the end."""
    port = free_port()
    secret = secrets.token_hex(32)
    env = {**os.environ, "DATABASE_URL": database_url, "LICENSING_JWT_SECRET": secret}
    log = Path(tempfile.mkstemp(prefix="licensing-bench-server-", suffix=".log")[1])
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("licensing")), "serve", "--host", "127.0.0.1", "--port", str(port), *serve_args],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", secret, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the server exited ({process.returncode}); see {log}")
            try:
                if httpx.get(f"{server.base_url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"the server did not become ready in 60 s; see {log}")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


class GraphQL:
    """A keep-alive HTTP client; `timed` measures one request up to the last byte of the body."""

    def __init__(self, server: Server, token: str) -> None:
        self.client = httpx.Client(
            base_url=server.base_url, timeout=60,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"},
        )

    def timed(self, query: str, variables: dict[str, Any] | None = None) -> tuple[float, bytes]:
        body = {"query": query, "variables": variables or {}}
        started = time.perf_counter()
        response = self.client.post("/graphql", json=body)
        content = response.content
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"HTTP {response.status_code}: {content[:500]!r}")
        return elapsed, content

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        _, content = self.timed(query, variables)
        body = httpx.Response(200, content=content).json()
        if body.get("errors"):
            raise SystemExit(f"GraphQL errors: {body['errors']}")
        return body["data"]  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------ figures


@dataclass
class Figure:
    name: str
    api_ms: list[float]
    floor_ms: list[float]
    target_ms: float | None = None
    note: str = ""

    @staticmethod
    def percentile(samples: list[float], q: float) -> float:
        ordered = sorted(samples)
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]

    @property
    def p50(self) -> float:
        return statistics.median(self.api_ms)

    @property
    def p90(self) -> float:
        return self.percentile(self.api_ms, 0.9)

    @property
    def floor_p50(self) -> float:
        return statistics.median(self.floor_ms) if self.floor_ms else float("nan")


def interleaved(api: Callable[[], float], floor: Callable[[], float] | None, runs: int, warmup: int) -> tuple[list[float], list[float]]:
    """Run API and floor alternately (same machine load for both); warm-up runs are discarded."""
    api_ms: list[float] = []
    floor_ms: list[float] = []
    for i in range(warmup + runs):
        a = api()
        f = floor() if floor else None
        if i >= warmup:
            api_ms.append(a)
            if f is not None:
                floor_ms.append(f)
    return api_ms, floor_ms


def print_figures(title: str, figures: list[Figure], facts: list[str]) -> None:
    table = Table(title=title, title_justify="left")
    for column in ("measure", "runs", "p50 ms", "p90 ms", "floor p50 ms", "ratio", "target p50", "met"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    for f in figures:
        met = "" if f.target_ms is None else ("[green]yes[/]" if f.p50 <= f.target_ms else "[red]no[/]")
        table.add_row(
            f.name + (f"\n[dim]{f.note}[/]" if f.note else ""), str(len(f.api_ms)), f"{f.p50:.1f}", f"{f.p90:.1f}",
            f"{f.floor_p50:.2f}", f"{f.p50 / f.floor_p50:.1f}×" if f.floor_ms else "",
            f"≤ {f.target_ms:.0f}" if f.target_ms else "", met,
        )
    console.print(table)
    for fact in facts:
        console.print(fact)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"
