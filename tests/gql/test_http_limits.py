"""Request bodies on the real app (SPEC D36): the token is checked before the body is read, and
a body is capped at LICENSING_MAX_BODY_BYTES (413, PAYLOAD_TOO_LARGE) without being buffered.

The app is driven at the ASGI level so the test sees exactly how much of the body the server
pulled: ``receive`` hands out the body lazily, chunk by chunk, and counts what was taken.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.support import Tenant

CHUNK = 64 * 1024
QUERY = b'{"query": "{ viewer { roles } }", "padding": "'


@dataclass
class AsgiExchange:
    """One request against the app: a body handed out on demand, the response collected."""

    body: Iterator[bytes]
    pulled: int = 0  # body bytes the app has received
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    response: bytearray = field(default_factory=bytearray)

    async def receive(self) -> dict[str, Any]:
        chunk = next(self.body, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        self.pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
        elif message["type"] == "http.response.body":
            self.response += message.get("body", b"")

    def json(self) -> Any:
        return json.loads(self.response)


def large_body(total: int) -> Iterator[bytes]:
    """A JSON object with a long string, 64 KiB at a time as the server reads: ``total`` bytes."""
    yield QUERY
    sent = len(QUERY)
    while sent + CHUNK + 2 < total:
        yield b"x" * CHUNK
        sent += CHUNK
    yield b"x" * (total - sent - 2) + b'"}'


async def post(app: Any, body: Iterator[bytes], headers: dict[str, str]) -> AsgiExchange:
    exchange = AsgiExchange(body)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    await app(scope, exchange.receive, exchange.send)
    return exchange


async def test_an_unauthenticated_large_post_is_401_without_reading_the_body(app: Any) -> None:
    size = 8 * 1024 * 1024
    announced = {"Content-Type": "application/json", "Content-Length": str(size)}
    exchange = await post(app, large_body(size), announced)
    assert exchange.status == 401
    assert exchange.headers["www-authenticate"] == "Bearer"
    assert exchange.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert exchange.pulled == 0
    assert exchange.headers["connection"] == "close"  # the unread body is not waited for

    # the same without Content-Length (chunked): still not a byte read
    exchange = await post(app, large_body(size), {"Content-Type": "application/json"})
    assert exchange.status == 401
    assert exchange.pulled == 0


async def test_an_authenticated_post_announcing_too_much_is_413_without_reading(app: Any, tenant: Tenant) -> None:
    limit = app.state.settings.max_body_bytes
    assert limit == 4 * 1024 * 1024  # the default
    headers = {
        "Authorization": f"Bearer {tenant.admin}",
        "Content-Type": "application/json",
        "Content-Length": str(limit + 1),
    }
    exchange = await post(app, large_body(limit + 1), headers)
    assert exchange.status == 413
    assert exchange.headers["connection"] == "close"
    assert exchange.headers["content-type"].startswith("application/json")
    error = exchange.json()["errors"][0]
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert "4,194,304 bytes" in error["message"]
    assert exchange.pulled == 0


async def test_an_authenticated_streamed_body_over_the_limit_is_cut_off_at_the_limit(app: Any, tenant: Tenant) -> None:
    limit = app.state.settings.max_body_bytes
    headers = {
        "Authorization": f"Bearer {tenant.admin}",
        "Content-Type": "application/json",
        "Accept": "application/graphql-response+json",
    }
    exchange = await post(app, large_body(2 * limit), headers)
    assert exchange.status == 413
    assert exchange.headers["content-type"].startswith("application/graphql-response+json")
    assert exchange.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    # read up to the limit and one chunk past it, then stopped
    assert limit < exchange.pulled <= limit + CHUNK


async def test_a_body_just_under_the_limit_is_served(app: Any, tenant: Tenant) -> None:
    limit = app.state.settings.max_body_bytes
    headers = {
        "Authorization": f"Bearer {tenant.admin}",
        "Content-Type": "application/json",
        "Content-Length": str(limit),
    }
    exchange = await post(app, large_body(limit), headers)
    assert exchange.status == 200, exchange.response[:500]
    assert exchange.json() == {"data": {"viewer": {"roles": ["GLOBAL_ADMINISTRATOR"]}}}
