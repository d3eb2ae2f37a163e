"""``newsletter issue mark-accepted``: settle unknown batches after checking SendGrid."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from newsletter.cli import common
from newsletter.cli.apps import issue_app
from newsletter.services import issues as issue_service


@issue_app.command("mark-accepted")
def mark_accepted(
    issue_id: Annotated[int, typer.Argument(metavar="ISSUE", help="The issue id.", min=1)],
    batches: Annotated[
        list[int] | None,
        typer.Option("--batch", metavar="N", help="An unknown batch; repeat it. Default: all."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Record that SendGrid did accept unknown batches, so they are never resent."""
    which = "all unknown batches" if not batches else f"batch(es) {batches}"
    if not yes and not typer.confirm(
        f"Mark {which} of issue {issue_id} as accepted? Only do this after SendGrid's "
        "activity shows them delivered."
    ):
        raise typer.Exit(1)
    cfg = common.settings()
    marked = issue_service.mark_unknown_accepted(
        common.engine(cfg), issue_id, batches or None, by=getpass.getuser()
    )
    if as_json:
        common.print_json({"id": issue_id, "marked_accepted": marked})
    elif marked:
        common.console.print(
            f"Issue {issue_id}: batch(es) {', '.join(map(str, marked))} marked accepted."
        )
    else:
        common.console.print(f"Issue {issue_id} has no unknown batches; nothing changed.")
