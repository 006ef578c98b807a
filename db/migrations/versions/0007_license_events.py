"""License events (R25–R28, D25, D26, D33): the durable change feed, and webhooks.

- `license_events`: one row per (user, product) whose outcome a committed change altered. Its
  key is (tenant_id, seq): `seq` is the cursor, taken from `tenants.event_seq` with UPDATE …
  RETURNING in the changing transaction. That row lock is held until commit, so a tenant's
  writers take turns and their numbers follow commit order (strictly increasing, no reader
  ever sees a later number before an earlier one commits). The row keeps the state after the
  change: `holds_seat`, `paths` (jsonb: group `g` or null for direct, `s` state, `c` error
  code, `m` message, `d` disabled plan ids), the user's UPN as it was, the actor and the
  number of the audit event of the change; `group_ids` are the groups whose path to the
  product the change created, changed or ended (the `groupId` filter, D29).
- `webhooks`: registrations (R28) with their delivery state; `secret` is the Standard
  Webhooks key (`whsec_…`), kept to sign deliveries.
- The baseline (D33): one ADDED event per existing held license (CHANGED for a license without
  a seat), actor `system`, so history starts complete.

Revision ID: 0007_license_events
Revises: 0006_users_in_creation_order
"""

from __future__ import annotations

from alembic import op

revision = "0007_license_events"
down_revision = "0006_users_in_creation_order"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE tenants ADD COLUMN event_seq bigint NOT NULL DEFAULT 0;
CREATE TABLE license_events (
    tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    seq bigint NOT NULL,
    occurred_at timestamptz NOT NULL,
    kind text NOT NULL CHECK (kind IN ('ADDED', 'REMOVED', 'CHANGED')),
    user_id uuid NOT NULL,
    user_principal_name text NOT NULL,
    product_id uuid NOT NULL,
    holds_seat boolean NOT NULL,
    paths jsonb NOT NULL,
    group_ids uuid[] NOT NULL DEFAULT '{}',
    actor text NOT NULL,
    audit_id bigint,
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX license_events_user ON license_events (tenant_id, user_id, seq);
CREATE INDEX license_events_product ON license_events (tenant_id, product_id, seq);
-- a large pending list: a group change's 300,000 entries are merged into the index later
-- (by autovacuum or a later insert), not inside the change's transaction
CREATE INDEX license_events_groups ON license_events USING gin (group_ids) WITH (gin_pending_list_limit = 65536);
CREATE INDEX license_events_time ON license_events (occurred_at);
CREATE TABLE webhooks (
    tenant_id text NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    id uuid NOT NULL,
    url text NOT NULL,
    description text,
    kinds text[] NOT NULL DEFAULT '{}',
    secret text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    enabled boolean NOT NULL DEFAULT true,
    last_delivered_seq bigint NOT NULL,
    last_success_at timestamptz,
    last_failure_at timestamptz,
    last_failure_reason text,
    failing_since timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX webhooks_enabled ON webhooks (tenant_id) WHERE enabled;
WITH held AS (
    SELECT l.tenant_id, l.user_id, l.product_id, l.holds_seat, u.user_principal_name, u.created_seq,
           (SELECT jsonb_agg(jsonb_build_object(
                       'g', CASE WHEN p.group_id = '00000000-0000-0000-0000-000000000000' THEN NULL ELSE p.group_id END,
                       's', p.state, 'c', p.error_code, 'm', p.error_message, 'd', to_jsonb(p.disabled_plan_ids))
                   ORDER BY p.group_id)
            FROM license_paths p
            WHERE p.tenant_id = l.tenant_id AND p.user_id = l.user_id AND p.product_id = l.product_id) AS paths
    FROM user_licenses l JOIN users u ON u.tenant_id = l.tenant_id AND u.id = l.user_id
),
numbered AS (
    SELECT held.*, row_number() OVER (PARTITION BY tenant_id ORDER BY created_seq, user_id, product_id) AS seq FROM held
)
INSERT INTO license_events (tenant_id, seq, occurred_at, kind, user_id, user_principal_name, product_id, holds_seat,
                            paths, group_ids, actor, audit_id)
SELECT tenant_id, seq, now(), CASE WHEN holds_seat THEN 'ADDED' ELSE 'CHANGED' END, user_id, user_principal_name,
       product_id, holds_seat, coalesce(paths, '[]'::jsonb), '{}', 'system', NULL
FROM numbered;
UPDATE tenants t SET event_seq = c.last
FROM (SELECT tenant_id, max(seq) AS last FROM license_events GROUP BY tenant_id) c
WHERE t.id = c.tenant_id
"""

DOWNGRADE = """
DROP TABLE webhooks;
DROP TABLE license_events;
ALTER TABLE tenants DROP COLUMN event_seq
"""


def upgrade() -> None:
    for statement in UPGRADE.split(";\n"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE.split(";\n"):
        if statement.strip():
            op.execute(statement)
