"""send batches: which rule settled a batch, and the webhook evidence seen for it

Revision ID: v0015
Revises: v0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v0015"
down_revision = "v0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("send_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settle_rule", sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column("events_seen", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("send_batches", schema=None) as batch_op:
        batch_op.drop_column("events_seen")
        batch_op.drop_column("settle_rule")
