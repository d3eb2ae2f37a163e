"""``newsletter issue pause ID`` / ``issue resume ID``, and ``issue cancel`` on a staged issue."""

from __future__ import annotations

from typing import Annotated

import typer

from newsletter.cli import common
from newsletter.cli.apps import issue_app
from newsletter.delivery.senders import make_sender
from newsletter.services import hold
from newsletter.services import issues as issue_service
from newsletter.storage.models import IssueStatus

IssueId = Annotated[int, typer.Argument(metavar="ID", help="The issue's id.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print a JSON object.")]


def is_staged(issue_id: int) -> bool:
    """Whether the issue is at SendGrid (sent or sending), so cancel must go there."""
    view = issue_service.show_issue(common.engine(common.settings()), issue_id)
    return view.status in (IssueStatus.SENT, IssueStatus.SENDING)


def run_hold(issue_id: int, action: hold.Action, as_json: bool) -> None:
    cfg = common.settings()
    report = hold.hold_issue(common.engine(cfg), issue_id, action, sender=make_sender(cfg))
    if as_json:
        common.print_json(report.as_dict())
    else:
        words = {"cancel": "cancelled", "pause": "paused", "resume": "resumed"}[action]
        common.console.print(
            f"Issue {issue_id}: {len(report.done)} staged batch(es) {words} at SendGrid "
            "(confirmed), recorded in the ledger."
        )
        for batch_no, why in sorted(report.not_done.items())[:20]:
            common.err_console.print(f"[yellow]batch {batch_no} not {words}:[/yellow] {why}")
    if not report.ok:
        raise typer.Exit(1)


@issue_app.command("pause")
def pause(issue_id: IssueId, as_json: AsJson = False) -> None:
    """Pause a staged issue's batches at SendGrid (until `issue resume`, at most 72 h)."""
    run_hold(issue_id, "pause", as_json)


@issue_app.command("resume")
def resume(issue_id: IssueId, as_json: AsJson = False) -> None:
    """Remove the pause from a staged issue's batches: SendGrid delivers them again."""
    run_hold(issue_id, "resume", as_json)
