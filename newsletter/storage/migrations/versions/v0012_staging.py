"""staged sends: SendGrid batch ids, send_at and settling on send_batches; stage plan

Revision ID: v0012
Revises: v0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v0012"
down_revision = "v0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("send_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sg_batch_id", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("send_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("settle_step", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("settle_note", sa.Text(), nullable=True))
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stage_plan", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("stage_hold", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.drop_column("stage_hold")
        batch_op.drop_column("stage_plan")
    with op.batch_alter_table("send_batches", schema=None) as batch_op:
        batch_op.drop_column("settle_note")
        batch_op.drop_column("settle_step")
        batch_op.drop_column("send_at")
        batch_op.drop_column("sg_batch_id")
