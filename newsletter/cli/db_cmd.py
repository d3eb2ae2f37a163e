"""``newsletter db upgrade`` and ``newsletter db current``."""

from __future__ import annotations

import typer

from newsletter.cli import common
from newsletter.cli.apps import db_app
from newsletter.storage import migrate


@db_app.command("upgrade")
def upgrade(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object."),
) -> None:
    """Create the schema, or migrate it to this version's head."""
    cfg = common.settings()
    engine = common.engine(cfg, check=False)
    before, after = migrate.upgrade(engine)
    if as_json:
        common.print_json({"before": before, "after": after})
    elif before == after:
        common.console.print(f"Schema already at {after}; nothing to do.")
    else:
        common.console.print(f"Schema migrated from {before or 'empty'} to {after}.")


@db_app.command("current")
def current(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object."),
) -> None:
    """Show the schema revision of the database and of this code."""
    cfg = common.settings()
    engine = common.engine(cfg, check=False)
    data = {"database": migrate.current_revision(engine), "code": migrate.head_revision()}
    if as_json:
        common.print_json(data)
    else:
        common.console.print(f"database: {data['database'] or 'empty'}  code: {data['code']}")
