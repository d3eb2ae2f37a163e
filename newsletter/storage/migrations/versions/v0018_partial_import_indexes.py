"""partial indexes on subscribers.paused_until and memberships.unsubscribed_at

Revision ID: v0018
Revises: v0017

Both columns are empty for nearly everyone (a pause and an unsubscribe are the
exception), and the only queries that use the two indexes look for a value (``paused_until
> now``, ``unsubscribed_at >= since``), which implies it is not empty: both databases use
a partial index for those. Indexing only the rows that have one takes two index entries
off every person an import adds (measured on PostgreSQL, 200,000 new people: the insert
statement 3.2 s -> 2.6 s, median of three) and off every sign-up.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v0018"
down_revision = "v0017"
branch_labels = None
depends_on = None

_INDEXES = (
    ("ix_subscribers_paused_until", "subscribers", ["paused_until"], "paused_until"),
    (
        "ix_memberships_list_unsubscribed",
        "memberships",
        ["list_id", "unsubscribed_at"],
        "unsubscribed_at",
    ),
)


def upgrade() -> None:
    for name, table, columns, column in _INDEXES:
        where = sa.text(f"{column} IS NOT NULL")
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns, postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    for name, table, columns, _column in _INDEXES:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)
