"""Small JSON files in the user's cache folder, for answers that are dear to compute.

``newsletter status`` keeps two things here so that it need not import (and run) the
content parser and APScheduler every time: the content library's problems and cron
fire times. The folder is ``$XDG_CACHE_HOME/newsletter`` (by default
``~/.cache/newsletter``). Whoever reads a file checks it against a key of everything
its answer depends on, so a stale, foreign or corrupt file costs only the work it was
meant to save. Files are written whole (a temporary file renamed over the old one) and
on a best-effort basis: a folder that cannot be written means no cache, not an error.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import orjson

FOLDER_NAME = "newsletter"


def folder() -> Path:
    """Where the cache files live (created on the first write)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / FOLDER_NAME


def load(name: str) -> dict[str, Any] | None:
    """The object stored under ``name``; None when missing, unreadable or not an object."""
    try:
        data = orjson.loads((folder() / name).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def store(name: str, data: dict[str, Any]) -> None:
    """Replace the file ``name`` with ``data`` in one step; silently skipped if impossible."""
    import tempfile  # only a miss writes

    target = folder() / name
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(orjson.dumps(data))
            os.replace(temporary, target)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError:
        return


def stat_key(path: Path | str) -> list[int]:
    """(size, mtime_ns) of a file, or [] when it is not there: changes when it is rewritten."""
    try:
        found = os.stat(path)
    except OSError:
        return []
    return [found.st_size, found.st_mtime_ns]


def package_key(*names: str) -> list[list[int]]:
    """A ``stat_key`` of each installed package's ``__init__``, found without importing it.

    An upgrade or reinstall rewrites the file, so this tells when answers that a package
    computed (messages, fire times) may have changed.
    """
    keys = []
    for name in names:
        spec = importlib.util.find_spec(name)
        keys.append(stat_key(spec.origin) if spec is not None and spec.origin else [])
    return keys
