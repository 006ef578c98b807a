"""Alembic environment: synchronous (psycopg2) so it can run from the CLI and from `serve`.

Replicas starting together serialise on an advisory lock, so only one applies migrations.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from db.models import Base
from db.urls import sync_url

MIGRATION_LOCK = 0x4C1C_0001

config = context.config
url = config.get_main_option("sqlalchemy.url") or ""


def run_migrations_online() -> None:
    engine = create_engine(sync_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
        connection.commit()
        try:
            context.configure(connection=connection, target_metadata=Base.metadata, transaction_per_migration=True)
            with context.begin_transaction():
                context.run_migrations()
            connection.commit()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
            connection.commit()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=sync_url(url), target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
