"""results: maintained per-issue totals, events per hour, clicks per link

Revision ID: v0006
Revises: v0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v0006"
down_revision = "v0005"
branch_labels = None
depends_on = None

# Bits of delivery_outcomes.prev_seen, as in newsletter.storage.repositories.results.
_SEEN_BITS = (
    ("delivered_at", 1),
    ("first_opened_at", 2),
    ("first_clicked_at", 4),
    ("bounced_at", 8),
    ("complained_at", 16),
    ("unsubscribed_at", 32),
    ("dropped_at", 64),
)


def _issue_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["issue_id"], ["issues.id"], name=op.f(f"fk_{table}_issue_id_issues"), ondelete="CASCADE"
    )


def upgrade() -> None:
    with op.batch_alter_table("delivery_outcomes") as batch:
        batch.add_column(sa.Column("dropped_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("prev_seen", sa.SmallInteger(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("delivery_outcomes") as batch:
        batch.alter_column("prev_seen", server_default=None)
    op.create_index(
        "ix_memberships_list_unsubscribed", "memberships", ["list_id", "unsubscribed_at"]
    )
    op.create_table(
        "issue_outcome_totals",
        sa.Column("issue_id", sa.Integer(), nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in (
                "delivered",
                "opened",
                "clicked",
                "bounced",
                "complained",
                "unsubscribed",
                "dropped",
            )
        ),
        _issue_fk("issue_outcome_totals"),
        sa.PrimaryKeyConstraint("issue_id", name=op.f("pk_issue_outcome_totals")),
    )
    op.create_table(
        "issue_event_hours",
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("hour", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        _issue_fk("issue_event_hours"),
        sa.PrimaryKeyConstraint("issue_id", "hour", "event", name=op.f("pk_issue_event_hours")),
    )
    op.create_table(
        "issue_link_clicks",
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        _issue_fk("issue_link_clicks"),
        sa.PrimaryKeyConstraint("issue_id", "url", name=op.f("pk_issue_link_clicks")),
    )
    # Outcomes processed before this revision: dropped people were only a status, and
    # the totals start from what delivery_outcomes already holds. (Hours and links
    # start empty: the raw events of earlier issues are not replayed.)
    op.execute("UPDATE delivery_outcomes SET dropped_at = updated_at WHERE status = 'dropped'")
    seen = " + ".join(
        f"CASE WHEN {column} IS NULL THEN 0 ELSE {bit} END" for column, bit in _SEEN_BITS
    )
    op.execute(f"UPDATE delivery_outcomes SET prev_seen = {seen}")
    op.execute(
        "INSERT INTO issue_outcome_totals (issue_id, delivered, opened, clicked, bounced, "
        "complained, unsubscribed, dropped) SELECT issue_id, count(delivered_at), "
        "count(first_opened_at), count(first_clicked_at), count(bounced_at), "
        "count(complained_at), count(unsubscribed_at), count(dropped_at) "
        "FROM delivery_outcomes GROUP BY issue_id"
    )


def downgrade() -> None:
    op.drop_table("issue_link_clicks")
    op.drop_table("issue_event_hours")
    op.drop_table("issue_outcome_totals")
    op.drop_index("ix_memberships_list_unsubscribed", table_name="memberships")
    with op.batch_alter_table("delivery_outcomes") as batch:
        batch.drop_column("prev_seen")
        batch.drop_column("dropped_at")
