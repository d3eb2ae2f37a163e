"""The ``newsletter`` command line (Typer).

Each command parses, calls one service, and presents the result. Expected failures
(``NewsletterError``) become a one-paragraph message and exit code 1; usage errors
keep click's exit code 2. A traceback means a bug.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from newsletter.cli.apps import (
    config_app,
    content_app,
    db_app,
    issue_app,
    lists_app,
    subscribers_app,
    suppressions_app,
    users_app,
)
from newsletter.cli.common import err_console
from newsletter.errors import NewsletterError, SettingsError
from newsletter.logs import setup_logging
from newsletter.settings import load_settings


class _Group(TyperGroup):
    """Turns every ``NewsletterError`` raised below the root into exit code 1."""

    def invoke(self, ctx: Any) -> Any:
        # Any: typer vendors its own click in recent versions, so name no Context class.
        try:
            return super().invoke(ctx)
        except NewsletterError as exc:
            err_console.print(f"[bold red]error:[/bold red] {exc}", markup=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Group,
    help="A self-hosted weekly newsletter pipeline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
@app.callback()
def _shared_logging() -> None:
    # The same set-up as serve and the scheduler (masking included). Commands print their
    # own summaries, so only warnings and errors are logged here.
    try:
        cfg = load_settings()
    except SettingsError:
        return  # the command itself reports the bad setting
    setup_logging(cfg, floor="WARNING")


app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(content_app, name="content")
app.add_typer(lists_app, name="lists")
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(suppressions_app, name="suppressions")
app.add_typer(issue_app, name="issue")
app.add_typer(users_app, name="users")

# Importing the command modules registers their commands on the groups above.
from newsletter.cli import commands  # noqa: E402

app.command("status")(commands.status_cmd.status)
app.command("scheduler")(commands.scheduler_cmd.scheduler)
app.command("serve")(commands.serve_cmd.serve)
app.command("quickstart")(commands.quickstart_cmd.quickstart)


def main() -> None:
    app()
