"""Migrations from empty, on SQLite and on PostgreSQL, match the models."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Table, inspect, text

from newsletter.errors import SchemaError
from newsletter.storage import migrate
from newsletter.storage.db import check_schema, make_engine
from newsletter.storage.models import Base
from newsletter.testing.databases import scratch_postgres

AUDIENCE_TABLES = {"lists", "subscribers", "memberships", "suppressions"}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    admin_url: str = request.getfixturevalue("_postgresql_url")
    with scratch_postgres(admin_url, "nl_mig") as url:
        yield url


def test_upgrade_from_empty_matches_the_models(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        with pytest.raises(SchemaError, match="no schema yet"):
            check_schema(engine)
        before, after = migrate.upgrade(engine)
        assert before is None and after == migrate.head_revision()
        check_schema(engine)
        assert set(inspect(engine).get_table_names()) >= AUDIENCE_TABLES
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        mine = [d for d in diffs if _table_of(d) in AUDIENCE_TABLES]
        assert mine == []
        assert migrate.upgrade(engine) == (after, after)  # idempotent
    finally:
        engine.dispose()


def test_a_schema_behind_the_code_is_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        migrate.upgrade(engine, "v0001")
        if migrate.head_revision() == "v0001":
            pytest.skip("no later revision yet")
        with pytest.raises(SchemaError, match="at v0001 but this version needs"):
            check_schema(engine)
    finally:
        engine.dispose()


def _table_of(diff: object) -> str | None:
    # compare_metadata yields tuples like ("add_index", Index) or lists of column changes.
    item = diff[0] if isinstance(diff, list) else diff
    for part in item if isinstance(item, tuple) else ():
        if isinstance(part, Table):
            return str(part.name)
        table = getattr(part, "table", None)
        if table is not None and hasattr(table, "name"):
            return str(table.name)
        if isinstance(part, str) and part in AUDIENCE_TABLES:
            return part
    return None


# The predicates of results.unsubscribed_between and of the sendable count's paused
# people: the partial indexes (v0018) hold only rows with a value, so each query must
# still be one they can answer.
_PARTIAL_INDEX_QUERIES = {
    "ix_memberships_list_unsubscribed": (
        "SELECT count(*) FROM memberships {hint}"
        " WHERE list_id = 1 AND unsubscribed_at >= :since AND unsubscribed_at < :until"
    ),
    "ix_subscribers_paused_until": (
        "SELECT count(*) FROM subscribers {hint} WHERE paused_until > CURRENT_TIMESTAMP"
    ),
}


def test_the_partial_indexes_serve_the_queries_that_use_them(empty_url: str) -> None:
    engine = make_engine(empty_url)
    try:
        migrate.upgrade(engine)
        since, until = (
            dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
        )
        with engine.connect() as conn:
            for index, query in _PARTIAL_INDEX_QUERIES.items():
                if engine.dialect.name == "sqlite":
                    # INDEXED BY is an error when the index cannot answer the query.
                    sql = "EXPLAIN QUERY PLAN " + query.format(hint=f"INDEXED BY {index}")
                else:
                    conn.execute(text("SET enable_seqscan = off"))
                    sql = "EXPLAIN " + query.format(hint="")
                plan = " ".join(
                    str(row) for row in conn.execute(text(sql), {"since": since, "until": until})
                )
                assert index in plan, plan
                if engine.dialect.name == "sqlite":
                    ddl = "SELECT sql FROM sqlite_master WHERE name = :name"
                else:
                    ddl = "SELECT indexdef FROM pg_indexes WHERE indexname = :name"
                assert "IS NOT NULL" in conn.scalar(text(ddl), {"name": index})
    finally:
        engine.dispose()
