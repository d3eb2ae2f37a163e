"""``newsletter issue preview``: an issue as HTML + text files for a browser.

``issue preview ISSUE`` writes a built issue's stored snapshot; ``issue preview --list
SLUG`` assembles and renders one on the fly and needs no database.
"""

from __future__ import annotations

import datetime as dt
import webbrowser
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from newsletter.cli.apps import issue_app
from newsletter.cli.common import console, engine, print_json, settings
from newsletter.services.preview import PreviewFiles, write_preview, write_stored_preview


@issue_app.command("preview")
def preview(
    issue_id: Annotated[
        int | None,
        typer.Argument(metavar="ISSUE", help="A built issue's id: preview its stored snapshot."),
    ] = None,
    list_slug: Annotated[
        str | None,
        typer.Option("--list", metavar="SLUG", help="Assemble and render for this list instead."),
    ] = None,
    issue_date: Annotated[
        dt.datetime | None,
        typer.Option(
            "--date",
            formats=["%Y-%m-%d"],
            metavar="YYYY-MM-DD",
            help="Issue date; default: today in NEWSLETTER_TIMEZONE.",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="HTML file to write (the .txt goes next to it); "
            "default: var/preview/<date>-<list>.html.",
        ),
    ] = None,
    open_it: Annotated[
        bool, typer.Option("--open", help="Open the HTML in the default browser.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Assemble and render an issue with sample values, and write HTML + text files."""
    if output is not None and output.suffix.lower() == ".txt":
        raise typer.BadParameter("give the HTML file's name; the .txt is written next to it")
    if (issue_id is None) == (list_slug is None):
        raise typer.BadParameter("give either an ISSUE id or --list SLUG (not both)")
    if issue_id is not None and issue_date is not None:
        raise typer.BadParameter("--date goes with --list; a built issue has its own date")
    cfg = settings()
    html_path: Path
    if issue_id is not None:
        stored = write_stored_preview(cfg, engine(cfg), issue_id, output)
        html_path = stored.html_path
        if as_json:
            print_json(stored.as_dict())
        else:
            console.print(f"Issue {issue_id}: [bold]{stored.subject}[/bold]")
            console.print(f"HTML  {stored.html_path}\nText  {stored.text_path}")
    else:
        assert list_slug is not None
        result = write_preview(
            cfg, list_slug, issue_date.date() if issue_date else None, output=output
        )
        html_path = result.html_path
        if as_json:
            print_json(result.as_dict())
        else:
            _print_summary(result)
    if open_it:
        webbrowser.open(html_path.resolve().as_uri())


def _print_summary(result: PreviewFiles) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("Subject", result.subject)
    table.add_row("Preheader", result.preheader)
    table.add_row("Articles", ", ".join(result.articles) or "(none)")
    table.add_row("Tips", ", ".join(result.tips) or "(none)")
    table.add_row("HTML", f"{result.html_path}  ({result.html_bytes:,} bytes)")
    table.add_row("Text", str(result.text_path))
    console.print(
        f"Preview of [bold]{result.list_slug}[/bold] for {result.issue_date.isoformat()}:"
    )
    console.print(table)
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
