"""Dynamic groups (SPEC §9) and the users' new fields (D31).

- `groups.membership_rule`: the rule of a dynamic group as the admin wrote it (R23), null for
  an assigned group. Its members stay in `group_user_members`, like an assigned group's: the
  group path (R4–R10) reads them unchanged, and `added_seq` is the moment a user started to
  match (their place in line, D2).
- `users.given_name`, `surname`, `employee_id` (D31) and `external_id` (SCIM, R29): case-exact
  and unique per tenant where set.

Revision ID: 0005_dynamic_groups
Revises: 0004_audit_ids_per_tenant
"""

from __future__ import annotations

from alembic import op

revision = "0005_dynamic_groups"
down_revision = "0004_audit_ids_per_tenant"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE groups ADD COLUMN membership_rule text;
CREATE INDEX groups_dynamic ON groups (tenant_id) WHERE membership_rule IS NOT NULL;
ALTER TABLE users ADD COLUMN given_name text, ADD COLUMN surname text, ADD COLUMN employee_id text,
  ADD COLUMN external_id text;
CREATE UNIQUE INDEX users_external_id ON users (tenant_id, external_id) WHERE external_id IS NOT NULL
"""

DOWNGRADE = """
DROP INDEX users_external_id;
ALTER TABLE users DROP COLUMN given_name, DROP COLUMN surname, DROP COLUMN employee_id, DROP COLUMN external_id;
DROP INDEX groups_dynamic;
ALTER TABLE groups DROP COLUMN membership_rule
"""


def upgrade() -> None:
    for statement in UPGRADE.split(";\n"):
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE.split(";\n"):
        op.execute(statement)
