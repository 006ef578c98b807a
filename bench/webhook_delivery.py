"""A webhook receiving a large group change: the license-events issue's 60-second target.

    .venv/bin/python -m bench.webhook_delivery

On the group bench's tenant (1,000,000 users, seeded into its own database —
licensing_bench_hooks unless --database says otherwise — on first use), a webhook points at a receiver on 127.0.0.1 (LICENSING_WEBHOOK_ALLOW_PRIVATE=true),
then the 100,000-member group is given 3 products: 300,000 license events. The bench prints
how long after the change committed the receiver had every one of them (batches of at most
100, in cursor order, one webhook), the requests it took, and a signature check of a sample
(HMAC-SHA256 by hand, independent of the library). Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import orjson
from sqlalchemy.engine import make_url

from bench.common import GraphQL, bench_database, console, ensure_seeded, load_average, running_server
from bench.group_licensing import ASSIGN, TENANT, USERS, _call, _setup

CREATE = """
mutation($i: CreateWebhookInput!) { createWebhook(input: $i) { webhook { id } secret errors { code message } } }"""
DELETE = "mutation($i: DeleteWebhookInput!) { deleteWebhook(input: $i) { errors { code message } } }"
TARGET_S = 60


class Counter:
    def __init__(self) -> None:
        self.events = 0
        self.requests = 0
        self.connections = 0
        self.last_cursor = ""
        self.samples: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        counter = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as receivers behind any web server answer

            def setup(self) -> None:
                super().setup()
                with counter.lock:
                    counter.connections += 1

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                events = orjson.loads(body)["events"]  # ~565 kB a batch: a fast parser, as a busy receiver would use
                with counter.lock:
                    counter.events += len(events)
                    counter.requests += 1
                    counter.last_cursor = events[-1]["cursor"]
                    if len(counter.samples) < 5:
                        counter.samples.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _signed(secret: str, headers: dict[str, str], body: bytes) -> bool:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(hmac.compare_digest(expected, s) for s in headers["webhook-signature"].split(" "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default="licensing_bench_hooks",
                        help="bench database (created, migrated and seeded on first use, ~2 min)")
    parser.add_argument("--fresh", action="store_true", help="drop and reseed the bench database first")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    url = bench_database(args.server_url, args.database, fresh=args.fresh)
    ensure_seeded(url, TENANT, USERS, groups=200)
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    os.environ["LICENSING_WEBHOOK_ALLOW_PRIVATE"] = "true"
    receiver = Counter()
    with running_server(url) as server:
        api = GraphQL(server, server.token(TENANT, "bench-admin"))
        api.client.timeout = httpx.Timeout(600)
        gid, products, _added = asyncio.run(_setup(dsn, api))
        _, created = _call(api, CREATE, {"i": {"url": receiver.url, "description": "bench"}}, "createWebhook")
        secret, webhook = created["secret"], created["webhook"]["id"]
        try:
            started = time.perf_counter()
            _call(api, ASSIGN, {"i": {"groupId": gid, "addLicenses": [{"productId": p} for p in products]}}, "assignGroupLicenses")
            committed = time.perf_counter()
            expected = 3 * 100_000
            while receiver.events < expected and time.perf_counter() - committed < args.timeout:
                time.sleep(0.2)
            done = time.perf_counter()
        finally:
            _call(api, DELETE, {"i": {"webhookId": webhook}}, "deleteWebhook")
            _call(api, ASSIGN, {"i": {"groupId": gid, "removeProductIds": products}}, "assignGroupLicenses")
    got = receiver.events
    verdict = "met" if got >= expected and done - committed <= TARGET_S else "missed"
    took = done - committed
    console.print(f"change committed after {committed - started:.1f} s; the receiver had {got:,} of {expected:,} events "
                  f"{took:.1f} s later in {receiver.requests:,} requests over {receiver.connections:,} connection(s), "
                  f"{receiver.requests / took:.0f} batches/s (target ≤ {TARGET_S} s: {verdict})")
    console.print(f"signatures of {len(receiver.samples)} sampled requests verified by hand: "
                  f"{all(_signed(secret, h, b) for h, b in receiver.samples)}")
    console.print(f"load average {load_average()}")


if __name__ == "__main__":
    main()
