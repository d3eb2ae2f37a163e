"""The faces' way into the database: an engine or a session factory for the settings.

The CLI reaches storage only through services; commands that hand a session factory
to a service get it here rather than opening one with ``newsletter.storage`` itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Engine

from newsletter.settings import Settings
from newsletter.storage.db import (
    SEND_CACHE_KIB,
    check_schema,
    is_sqlite,
    make_engine,
    session_factory,
)

if TYPE_CHECKING:  # an engine alone (``newsletter status``) needs no ORM
    from sqlalchemy.orm import Session, sessionmaker


def open_engine(cfg: Settings, *, check: bool = True, sending: bool = False) -> Engine:
    """An engine on the configured database; by default refuses a missing or old schema.

    ``sending``: the engine of a process that sends an issue, whose SQLite connections
    get a small page cache (``SEND_CACHE_KIB``).
    """
    cache = SEND_CACHE_KIB if sending else None
    engine = make_engine(cfg.database_url, sqlite_cache_kib=cache)
    if check:
        check_schema(engine)
    return engine


def open_sessions(cfg: Settings) -> sessionmaker[Session]:
    """A session factory on the configured, checked database."""
    return session_factory(open_engine(cfg))


def uses_sqlite(cfg: Settings) -> bool:
    return is_sqlite(cfg.database_url)
