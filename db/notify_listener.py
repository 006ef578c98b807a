"""A dedicated connection LISTENing on one channel, reconnecting when it is lost.

The webhook delivery loop wakes on `license_events` notifications (sent at the commit of every
change that appends events); between reconnections it may miss some, so every (re)connection
wakes it once too, and the loop also polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

log = logging.getLogger("licensing.listen")


def libpq_url(url: str) -> str:
    """A DATABASE_URL as asyncpg.connect takes it (no SQLAlchemy driver name)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def listen_forever(url: str, channel: str, wake: Callable[[], None], *, retry_seconds: float = 5.0) -> None:
    """Call `wake()` on every notification on `channel` and after every (re)connection; runs
    until cancelled."""
    dsn = libpq_url(url)
    while True:
        conn: Any = None
        try:
            conn = await asyncpg.connect(dsn)
            lost = asyncio.Event()
            conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
            await conn.add_listener(channel, lambda *_args: wake())
            wake()  # whatever committed while we were not listening
            while not lost.is_set():  # a silent half-open connection is found by a ping
                try:
                    await asyncio.wait_for(lost.wait(), timeout=30)
                except TimeoutError:
                    await conn.fetchval("SELECT 1", timeout=5)
            log.warning("LISTEN %s: the connection was lost; reconnecting", channel)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the listener must survive an outage
            log.warning("LISTEN %s: %s; retrying in %.0f s", channel, " ".join(str(exc).split()) or type(exc).__name__, retry_seconds)
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close(timeout=2)
        await asyncio.sleep(retry_seconds)
