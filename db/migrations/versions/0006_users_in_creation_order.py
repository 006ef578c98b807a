"""Users in creation order: an index on (tenant_id, created_seq).

Dynamic groups list matching users in creation order (a rule preview's sample, who joins
first, D24): with this index the first matching users are read in order and the scan stops
after them, instead of sorting every match.

Revision ID: 0006_users_in_creation_order
Revises: 0005_dynamic_groups
"""

from __future__ import annotations

from alembic import op

revision = "0006_users_in_creation_order"
down_revision = "0005_dynamic_groups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX users_created ON users (tenant_id, created_seq)")


def downgrade() -> None:
    op.execute("DROP INDEX users_created")
