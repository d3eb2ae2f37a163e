"""What every command shares: settings, the database, and how results are printed."""

from __future__ import annotations

import sys
from typing import Any

import orjson
from rich.console import Console
from sqlalchemy import Engine

from newsletter.settings import Settings, load_settings
from newsletter.storage.db import check_schema, make_engine

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def settings() -> Settings:
    return load_settings()


def engine(cfg: Settings, *, check: bool = True) -> Engine:
    """An engine on the configured database; by default refuses a missing or old schema."""
    eng = make_engine(cfg.database_url)
    if check:
        check_schema(eng)
    return eng


def print_json(data: Any) -> None:
    """Machine-readable output on stdout, and nothing else there."""
    sys.stdout.write(
        orjson.dumps(
            data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str
        ).decode()
        + "\n"
    )
    sys.stdout.flush()
