"""event retention: index webhook_events by received_at

Revision ID: v0010
Revises: v0009
"""

from __future__ import annotations

from alembic import op

revision = "v0010"
down_revision = "v0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_webhook_events_received", "webhook_events", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_webhook_events_received", table_name="webhook_events")
