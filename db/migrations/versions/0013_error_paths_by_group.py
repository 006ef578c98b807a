"""Paths by group: only the paths in error.

`license_paths_group` (tenant, group, product) held an entry for every group path, written in
every group change: licensing a 100,000-member group with 3 products inserted 300,000 entries
into it, about 0.6 s of the 2.2 s its paths took (the bench tenant's 2,000,000 paths, measured
on the same INSERT with and without the index). Nothing reads a group's paths by group but for
the ones in error — a group's members with license errors
(db.repo.group_licenses.members_with_errors_page) and the groups filter
`hasMembersWithLicenseErrors` (db.repo.directory); a change reads paths by user (the primary key). The
index now holds those alone, like `license_paths_errors` by user.

Revision ID: 0013_error_paths_by_group
Revises: 0012_members_no_fk
"""

from __future__ import annotations

from alembic import op

revision = "0013_error_paths_by_group"
down_revision = "0012_members_no_fk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX IF NOT EXISTS license_paths_group_errors ON license_paths (tenant_id, group_id, product_id) "
        "WHERE state = 'ERROR'"
    )
    op.execute("DROP INDEX IF EXISTS license_paths_group")


def downgrade() -> None:
    op.execute("CREATE INDEX IF NOT EXISTS license_paths_group ON license_paths (tenant_id, group_id, product_id)")
    op.execute("DROP INDEX IF EXISTS license_paths_group_errors")
