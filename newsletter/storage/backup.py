"""A consistent copy of the database while the scheduler and the web app keep writing.

SQLite: the online backup API copies every page under one read transaction, which in
WAL mode never blocks a writer and sees one committed state from start to end. The
copy goes to a temporary file beside the target and is renamed into place only after
``PRAGMA quick_check`` passed, so a failed backup never leaves a half-written file
under the name you asked for. PostgreSQL has ``pg_dump`` for this; we only say how.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, make_url

from newsletter.errors import StorageError


@dataclass(frozen=True)
class BackupResult:
    path: Path
    pages: int
    bytes: int


def sqlite_path(engine: Engine) -> Path:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        raise StorageError(f"not a SQLite database file: {engine.url.render_as_string()}")
    return Path(database)


def backup_sqlite(engine: Engine, target: Path, *, overwrite: bool = False) -> BackupResult:
    source_path = sqlite_path(engine)
    if target.resolve() == source_path.resolve():
        raise StorageError(f"{target} is the database itself; choose another file")
    if target.exists() and not overwrite:
        raise StorageError(f"{target} already exists; choose a new name or pass --force")
    if not target.parent.is_dir():
        raise StorageError(f"{target.parent} is not a folder")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        source = sqlite3.connect(source_path)
        copy = sqlite3.connect(partial)
        try:
            # pages=-1: one step, one read transaction, so the copy is one consistent state.
            source.backup(copy, pages=-1)
            pages = int(copy.execute("PRAGMA page_count").fetchone()[0])
            verdict = copy.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            copy.close()
            source.close()
        if verdict != "ok":
            raise StorageError(f"the copy failed its integrity check: {verdict}")
        os.replace(partial, target)
    except sqlite3.Error as exc:
        raise StorageError(f"backup of {source_path} to {target} failed: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return BackupResult(target, pages, target.stat().st_size)


def pg_dump_command(url: str, target: Path) -> str:
    """The ``pg_dump`` command line for this database, without its password."""
    parsed = make_url(url)
    args = ["pg_dump", "--format=custom", f"--file={target}"]
    if parsed.host:
        args.append(f"--host={parsed.host}")
    if parsed.port:
        args.append(f"--port={parsed.port}")
    if parsed.username:
        args.append(f"--username={parsed.username}")
    args.append(parsed.database or "postgres")
    return shlex.join(args)
