"""The engine of a sending process: SQLite connections with a small page cache."""

from __future__ import annotations

from sqlalchemy import text

from newsletter.services.database import open_engine
from newsletter.settings import load_settings
from newsletter.storage.db import SEND_CACHE_KIB


def _cache_size(url: str, *, sending: bool) -> int:
    engine = open_engine(load_settings(database_url=url), sending=sending)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("PRAGMA cache_size")).scalar_one())
    finally:
        engine.dispose()


def test_a_sending_engine_gives_each_sqlite_connection_the_small_cache(
    _sqlite_url: str,
) -> None:
    assert _cache_size(_sqlite_url, sending=True) == -SEND_CACHE_KIB
    # Every other engine keeps SQLite's default (-2000: about 2 MB).
    assert _cache_size(_sqlite_url, sending=False) == -2000


def test_a_sending_engine_on_postgresql_is_an_ordinary_engine(_postgresql_url: str) -> None:
    engine = open_engine(load_settings(database_url=_postgresql_url), sending=True)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
