"""``newsletter issue pause ID`` / ``issue resume ID``, and ``issue cancel`` on a staged issue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.cli import common
from newsletter.cli.apps import issue_app

if TYPE_CHECKING:
    from newsletter.services.hold import Action, HoldReport
    from newsletter.settings import Settings

IssueId = Annotated[int, typer.Argument(metavar="ID", help="The issue's id.")]
AsJson = Annotated[bool, typer.Option("--json", help="Print a JSON object.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Say what would happen at SendGrid; change nothing.")
]


def is_staged(issue_id: int) -> bool:
    """Whether the issue is at SendGrid (sent or sending), so cancel must go there."""
    from newsletter.services import issues as issue_service
    from newsletter.storage.models import IssueStatus

    view = issue_service.show_issue(common.engine(common.settings()), issue_id)
    return view.status in (IssueStatus.SENT, IssueStatus.SENDING)


def describe(report: HoldReport, cfg: Settings) -> str:
    """Exactly what the hold does (or did): held, still delivered, not sent."""
    from newsletter.services.batch_settle import number_ranges
    from newsletter.services.hold import WORDS
    from newsletter.services.timing import describe_time

    word = WORDS[report.action]
    verb = "would be" if report.dry_run else "were"
    parts = [
        f"{len(report.done)} staged batch(es) ({report.done_people:,} people) {verb} {word} "
        "at SendGrid" + ("" if report.dry_run else " (confirmed), recorded in the ledger")
    ]
    if report.already:
        parts.append(f"batch(es) {number_ranges(report.already)} already {word}")
    if report.still:
        by_time = sorted(report.still, key=lambda s: (s.send_at is None, s.send_at))
        first = by_time[0].send_at
        when = describe_time(first, cfg.zone) if first else "at once"
        parts.append(
            f"SendGrid STILL DELIVERS batch(es) {number_ranges(s.batch_no for s in report.still)} "
            f"({report.still_people:,} people) from {when}: {by_time[0].why}"
        )
    if report.unsent:
        parts.append(
            f"batch(es) {number_ranges(report.unsent)} ({report.unsent_people:,} people) are "
            f"not at SendGrid yet and are not sent while the issue is {word}"
        )
    return "; ".join(parts) + "."


def run_hold(
    issue_id: int, action: Action, *, as_json: bool, yes: bool = False, dry_run: bool = False
) -> None:
    from newsletter.delivery.senders import make_sender
    from newsletter.services import hold

    cfg = common.settings()
    engine = common.engine(cfg)
    sender = make_sender(cfg)
    plan = hold.hold_issue(engine, issue_id, action, sender=sender, dry_run=True)
    if dry_run:
        if as_json:
            common.print_json(plan.as_dict())
        else:
            common.console.print(
                f"Dry run, nothing changed. Issue {issue_id}: {describe(plan, cfg)}"
            )
        return
    if not yes and not typer.confirm(
        f"{action.capitalize()} issue {issue_id}? {describe(plan, cfg)} Go ahead?",
        default=False,
        err=True,
    ):
        common.err_console.print("Nothing changed (use --yes in scripts).")
        raise typer.Exit(1)
    report = hold.hold_issue(engine, issue_id, action, sender=sender)
    if as_json:
        common.print_json(report.as_dict())
    else:
        common.console.print(f"Issue {issue_id}: {describe(report, cfg)}")
        if report.still:
            common.console.print(
                "SendGrid holds at most 10 paused or cancelled batches at once (a pause takes a "
                "place too); the scheduler's resume job, or this command again, holds the rest "
                "as places free up, until 10 minutes before their send_at."
            )
        for batch_no, why in sorted(report.not_done.items())[:20]:
            common.err_console.print(
                f"[yellow]batch {batch_no} not {hold.WORDS[action]}:[/yellow] {escape(why)}"
            )
    if not report.ok:
        raise typer.Exit(1)


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


@issue_app.command("pause")
def pause(
    issue_id: IssueId, yes: Yes = False, dry_run: DryRun = False, as_json: AsJson = False
) -> None:
    """Pause a staged issue's batches at SendGrid (until `issue resume`, at most 72 h)."""
    run_hold(issue_id, "pause", as_json=as_json, yes=yes, dry_run=dry_run)


@issue_app.command("resume")
def resume(
    issue_id: IssueId, yes: Yes = False, dry_run: DryRun = False, as_json: AsJson = False
) -> None:
    """Remove the pause from a staged issue's batches: SendGrid delivers them again."""
    run_hold(issue_id, "resume", as_json=as_json, yes=yes, dry_run=dry_run)
