"""Many rows as one bound parameter: a JSON array the database unpacks into a row set.

``INSERT ... SELECT FROM json_rows(...)`` writes a whole batch with one statement and one
parameter, whatever its size: no per-row placeholders, no bound-parameter cap, and no
page of ``VALUES`` rendered per thousand rows. PostgreSQL unpacks the array with
``json_to_recordset`` (the column types come from the target table), SQLite with
``json_each`` and ``json_extract``. Values are first put through each column type's own
bind processing, so what is stored is exactly what a row-by-row insert would store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import JSON, Select, Table, bindparam, cast, func, select, true
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.types import String, Text, TypeEngine


def _processor(kind: TypeEngine[Any], dialect: Dialect) -> Any:
    if dialect.name == "postgresql" and isinstance(kind, JSON):
        return None  # the array carries the object itself; the row set types it json
    return kind.bind_processor(dialect)


def _pg_field(element: Any, index: int, kind: TypeEngine[Any]) -> Any:
    if isinstance(kind, JSON):
        return element.op("->")(index)
    if isinstance(kind, String):
        # Text, not VARCHAR(n): a cast would cut a long value, the insert refuses it.
        return cast(element.op("->>")(index), Text())
    return cast(element.op("->>")(index), kind)


def json_rows(
    session: Session, table: Table, names: Sequence[str], rows: Sequence[dict[str, Any]]
) -> Select[Any]:
    """A SELECT of ``rows`` (dicts with the ``names`` keys), typed as ``table``'s columns,
    in the order given."""
    dialect = session.get_bind().dialect
    processors = [(name, _processor(table.c[name].type, dialect)) for name in names]
    data = [
        [row[name] if proc is None else proc(row[name]) for name, proc in processors]
        for row in rows
    ]
    # Each row travels as a positional array: a third of the bytes of objects.
    payload = bindparam("json_rows", orjson.dumps(data).decode(), type_=String())
    if dialect.name == "postgresql":
        rowset = (
            func.json_array_elements(payload.cast(JSON))
            .table_valued("value", with_ordinality="position")
            .render_derived()
        )
        element = rowset.c.value
        fields = [
            _pg_field(element, index, table.c[name].type).label(name)
            for index, name in enumerate(names)
        ]
        return select(*fields).select_from(rowset).order_by(rowset.c.position)
    each = func.json_each(payload).table_valued("value", "key")
    fields = [
        func.json_extract(each.c.value, f"$[{index}]").label(name)
        for index, name in enumerate(names)
    ]
    # SQLite needs a WHERE to parse INSERT ... SELECT ... ON CONFLICT unambiguously.
    return select(*fields).select_from(each).where(true()).order_by(each.c.key)
