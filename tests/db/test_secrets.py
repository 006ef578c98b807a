"""The token secret kept in the database when LICENSING_JWT_SECRET is not set (db/secrets.py, SPEC §5)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from db.config import Settings
from db.secrets import JwtSecretError, configured_jwt_secret, jwt_secret
from db.session import Database
from db.urls import sync_url

UNSET = Settings(DATABASE_URL=None, LICENSING_JWT_SECRET=None)


@pytest.fixture
def no_stored_secret(database_url: str) -> Iterator[None]:
    """The session database without a stored secret, before and after (the app fixture's is configured)."""
    engine = create_engine(sync_url(database_url))
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM service_secrets"))
    yield
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM service_secrets"))
    engine.dispose()


async def stored_rows(db: Database) -> list[tuple[str, str]]:
    async with db.read() as conn:
        return [tuple(r) for r in (await conn.execute(text("SELECT name, value FROM service_secrets"))).all()]


async def resolve(db: Database, settings: Settings) -> str:
    async with db.write() as conn:
        return await jwt_secret(conn, settings)


async def test_s5_without_the_setting_a_random_secret_is_generated_once_and_kept(
    database_url: str, no_stored_secret: None, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(database_url)
    try:
        with caplog.at_level("INFO", logger="db.secrets"):
            first = await resolve(db, UNSET)
            again = await resolve(db, UNSET)
        assert again == first
        assert await stored_rows(db) == [("jwt_secret", first)]
        assert len(bytes.fromhex(first)) == 32  # 256 random bits
        generated = [r for r in caplog.records if "generated" in r.getMessage()]
        assert len(generated) == 1 and generated[0].levelname == "WARNING"
        # a configured secret wins, and does not touch the stored one
        configured = Settings(LICENSING_JWT_SECRET="x" * 32)
        assert await resolve(db, configured) == "x" * 32
        assert await stored_rows(db) == [("jwt_secret", first)]
    finally:
        await db.dispose()


async def test_s5_two_processes_starting_at_once_end_with_the_same_secret(database_url: str, no_stored_secret: None) -> None:
    first, second = Database(database_url), Database(database_url)
    try:
        async with first.write() as conn:
            mine = await jwt_secret(conn, UNSET)  # inserted, not committed yet
            other = asyncio.create_task(resolve(second, UNSET))
            await asyncio.sleep(0.5)
            assert not other.done(), "the second INSERT waits for the first transaction"
        assert await other == mine
        assert await stored_rows(first) == [("jwt_secret", mine)]
    finally:
        await first.dispose()
        await second.dispose()


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("short-secret", "12 bytes long; it must be at least 32 bytes"),
        ("é" * 15, "30 bytes long"),  # bytes, not characters
        ("change-me", "published with this project"),
        ("licensing-development-secret-do-not-use-in-production", "published with this project"),
    ],
)
def test_s5_a_short_or_published_secret_is_refused_with_how_to_make_one(secret: str, why: str) -> None:
    with pytest.raises(JwtSecretError) as refused:
        configured_jwt_secret(Settings(LICENSING_JWT_SECRET=secret))
    message = str(refused.value)
    assert why in message
    assert "openssl rand -hex 32" in message
    assert 'python -c "import secrets; print(secrets.token_hex(32))"' in message
    assert secret not in message


def test_s5_an_empty_setting_means_not_set() -> None:
    assert Settings(LICENSING_JWT_SECRET="").jwt_secret is None
    assert configured_jwt_secret(Settings(LICENSING_JWT_SECRET="  ")) is None
    assert configured_jwt_secret(Settings(LICENSING_JWT_SECRET="k" * 32)) == "k" * 32
