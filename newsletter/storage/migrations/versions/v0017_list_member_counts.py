"""list member counts by status, kept by triggers on memberships

Revision ID: v0017
Revises: v0016

The console's lists page counted every membership by status (a full scan: ~450 ms at
1M members on PostgreSQL). The counts now live in ``list_member_counts``, written only
by triggers on ``memberships``, so the import's COPY path, signups, confirmations,
unsubscribes, webhook suppressions, erasure (the cascade from ``subscribers``) and
retention all keep them exact without knowing about them.

PostgreSQL: statement-level triggers with transition tables add one signed figure per
(list, status, confirmed) a statement changed, to rows of the writing transaction's
own (``slot`` = its transaction id), so a 1M-row import touches one or two rows and
concurrent writers never wait on a shared counter row. SQLite has row triggers only;
each adds to the one row of its key (slot 0; SQLite has one writer at a time anyway).

A later migration that rebuilds ``memberships`` on SQLite (``batch_alter_table``)
drops these triggers with the old table: it must run ``create_triggers`` again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "v0017"
down_revision = "v0016"
branch_labels = None
depends_on = None

_KEY = "list_id, status, confirmed_at IS NOT NULL"
_ADD = (
    "INSERT INTO list_member_counts (list_id, status, confirmed, slot, members) {rows}"
    " ON CONFLICT (list_id, status, confirmed, slot)"
    " DO UPDATE SET members = list_member_counts.members + excluded.members"
)
# Each transaction adds to rows of its own (slot = its transaction id): concurrent
# writers never wait on each other's counter rows.
_PG_FUNCTIONS = {
    "list_member_counts_added": _ADD.format(
        rows=f"SELECT {_KEY}, txid_current(), count(*) FROM new_rows GROUP BY 1, 2, 3"
    ),
    "list_member_counts_removed": _ADD.format(
        rows=f"SELECT {_KEY}, txid_current(), -count(*) FROM old_rows GROUP BY 1, 2, 3"
    ),
    "list_member_counts_changed": _ADD.format(
        rows=f"""SELECT list_id, status, confirmed, txid_current(), sum(delta) FROM (
            SELECT {_KEY} AS confirmed, 1 AS delta FROM new_rows
            UNION ALL
            SELECT {_KEY} AS confirmed, -1 AS delta FROM old_rows
        ) AS moved GROUP BY 1, 2, 3 HAVING sum(delta) <> 0"""
    ),
}
_PG_TABLES = {
    "list_member_counts_added": "NEW TABLE AS new_rows",
    "list_member_counts_removed": "OLD TABLE AS old_rows",
    "list_member_counts_changed": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
}
_PG_TRIGGERS = {
    "list_member_counts_added": "INSERT",
    "list_member_counts_removed": "DELETE",
    "list_member_counts_changed": "UPDATE",
}


def _sqlite_add(row: str, delta: int) -> str:
    values = f"VALUES ({row}.list_id, {row}.status, {row}.confirmed_at IS NOT NULL, 0, {delta})"
    return _ADD.format(rows=values) + ";"


_SQLITE_TRIGGERS = {
    "list_member_counts_added": f"AFTER INSERT ON memberships BEGIN {_sqlite_add('NEW', 1)}",
    "list_member_counts_removed": f"AFTER DELETE ON memberships BEGIN {_sqlite_add('OLD', -1)}",
    "list_member_counts_changed": (
        "AFTER UPDATE OF list_id, status, confirmed_at ON memberships"
        " WHEN OLD.list_id <> NEW.list_id OR OLD.status <> NEW.status"
        " OR (OLD.confirmed_at IS NULL) <> (NEW.confirmed_at IS NULL)"
        f" BEGIN {_sqlite_add('OLD', -1)} {_sqlite_add('NEW', 1)}"
    ),
}


def create_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, body in _PG_FUNCTIONS.items():
            op.execute(
                f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$"
                f" BEGIN {body}; RETURN NULL; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER {_PG_TRIGGERS[name]} ON memberships"
                f" REFERENCING {_PG_TABLES[name]} FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
            )
    else:
        for name, body in _SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body} END")


def drop_triggers() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in _PG_FUNCTIONS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON memberships" if postgres else ""))
        if postgres:
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")


def upgrade() -> None:
    op.create_table(
        "list_member_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("confirmed", sa.Boolean(), nullable=False),
        sa.Column("slot", sa.BigInteger(), nullable=False),
        sa.Column("members", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_member_counts")),
        sa.UniqueConstraint(
            "list_id", "status", "confirmed", "slot", name=op.f("uq_list_member_counts_key")
        ),
    )
    # Counted and armed in one transaction (PostgreSQL runs migrations in one; on
    # SQLite the migration holds the write lock): no change falls between the two.
    op.execute(
        "INSERT INTO list_member_counts (list_id, status, confirmed, slot, members)"
        f" SELECT {_KEY}, 0, count(*) FROM memberships GROUP BY 1, 2, 3"
    )
    create_triggers()


def downgrade() -> None:
    drop_triggers()
    op.drop_table("list_member_counts")
