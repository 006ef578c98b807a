"""License paths and effective licenses without per-row foreign-key triggers.

Licensing a 100,000-member group writes 300,000 paths and 300,000 licenses in one statement
each; their foreign keys to `products` and `users` ran a trigger per row that cost more than
the inserts themselves (4.7 s and 4.3 s of 9 s each, measured by bench/group_licensing.py).
Both are guaranteed by construction instead: every row is written by db.license_changes or
db.group_bulk from users read in the same tenant under the tenant's license lock (D21), product
ids come from the immutable catalog, and deleting a user deletes its paths and licenses first
(db.repo.licensing.release_users) — a test checks that no row outlives its user.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CONSTRAINTS = (
    ("license_paths", "license_paths_product_id_fkey", "FOREIGN KEY (product_id) REFERENCES products(id)"),
    ("license_paths", "license_paths_tenant_id_user_id_fkey",
     "FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE"),
    ("user_licenses", "user_licenses_product_id_fkey", "FOREIGN KEY (product_id) REFERENCES products(id)"),
    ("user_licenses", "user_licenses_tenant_id_user_id_fkey",
     "FOREIGN KEY (tenant_id, user_id) REFERENCES users(tenant_id, id) ON DELETE CASCADE"),
)


def upgrade() -> None:
    for table, name, _definition in CONSTRAINTS:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")


def downgrade() -> None:
    for table, name, definition in CONSTRAINTS:
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}")
