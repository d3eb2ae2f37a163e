"""``newsletter config show``."""

from __future__ import annotations

import typer
from rich.table import Table

from newsletter.cli import common
from newsletter.cli.apps import config_app
from newsletter.settings import MAKE_SECRET_KEY, masked_settings, secret_key_problem


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
    problem = secret_key_problem(cfg.secret_key.get_secret_value())
    if problem is not None:
        common.err_console.print(
            f"warning: NEWSLETTER_SECRET_KEY {problem}; sending, serving and the scheduler "
            f"refuse to run until it is set. Make one with: {MAKE_SECRET_KEY}"
        )
