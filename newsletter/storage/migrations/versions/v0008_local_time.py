"""local time: subscribers.timezone, lists.local_time and lists.timezone

Revision ID: v0008
Revises: v0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v0008"
down_revision = "v0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))
    with op.batch_alter_table("lists", schema=None) as batch_op:
        batch_op.add_column(sa.Column("local_time", sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("lists", schema=None) as batch_op:
        batch_op.drop_column("timezone")
        batch_op.drop_column("local_time")
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("timezone")
