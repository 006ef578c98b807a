"""Slow clients against `licensing serve` (SPEC D36): with 200 slow connections open, /healthz
answers within 100 ms at p99 and an ordinary query is still served; the server closes the
slow connections after its header and body timeouts (10 s by default).

    .venv/bin/python -m bench.slow_clients                 # 100 slow headers + 100 slow bodies
    .venv/bin/python -m bench.slow_clients --kind bodies   # 200 slow bodies (past the 128 in flight)

Kinds of slow connection, each sending one byte a second:
  headers  a GET whose headers never end (never reaches the app: the server's header timeout)
  bodies   an authenticated POST whose body never ends (holds one of the places in flight
           until the body timeout); past LICENSING_MAX_CONCURRENT_REQUESTS they are refused 503
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import threading
import time
import uuid
from dataclasses import dataclass

import httpx

from bench.common import bench_database, console, load_average, running_server
from db.repo import tenants
from db.session import Database

QUERY = {"query": "{ viewer { roles } }"}


@dataclass
class Slow:
    kind: str
    opened: float = 0.0
    closed_after: float | None = None  # seconds until the server closed it
    answer: bytes = b""


async def trickle(port: int, slow: Slow, head: bytes, drip: bytes, stop: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    slow.opened = time.monotonic()
    writer.write(head)
    try:
        while not stop.is_set():
            await writer.drain()
            try:
                data = await asyncio.wait_for(reader.read(4096), timeout=1.0)
            except TimeoutError:
                writer.write(drip)
                continue
            if not data:
                slow.closed_after = time.monotonic() - slow.opened
                break
            slow.answer += data
    except OSError:  # reset by the server
        slow.closed_after = time.monotonic() - slow.opened
    finally:
        writer.close()


def probe(base_url: str, token: str, seconds: float, out: dict[str, list[float]]) -> None:
    """From another thread: /healthz back to back, and an ordinary query every 0.5 s."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        deadline = time.monotonic() + seconds
        next_query = time.monotonic()
        while time.monotonic() < deadline:
            start = time.perf_counter()
            status = client.get("/healthz").status_code
            out["healthz"].append(time.perf_counter() - start)
            out["healthz_status"].append(status)
            if time.monotonic() >= next_query:
                start = time.perf_counter()
                response = client.post("/graphql", json=QUERY, headers={"Authorization": f"Bearer {token}"})
                out["query"].append(time.perf_counter() - start)
                out["query_status"].append(response.status_code)
                next_query = time.monotonic() + 0.5
            time.sleep(0.01)


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run(args: argparse.Namespace) -> None:
    url = bench_database(args.server_url, "licensing_bench_slow", fresh=True)
    tenant_id = f"slow{uuid.uuid4().hex[:6]}"
    db = Database(url, pool_size=1)
    async with db.write() as conn:
        await tenants.create_tenant(conn, tenant_id, "Slow clients", f"{tenant_id}.example", "US")
    await db.dispose()

    with running_server(url) as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        token = server.token(tenant_id, f"admin@{tenant_id}.example")
        kinds = {"headers": ["headers"], "bodies": ["bodies"], "mixed": ["headers", "bodies"]}[args.kind]
        slows = [Slow(kinds[i % len(kinds)]) for i in range(args.connections)]
        heads = {
            "headers": (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"X"),
            "bodies": (
                (
                    "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    f"Authorization: Bearer {token}\r\nContent-Length: 100000\r\n\r\n"
                ).encode(),
                b" ",
            ),
        }
        stop = asyncio.Event()
        tasks = [asyncio.create_task(trickle(port, s, *heads[s.kind], stop)) for s in slows]
        await asyncio.sleep(1.0)  # all open and trickling

        figures: dict[str, list[float]] = {"healthz": [], "healthz_status": [], "query": [], "query_status": []}
        prober = threading.Thread(target=probe, args=(server.base_url, token, args.seconds, figures))
        prober.start()
        while prober.is_alive():
            await asyncio.sleep(0.2)
        open_at_end_of_probe = sum(1 for s in slows if s.closed_after is None)
        await asyncio.sleep(max(0.0, 12.0 - args.seconds))  # past the 10 s timeouts
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)

    console.rule(f"[bold]{args.connections} slow connections ({args.kind}), load {load_average()}")
    hz = figures["healthz"]
    console.print(
        f"/healthz: {len(hz)} requests, p50 {p(hz, 0.5):.1f} ms, p99 {p(hz, 0.99):.1f} ms, max {max(hz) * 1000:.1f} ms"
        f" — target p99 < 100 ms: {'met' if p(hz, 0.99) < 100 else 'NOT met'}"
        f"; statuses {sorted(set(figures['healthz_status']))}"
    )
    qs, statuses = figures["query"], figures["query_status"]
    console.print(
        f"ordinary query: {len(qs)} requests, {statuses.count(200)} answered 200"
        f" ({sorted(set(statuses))}), p50 {p(qs, 0.5):.1f} ms, max {max(qs) * 1000:.1f} ms"
    )
    console.print(f"slow connections still open when the probe ended ({args.seconds:g} s): {open_at_end_of_probe}")
    for kind in kinds:
        mine = [s for s in slows if s.kind == kind]
        closed = [s.closed_after for s in mine if s.closed_after is not None]
        answers: dict[str, int] = {}
        for s in mine:
            status = s.answer.split(b" ", 2)[1].decode() if s.answer.startswith(b"HTTP/") else "none"
            answers[status] = answers.get(status, 0) + 1
        console.print(
            f"  {kind}: {len(closed)}/{len(mine)} closed by the server"
            + (f", after {statistics.median(closed):.1f} s (median), {max(closed):.1f} s (max)" if closed else "")
            + f"; answers {answers}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--server-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--kind", choices=["mixed", "headers", "bodies"], default="mixed")
    parser.add_argument("--seconds", type=float, default=8.0, help="how long to probe while they are open")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
