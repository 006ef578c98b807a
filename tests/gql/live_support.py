"""A graphql-transport-ws client for the live-update tests: one socket, several operations,
messages sorted by operation id as they arrive."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

EVENTS = "subscription($a: String, $f: LicenseEventFilter) { licenseEvents(after: $a, filter: $f) { cursor kind userId product { skuPartNumber } } }"
SEATS = "subscription($p: [ID!]) { seatsChanged(productIds: $p) { skuPartNumber totalUnits consumedUnits availableUnits } }"


class LiveSocket:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.queues: dict[str, asyncio.Queue[dict[str, Any]]] = defaultdict(asyncio.Queue)
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            message = json.loads(raw)
            await self.queues[message.get("id", "")].put(message)

    async def subscribe(self, op: str, query: str, variables: dict[str, Any] | None = None) -> None:
        await self.ws.send(json.dumps({"id": op, "type": "subscribe", "payload": {"query": query, "variables": variables or {}}}))

    async def complete(self, op: str) -> None:
        await self.ws.send(json.dumps({"id": op, "type": "complete"}))

    async def message(self, op: str, timeout: float = 5) -> dict[str, Any]:
        return await asyncio.wait_for(self.queues[op].get(), timeout)

    async def data(self, op: str, timeout: float = 5) -> dict[str, Any]:
        """The next `next` payload's data of `op` (asserting it is one, without errors)."""
        message = await self.message(op, timeout)
        assert message["type"] == "next" and "errors" not in message["payload"], message
        return message["payload"]["data"]  # type: ignore[no-any-return]

    async def events(self, op: str, n: int, timeout: float = 5) -> list[dict[str, Any]]:
        return [(await self.data(op, timeout))["licenseEvents"] for _ in range(n)]

    async def silent(self, op: str, seconds: float = 0.5) -> bool:
        """Nothing arrives for `op` within `seconds`."""
        try:
            message = await self.message(op, seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected message: {message}")


@contextlib.asynccontextmanager
async def live_socket(port: int, token: str) -> AsyncIterator[LiveSocket]:
    async with connect(f"ws://127.0.0.1:{port}/graphql", subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5)) == {"type": "connection_ack"}
        socket = LiveSocket(ws)
        try:
            yield socket
        finally:
            socket.reader.cancel()
            with contextlib.suppress(BaseException):
                await socket.reader


def error_codes(message: dict[str, Any]) -> list[str]:
    assert message["type"] == "error", message
    return [e["extensions"]["code"] for e in message["payload"]]
