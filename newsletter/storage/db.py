"""Engines, sessions and the schema check.

SQLite is the embedded default (a file under ``var/``, WAL mode, a busy timeout so
concurrent writers wait instead of failing); PostgreSQL is chosen by URL and always
driven through psycopg 3.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from newsletter.errors import DatabaseUnavailableError, SchemaError, StorageError

if TYPE_CHECKING:
    # The ORM is imported where a session is made, so that ``newsletter status``, which
    # reads through Core (``connected``), never loads it.
    from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 30_000
SEND_CACHE_KIB = 256
"""SQLite's page cache for each connection of an ``issue send`` (SQLite's default: 2 MB).

A send counts the audience once, copies it once and then reads each batch's rows once:
the pages it comes back to (index interiors, the issue and batch rows) fit in 256 KiB,
and a larger cache only holds pages never read again, ~2 MB on each of up to five pooled
connections. The OS keeps the file cached either way."""
RECONNECT_SECONDS = 60.0
"""How long ``retrying_transaction`` keeps trying a fresh connection before giving up."""


def normalize_url(url: str) -> str:
    """Route every PostgreSQL URL through psycopg 3, the driver we install."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_sqlite(url: str) -> bool:
    return normalize_url(url).startswith("sqlite")


def make_engine(url: str, *, sqlite_cache_kib: int | None = None, **kwargs: Any) -> Engine:
    """Create an engine; for a SQLite file, create its folder and set WAL + busy timeout.

    ``sqlite_cache_kib`` sets each SQLite connection's page cache (ignored on PostgreSQL).
    """
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError with no field name
        raise StorageError(f"NEWSLETTER_DATABASE_URL is not a database URL: {url!r}") from exc
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            **kwargs,
        )
        event.listen(engine, "connect", partial(_sqlite_pragmas, cache_kib=sqlite_cache_kib))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, cache_kib: int | None) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    if cache_kib is not None:
        cursor.execute(f"PRAGMA cache_size=-{int(cache_kib)}")  # negative: KiB, not pages
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    from sqlalchemy.orm import sessionmaker

    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        raise _translated(exc) from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def connected(engine: Engine) -> Iterator[Connection]:
    """``transaction`` for Core work: one transaction on one connection, same errors."""
    try:
        with engine.begin() as connection:
            yield connection
    except SQLAlchemyError as exc:
        raise _translated(exc) from exc


def _translated(exc: SQLAlchemyError) -> StorageError:
    kind = DatabaseUnavailableError if _connection_failed(exc) else StorageError
    return kind(f"database error: {exc.__class__.__name__}: {exc}")


def _connection_failed(exc: SQLAlchemyError) -> bool:
    """A lost or refused connection (or a locked/unreadable SQLite file): worth a retry."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError)


def retrying_transaction(
    factory: sessionmaker[Session],
    work: Callable[[Session, int], T],
    *,
    seconds: float = RECONNECT_SECONDS,
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """``work(session, attempt)`` in one transaction, retried on a fresh connection.

    Only ``DatabaseUnavailableError`` is retried, with a backoff of 0.1 s doubling to 5 s,
    for up to ``seconds``; then the last one is raised. ``attempt`` counts from 1, so a
    retry can check whether an earlier try did commit before its connection died.
    """
    deadline = clock() + seconds
    delay = 0.1
    attempt = 0
    while True:
        attempt += 1
        try:
            with transaction(factory) as session:
                return work(session, attempt)
        except DatabaseUnavailableError:
            if clock() + delay > deadline:
                raise
            sleep(delay)
            delay = min(delay * 2, 5.0)


def check_schema(engine: Engine) -> None:
    """Refuse to work on a schema that is missing or behind the code."""
    from newsletter.storage.revisions import code_head, database_revision

    try:
        current = database_revision(engine)
    except SQLAlchemyError as exc:
        raise StorageError(f"cannot open the database: {exc}") from exc
    head = code_head()
    if current is None:
        raise SchemaError("the database has no schema yet: run `newsletter db upgrade` first")
    if current != head:
        raise SchemaError(
            f"the database schema is at {current} but this version needs {head}: "
            "run `newsletter db upgrade`"
        )
