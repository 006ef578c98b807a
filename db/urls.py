"""DATABASE_URL spellings: users give postgresql://…; asyncpg and psycopg2 need their driver names."""

from __future__ import annotations

from sqlalchemy.engine import make_url


def _with_driver(url: str, driver: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise ValueError(f"DATABASE_URL must be a PostgreSQL URL (postgresql://…), not {parsed.get_backend_name()}://")
    return parsed.set(drivername=f"postgresql+{driver}").render_as_string(hide_password=False)


def async_url(url: str) -> str:
    return _with_driver(url, "asyncpg")


def sync_url(url: str) -> str:
    return _with_driver(url, "psycopg2")


def libpq_url(url: str) -> str:
    """The URL for a plain asyncpg connection (postgresql://…, no SQLAlchemy driver name)."""
    return _with_driver(url, "asyncpg").replace("postgresql+asyncpg://", "postgresql://", 1)
