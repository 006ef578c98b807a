"""Per-tenant trust of one OpenID Connect issuer (R31, D35).

- `tenants.oidc_issuer`: the `iss` the tenant trusts (unique where set: a token's issuer names
  at most one tenant); `oidc_audience`: the `aud` its tokens must carry; `oidc_roles_claim`: a
  dotted path to the roles in the token (`roles`, or `realm_access.roles` for Keycloak).
- Issuer and audience are set together or not at all.

Revision ID: 0010_tenant_oidc
Revises: 0009_scim_tokens
"""

from __future__ import annotations

from alembic import op

revision = "0010_tenant_oidc"
down_revision = "0009_scim_tokens"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE tenants
    ADD COLUMN oidc_issuer text,
    ADD COLUMN oidc_audience text,
    ADD COLUMN oidc_roles_claim text NOT NULL DEFAULT 'roles',
    ADD CONSTRAINT tenants_oidc_issuer_with_audience CHECK ((oidc_issuer IS NULL) = (oidc_audience IS NULL));
CREATE UNIQUE INDEX tenants_oidc_issuer ON tenants (oidc_issuer) WHERE oidc_issuer IS NOT NULL
"""

DOWNGRADE = """
DROP INDEX tenants_oidc_issuer;
ALTER TABLE tenants
    DROP CONSTRAINT tenants_oidc_issuer_with_audience,
    DROP COLUMN oidc_roles_claim,
    DROP COLUMN oidc_audience,
    DROP COLUMN oidc_issuer
"""


def upgrade() -> None:
    for statement in UPGRADE.split(";\n"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE.split(";\n"):
        if statement.strip():
            op.execute(statement)
