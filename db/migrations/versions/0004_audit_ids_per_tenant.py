"""Audit events numbered per tenant (1, 2, 3, … in each), no longer from one shared identity.

With one sequence for every tenant, the gaps between an admin's own event ids showed how much
the other tenants of the deployment did. Now `tenants.audit_seq` counts each tenant's events:
`db.repo.audit.append` increments it with UPDATE … RETURNING (the row lock serialises one
tenant's writers; other tenants never wait) and the event's key is (tenant_id, that number).
A per-tenant key also suits a PostgreSQL distributed on tenant_id (Citus), where a global
sequence would be a cross-node bottleneck.

Existing events are renumbered 1..n per tenant in their old id order, and each tenant's counter
is set to its n. Their public ids (base64 "AuditEvent:<number>") change with them.

Revision ID: 0004_audit_ids_per_tenant
Revises: 0003_service_secrets
"""

from __future__ import annotations

from alembic import op

revision = "0004_audit_ids_per_tenant"
down_revision = "0003_service_secrets"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE tenants ADD COLUMN audit_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE audit_events ALTER COLUMN id DROP IDENTITY;
-- without the primary key while renumbering: an event's new number may be another's old one
ALTER TABLE audit_events DROP CONSTRAINT audit_events_pkey;
UPDATE audit_events e SET id = n.number
FROM (SELECT tenant_id, id, row_number() OVER (PARTITION BY tenant_id ORDER BY id) AS number FROM audit_events) n
WHERE e.tenant_id = n.tenant_id AND e.id = n.id AND e.id <> n.number;
ALTER TABLE audit_events ADD PRIMARY KEY (tenant_id, id);
UPDATE tenants t SET audit_seq = c.last
FROM (SELECT tenant_id, max(id) AS last FROM audit_events GROUP BY tenant_id) c
WHERE t.id = c.tenant_id
"""

DOWNGRADE = """
ALTER TABLE tenants DROP COLUMN audit_seq;
ALTER TABLE audit_events ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY;
SELECT setval(pg_get_serial_sequence('audit_events', 'id'), coalesce(max(id), 0) + 1, false) FROM audit_events
"""


def upgrade() -> None:
    for statement in UPGRADE.split(";\n"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE.split(";\n"):
        if statement.strip():
            op.execute(statement)
