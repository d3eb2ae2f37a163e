"""What every command shares: settings, the database, and how results are printed."""

from __future__ import annotations

import getpass
import sys
from typing import TYPE_CHECKING, Any

import orjson
from rich.console import Console, ConsoleDimensions

if TYPE_CHECKING:  # imported where used, so that a command pays only for what it uses
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session, sessionmaker

    from newsletter.settings import Settings

PIPE_WIDTH = 100_000
"""Columns assumed when output is not a terminal: tables print full values, never "…"."""


class _Console(Console):
    """Rich's console, except that a pipe or file is as wide as the widest row.

    Rich assumes 80 columns (or ``COLUMNS``, which CI runners often set to 80) when it
    cannot ask a terminal, which cuts table cells in ``newsletter issue list > issues.txt``
    or a CI log. A pipe has no width to respect, so none is imposed.
    """

    @property
    def size(self) -> ConsoleDimensions:
        measured = super().size
        if self.is_terminal:
            return measured
        return ConsoleDimensions(PIPE_WIDTH, measured.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size


console = _Console(highlight=False, soft_wrap=True)
err_console = _Console(stderr=True, highlight=False, soft_wrap=True)


def settings() -> Settings:
    from newsletter.settings import load_settings

    return load_settings()


def engine(cfg: Settings, *, check: bool = True, sending: bool = False) -> Engine:
    """An engine on the configured database; by default refuses a missing or old schema.

    ``sending``: for ``issue send``, whose SQLite connections get a small page cache.
    """
    from newsletter.services.database import open_engine  # SQLAlchemy: only when needed

    return open_engine(cfg, check=check, sending=sending)


def sessions(cfg: Settings) -> sessionmaker[Session]:
    """A session factory on the configured, checked database, for a service to use."""
    from newsletter.services.database import open_sessions

    return open_sessions(cfg)


def print_json(data: Any) -> None:
    """Machine-readable output on stdout, and nothing else there."""
    sys.stdout.write(
        orjson.dumps(
            data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str
        ).decode()
        + "\n"
    )
    sys.stdout.flush()


def whoami() -> str:
    """The login name, for "approved by" and "marked by" records."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
