"""``newsletter config show``."""

from __future__ import annotations

import typer
from rich.table import Table

from newsletter.cli import common
from newsletter.cli.apps import config_app
from newsletter.settings import masked_settings


@config_app.command("show")
def show(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object."),
) -> None:
    """Print the effective settings, with secrets masked."""
    cfg = common.settings()
    shown = masked_settings(cfg)
    if as_json:
        common.print_json(shown)
        return
    table = Table("variable", "value", title="Effective settings")
    for name, value in shown.items():
        table.add_row(name, "" if value is None else str(value))
    common.console.print(table)
    if cfg.uses_dev_secret:
        common.err_console.print(
            "warning: NEWSLETTER_SECRET_KEY is the built-in development key; "
            "set your own before sending to real people."
        )
