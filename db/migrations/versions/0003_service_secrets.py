"""Secrets the service generates for itself, kept with the data (SPEC §5).

When LICENSING_JWT_SECRET is not set, the first process to start generates the HS256 token
secret and stores it here (db/secrets.py), so every replica and the `licensing token` command
sign and check tokens with the same one. Not a tenant table: the secret belongs to the
deployment.

Revision ID: 0003_service_secrets
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003_service_secrets"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE service_secrets (
            name text PRIMARY KEY,
            value text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS service_secrets")
