"""SCIM provisioning (R29, D34): bearer tokens, group external ids, lastModified.

- `scim_tokens`: long-lived bearer tokens of an identity provider's SCIM client, one tenant
  each. Only the SHA-256 of the secret is kept (`token_hash`, unique: a request's token is
  looked up by its hash); `revoked_at` ends one token without touching any other secret.
- `groups.external_id`: the identity provider's id of a group, case-exact and unique per
  tenant where set (as `users.external_id` since 0005).
- `users.updated_at`, `groups.updated_at`: SCIM `meta.lastModified` (existing rows start at
  their creation time).

Revision ID: 0009_scim_tokens
Revises: 0008_webhook_delivery
"""

from __future__ import annotations

from alembic import op

revision = "0009_scim_tokens"
down_revision = "0008_webhook_delivery"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE scim_tokens (
    tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id uuid NOT NULL,
    name text NOT NULL,
    token_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz,
    last_used_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);
ALTER TABLE groups ADD COLUMN external_id text;
CREATE UNIQUE INDEX groups_external_id ON groups (tenant_id, external_id) WHERE external_id IS NOT NULL;
ALTER TABLE users ADD COLUMN updated_at timestamptz;
UPDATE users SET updated_at = created_at;
ALTER TABLE users ALTER COLUMN updated_at SET DEFAULT now(), ALTER COLUMN updated_at SET NOT NULL;
ALTER TABLE groups ADD COLUMN updated_at timestamptz;
UPDATE groups SET updated_at = created_at;
ALTER TABLE groups ALTER COLUMN updated_at SET DEFAULT now(), ALTER COLUMN updated_at SET NOT NULL
"""

DOWNGRADE = """
ALTER TABLE groups DROP COLUMN updated_at;
ALTER TABLE users DROP COLUMN updated_at;
DROP INDEX groups_external_id;
ALTER TABLE groups DROP COLUMN external_id;
DROP TABLE scim_tokens
"""


def upgrade() -> None:
    for statement in UPGRADE.split(";\n"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE.split(";\n"):
        if statement.strip():
            op.execute(statement)
