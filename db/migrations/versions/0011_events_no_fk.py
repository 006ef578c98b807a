"""License events without a per-row foreign-key trigger.

Licensing a 100,000-member group with 3 products appends 300,000 events in one statement;
`license_events.tenant_id`'s foreign key to `tenants` ran a trigger per row that cost about
1.2 s of it (bench/group_licensing.py, EXPLAIN ANALYZE: "Trigger for constraint
license_events_tenant_id_fkey … calls=300000"). As for paths and licenses (0002), the key is
guaranteed by construction: every event is written by db.repo.events.append or
db.repo.group_batch.APPEND_EVENTS for the tenant of the change, whose row they lock and
update (`tenants.event_seq`) in the same statement or transaction, and no code deletes a
tenant. The table, its columns and its indexes are unchanged.

Revision ID: 0011_events_no_fk
Revises: 0010_tenant_oidc
"""

from __future__ import annotations

from alembic import op

revision = "0011_events_no_fk"
down_revision = "0010_tenant_oidc"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE license_events DROP CONSTRAINT IF EXISTS license_events_tenant_id_fkey")


def downgrade() -> None:
    op.execute(
        "ALTER TABLE license_events ADD CONSTRAINT license_events_tenant_id_fkey "
        "FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE"
    )
