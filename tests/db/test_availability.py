"""db.availability: which failures mean "PostgreSQL cannot be reached right now" (503), with
the errors the drivers really raise."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from db.availability import is_database_unavailable


async def test_a_stopped_local_server_whose_socket_is_gone_is_unavailable(tmp_path: Path) -> None:
    """The embedded server listens on a Unix socket: stopped, its socket file is gone, and
    connecting raises FileNotFoundError (no file name) — through asyncpg and through SQLAlchemy."""
    with pytest.raises(FileNotFoundError) as raw:
        await asyncpg.connect(user="postgres", database="postgres", host=str(tmp_path))
    assert is_database_unavailable(raw.value)
    engine = create_async_engine(f"postgresql+asyncpg://postgres@/postgres?host={tmp_path}")
    try:
        with pytest.raises(Exception) as wrapped:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        assert is_database_unavailable(wrapped.value)
    finally:
        await engine.dispose()


def test_a_missing_file_is_not_an_outage(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as missing:
        (tmp_path / "no-such-certificate.pem").open()
    assert not is_database_unavailable(missing.value)
