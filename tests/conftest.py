"""Shared fixtures: a real PostgreSQL for every test that needs one.

TEST_DATABASE_URL (or DATABASE_URL) names a server; a fresh database is created on it for the
session and dropped afterwards. With neither set, an embedded PostgreSQL (pgserver) starts in
.licensing-test/ so the tests pass on any machine. Tests isolate by tenant: each makes its own.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from db import migrate
from db.urls import sync_url

ROOT = Path(__file__).resolve().parent.parent


def _server_url() -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    from db.config import Settings
    from db.embedded import database_url

    settings = Settings(DATABASE_URL=None, LICENSING_DATA_DIR=ROOT / ".licensing-test")
    with database_url(settings) as embedded_url:
        yield embedded_url


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A freshly created and migrated database for this test session."""
    for server in _server_url():
        name = f"licensing_test_{uuid.uuid4().hex[:10]}"
        admin = create_engine(sync_url(server), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
        try:
            migrate.upgrade(url)
            yield url
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


@pytest.fixture(scope="session")
def clock() -> Any:
    from db.clock import ManualClock

    return ManualClock()


@pytest.fixture(scope="session")
def settings() -> Any:
    from db.config import Settings

    return Settings(DATABASE_URL=None, LICENSING_JWT_SECRET="test-secret-for-the-licensing-service-0123456789", LICENSING_LIFECYCLE_INTERVAL_SECONDS=3600)


@pytest.fixture(scope="session")
async def app(database_url: str, settings: Any, clock: Any) -> AsyncIterator[Any]:
    from gql.app import create_app

    application = create_app(settings, database_url, clock=clock, run_lifecycle_job=False)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
async def api(app: Any, settings: Any) -> AsyncIterator[Any]:
    import httpx

    from tests.support import Api

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield Api(client, settings, app)


@pytest.fixture
async def tenant(api: Any) -> Any:
    """A new tenant for this test, with a Global Administrator session."""
    return await api.new_tenant()
