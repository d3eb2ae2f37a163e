"""issues.intro: the intro note's Markdown, so a rebuild or reschedule keeps it

Revision ID: v0009
Revises: v0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v0009"
down_revision = "v0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.add_column(sa.Column("intro", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.drop_column("intro")
