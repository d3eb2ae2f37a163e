"""Which schema revision the code expects and the database has, without loading Alembic.

Every command, the web app's health check and the scheduler check the schema before
they start. Alembic's own answer means importing Alembic and compiling every migration
script (about 0.3 s of CPU per command), so the check reads the two facts directly:

* the code's head is the highest ``vNNNN`` of the migration files, which holds because
  the chain is linear and numbered (``vNNNN_what.py`` with ``revision = "vNNNN"``;
  ``tests/test_cli_startup.py`` checks that this agrees with Alembic's own head);
* the database's revision is the single row of Alembic's ``alembic_version`` table.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from sqlalchemy import Engine, inspect, text

VERSIONS_DIR = Path(__file__).with_name("migrations") / "versions"
VERSION_TABLE = "alembic_version"
_FILE = re.compile(r"^(v\d{4})_\w+\.py$")


@cache
def code_head() -> str | None:
    """The newest migration's revision, from the file names alone."""
    found = [m.group(1) for p in VERSIONS_DIR.iterdir() if (m := _FILE.match(p.name))]
    return max(found, default=None)


def database_revision(engine: Engine) -> str | None:
    """The revision stamped in the database; None before the first migration."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    return str(rows[0][0]) if len(rows) == 1 else None
