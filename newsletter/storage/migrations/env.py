"""Alembic environment: runs on the engine handed over by ``newsletter.storage.migrate``."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import Engine

from newsletter.storage.models import Base, UTCDateTime


def _render_item(kind: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    # Migrations must not import the package's types: a plain timezone-aware DateTime
    # is what UTCDateTime stores on both backends.
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


config = context.config
engine = config.attributes.get("engine")
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through `newsletter db upgrade`")

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()
