"""send batches: when the request of the current attempt started to be written

Revision ID: v0016
Revises: v0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v0016"
down_revision = "v0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("send_batches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("request_started_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("send_batches", schema=None) as batch_op:
        batch_op.drop_column("request_started_at")
