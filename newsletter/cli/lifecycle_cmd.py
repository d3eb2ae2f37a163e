"""``newsletter subscribers forget EMAIL`` and ``newsletter db backup FILE``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from newsletter.audience.erasure import ErasureKeys
from newsletter.cli import common
from newsletter.cli.apps import db_app, subscribers_app
from newsletter.services import lifecycle
from newsletter.storage import backup


@subscribers_app.command("forget")
def forget(
    *,
    email: str = typer.Argument(..., help="The address to erase."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object."),
) -> None:
    """Erase a person: address, names, attributes, consent records, events (GDPR art. 17).

    Only a keyed hash of the address stays, in the suppression list, so a later import
    or sign-up of the same address is refused. This cannot be undone.
    """
    cfg = common.settings()
    sessions = common.sessions(cfg)
    if not yes:
        if not sys.stdin.isatty():
            common.err_console.print("Refusing to erase without --yes (no terminal to ask on).")
            raise typer.Exit(2)
        typer.confirm(f"Erase {email} for good? Their history cannot be brought back", abort=True)
    result = lifecycle.forget(sessions, email, ErasureKeys.from_settings(cfg))
    if as_json:
        common.print_json(result.to_dict())
        return
    found = "a subscriber record" if result.subscriber else "no subscriber record"
    common.console.print(
        f"Erased {result.email}: {found}, {result.memberships} membership(s), "
        f"{result.deliveries} delivery record(s) made anonymous, {result.outcomes} "
        f"outcome(s), {result.events} raw event(s). The address is now suppressed by a "
        "keyed hash only."
    )


@db_app.command("backup")
def backup_(
    *,
    file: Annotated[Path, typer.Argument(help="Where to write the copy (a new file).")],
    force: bool = typer.Option(False, "--force", help="Replace FILE if it exists."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object."),
) -> None:
    """Copy the SQLite database consistently while everything keeps running.

    For PostgreSQL, prints the pg_dump command to run instead.
    """
    from newsletter.services.database import uses_sqlite

    cfg = common.settings()
    if not uses_sqlite(cfg):
        command = backup.pg_dump_command(cfg.database_url, file)
        if as_json:
            common.print_json({"backend": "postgresql", "command": command, "written": False})
            return
        common.console.print(
            "PostgreSQL is backed up with its own tool; run (the password comes from "
            f"PGPASSWORD or ~/.pgpass):\n  {command}\nRestore with pg_restore --dbname=…"
        )
        return
    result = backup.backup_sqlite(common.engine(cfg, check=False), file, overwrite=force)
    if as_json:
        common.print_json(
            {
                "backend": "sqlite",
                "file": str(result.path),
                "pages": result.pages,
                "bytes": result.bytes,
                "written": True,
            }
        )
        return
    size = result.bytes / 2**20
    common.console.print(
        f"Backed up to {result.path} ({size:.1f} MB, {result.pages:,} pages, integrity ok)."
    )
