"""The ``newsletter`` command line (Typer).

Each command parses, calls one service, and presents the result. Expected failures
(``NewsletterError``) become a one-paragraph message and exit code 1; usage errors
keep click's exit code 2. A traceback means a bug. Commands are listed in
:mod:`newsletter.cli.commands` and their modules imported only when they run.
"""

from __future__ import annotations

from typing import Any

import typer

from newsletter.cli.commands import COMMANDS
from newsletter.cli.lazy import LazyGroup
from newsletter.errors import NewsletterError


class _Root(LazyGroup):
    """The table's commands; turns every ``NewsletterError`` raised below into exit code 1."""

    table = COMMANDS

    def invoke(self, ctx: Any) -> Any:
        # Any: typer vendors its own click in recent versions, so name no Context class.
        try:
            return super().invoke(ctx)
        except NewsletterError as exc:
            from newsletter.cli.common import err_console

            err_console.print(f"[bold red]error:[/bold red] {exc}", markup=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Root,
    help="A self-hosted weekly newsletter pipeline.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Click's plain help and error layout: Typer's Rich layout imports Markdown and
    # Pygments, which doubled the CPU time of ``newsletter --help``.
    rich_markup_mode=None,
)
@app.callback()
def _shared_logging() -> None:
    # The same set-up as serve and the scheduler (masking included). Commands print their
    # own summaries, so only warnings and errors are logged here. Imported here, not at
    # the top: ``--help`` never gets this far and needs neither.
    from newsletter.errors import SettingsError
    from newsletter.logs import setup_logging
    from newsletter.settings import load_settings

    try:
        cfg = load_settings()
    except SettingsError:
        return  # the command itself reports the bad setting
    setup_logging(cfg, floor="WARNING")


def main() -> None:
    app()
