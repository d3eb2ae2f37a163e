"""issues.subject_chosen / preheader_chosen: whether a person typed them

A rebuild keeps a chosen subject and derives an unchosen one from the lead article again.
Issues that existed before this revision keep theirs (true), as rebuilds did until now.

Revision ID: v0014
Revises: v0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v0014"
down_revision = "v0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("issues", schema=None) as batch_op:
        for name in ("subject_chosen", "preheader_chosen"):
            batch_op.add_column(
                sa.Column(name, sa.Boolean(), nullable=False, server_default=sa.true())
            )


def downgrade() -> None:
    with op.batch_alter_table("issues", schema=None) as batch_op:
        batch_op.drop_column("preheader_chosen")
        batch_op.drop_column("subject_chosen")
