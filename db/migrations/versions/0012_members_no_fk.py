"""Group memberships without per-row foreign-key triggers.

Adding 10,000 members to a group inserts 10,000 `group_user_members` rows in one statement;
its two foreign keys (to `groups` and to `users`) ran two trigger queries per row, about
215 ms of the 290 ms the INSERT took (measured on the 1,000,000-user bench tenant; the same
INSERT without them: 75 ms). As for paths and licenses (0002) and events (0011), the keys are
guaranteed by construction: a membership is written only for users and groups the same
transaction has read (or created), under the tenant's license lock (D21), which user and
group deletions also take; those deletions now delete the memberships themselves
(db.repo.directory.delete_user / delete_group) instead of relying on ON DELETE CASCADE, and no
code deletes a tenant. Nested-group edges (`group_group_members`) keep their keys: they are
few and written one at a time.

Revision ID: 0012_members_no_fk
Revises: 0011_events_no_fk
"""

from __future__ import annotations

from alembic import op

revision = "0012_members_no_fk"
down_revision = "0011_events_no_fk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE group_user_members DROP CONSTRAINT IF EXISTS group_user_members_tenant_id_group_id_fkey, "
        "DROP CONSTRAINT IF EXISTS group_user_members_tenant_id_user_id_fkey"
    )


def downgrade() -> None:
    # memberships of users or groups deleted meanwhile would break the keys: they go first
    op.execute(
        "DELETE FROM group_user_members m WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.tenant_id = m.tenant_id AND u.id = m.user_id) "
        "OR NOT EXISTS (SELECT 1 FROM groups g WHERE g.tenant_id = m.tenant_id AND g.id = m.group_id)"
    )
    op.execute(
        "ALTER TABLE group_user_members "
        "ADD CONSTRAINT group_user_members_tenant_id_group_id_fkey FOREIGN KEY (tenant_id, group_id) "
        "REFERENCES groups(tenant_id, id) ON DELETE CASCADE, "
        "ADD CONSTRAINT group_user_members_tenant_id_user_id_fkey FOREIGN KEY (tenant_id, user_id) "
        "REFERENCES users(tenant_id, id) ON DELETE CASCADE"
    )
