"""preferences: subscribers.paused_until, memberships.welcomed_at, preference_changes

Revision ID: v0011
Revises: v0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v0011"
down_revision = "v0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_subscribers_paused_until", ["paused_until"], unique=False)
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.add_column(sa.Column("welcomed_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "preference_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["list_id"], ["lists.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_preference_changes_subscriber",
        "preference_changes",
        ["subscriber_id", "created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_preference_changes_subscriber", table_name="preference_changes")
    op.drop_table("preference_changes")
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_column("welcomed_at")
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_index("ix_subscribers_paused_until")
        batch_op.drop_column("paused_until")
