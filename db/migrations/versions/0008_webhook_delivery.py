"""Webhook delivery state (R28, D29): the batch in flight, so a retry re-sends the same batch
with the same `webhook-id`.

- `pending_message_id`: the Standard Webhooks message id of the batch being delivered (null:
  none in flight); `pending_through_seq`: the cursor of its last event. The batch is the
  webhook's events after `last_delivered_seq` up to that cursor (at most 100), so a retry
  reads back exactly the same events; newer events go in later batches.
- An index for the delivery loop's scan of due webhooks across tenants.

Revision ID: 0008_webhook_delivery
Revises: 0007_license_events
"""

from __future__ import annotations

from alembic import op

revision = "0008_webhook_delivery"
down_revision = "0007_license_events"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE webhooks ADD COLUMN pending_message_id text;
ALTER TABLE webhooks ADD COLUMN pending_through_seq bigint;
CREATE INDEX webhooks_due ON webhooks (next_attempt_at) WHERE enabled
"""

DOWNGRADE = """
DROP INDEX webhooks_due;
ALTER TABLE webhooks DROP COLUMN pending_through_seq;
ALTER TABLE webhooks DROP COLUMN pending_message_id
"""


def upgrade() -> None:
    for statement in UPGRADE.split(";\n"):
        if statement.strip():
            op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE.split(";\n"):
        if statement.strip():
            op.execute(statement)
