"""The content library's problems, remembered while no content file changes.

``newsletter status`` lists the content files the next issue leaves out. Finding them
means parsing every file (YAML, Markdown, validation), which costs more than the rest of
a status, while the files rarely change. So the problems are kept in the cache folder
(``newsletter.cache``) with a fingerprint of everything the check reads: the content
folder as named in the settings, the names and kinds of what is in it and in its
folders, the bytes of every ``.md`` file in those folders, and the code that checks them
(this package's ``content`` modules and the parsers they use). Any change to any of it,
a saved file, a new or removed one, an upgrade, means a fresh check; an unchanged
library costs reading its files, and no parser is imported.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

from newsletter import cache

_CHECKER = Path(__file__).resolve().parent.parent / "content"
_CHECKER_PACKAGES = ("yaml", "markdown_it", "pydantic", "pydantic_core")
"""The libraries whose rules and messages the check's problems carry."""


def content_problems(content_dir: Path) -> list[str]:
    """What ``check_library(content_dir).problems`` says, one line each."""
    where = hashlib.blake2b(str(content_dir.resolve()).encode(), digest_size=8).hexdigest()
    name = f"content-{where}.json"
    key = fingerprint(content_dir)
    stored = cache.load(name)
    if stored is not None and stored.get("key") == key and isinstance(stored.get("problems"), list):
        return [str(p) for p in stored["problems"]]

    from newsletter.content.loader import check_library

    problems = [str(p) for p in check_library(content_dir).problems]
    # Kept only if nothing changed while it was checked: else the key might not match
    # what was read, and the next status checks again.
    if fingerprint(content_dir) == key:
        cache.store(name, {"key": key, "problems": problems})
    return problems


def fingerprint(content_dir: Path) -> str:
    """A digest of everything ``check_library(content_dir)`` reads, and of its code."""
    digest = hashlib.blake2b(digest_size=20)
    digest.update(repr((sys.version, _checker_key(), str(content_dir))).encode())
    for entry, kind in _entries(content_dir):
        digest.update(f"\0{entry.name}\0{kind}".encode())
        if kind != "dir":
            continue
        for inner, inner_kind in _entries(entry):
            digest.update(f"\0{entry.name}/{inner.name}\0{inner_kind}".encode())
            if inner_kind == "file" and inner.name.endswith(".md"):
                digest.update(_contents(inner))  # the loader reads only .md files
    if not os.path.isdir(content_dir):
        digest.update(b"\0exists" if os.path.exists(content_dir) else b"\0missing")
    return digest.hexdigest()


def _entries(folder: Path | os.DirEntry[str]) -> list[tuple[os.DirEntry[str], str]]:
    try:
        with os.scandir(folder) as found:
            entries = sorted(found, key=lambda e: e.name)
    except OSError:
        return []
    return [(e, _kind(e)) for e in entries]


def _kind(entry: os.DirEntry[str]) -> str:
    try:
        if entry.is_dir():  # follows links, as the loader's Path.is_dir does
            return "dir"
        return "file" if entry.is_file() else "other"
    except OSError:
        return "other"


def _contents(entry: os.DirEntry[str]) -> bytes:
    try:
        with open(entry.path, "rb") as f:
            return hashlib.blake2b(f.read(), digest_size=20).digest()
    except OSError as exc:
        return f"unreadable: {exc}".encode()


def _checker_key() -> list[object]:
    modules = sorted(p for p in _CHECKER.glob("*.py"))
    return [
        [[p.name, cache.stat_key(p)] for p in modules],
        cache.stat_key(_CHECKER.parent / "errors.py"),
        cache.package_key(*_CHECKER_PACKAGES),
    ]
