"""``newsletter issue queue|cancel|reschedule``: marketing's issue queue."""

from __future__ import annotations

import datetime as dt

import typer

from newsletter.cli import common, hold_cmd
from newsletter.cli.apps import issue_app
from newsletter.services import queue as queue_service
from newsletter.services.issues import IssueView


def _date(value: str, option: str = "--date") -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option
        ) from None


def _show(view: IssueView, verb: str, as_json: bool) -> None:
    if as_json:
        common.print_json(view.as_dict())
        return
    common.console.print(
        f"Issue {view.id} {verb}: list {view.list_slug}, {view.issue_date}, status {view.status}."
    )
    for note in view.notes:
        common.console.print(f"[yellow]note:[/yellow] {note}")
    if view.status == "draft":
        common.console.print(f"Approve it with `newsletter issue approve {view.id}`.")


_ARTICLE = typer.Option(None, "--article", help="An article slug (repeatable).")
_TIP = typer.Option(None, "--tip", help="A tip slug (repeatable).")
_OFF_SCHEDULE = typer.Option(
    False,
    "--off-schedule",
    help="Allow a date NEWSLETTER_SEND_SCHEDULE never sends on (send it by hand that day).",
)


@issue_app.command("queue")
def queue(
    list_slug: str = typer.Option(..., "--list", help="The list's slug."),
    date: str = typer.Option(..., "--date", help="Send date, YYYY-MM-DD."),
    article: list[str] | None = _ARTICLE,
    tip: list[str] | None = _TIP,
    subject: str | None = typer.Option(None, "--subject", help="Subject line."),
    preheader: str | None = typer.Option(None, "--preheader", help="Inbox preview text."),
    replace: bool = typer.Option(
        False, "--replace", help="Cancel the list's unsent issue for that date first."
    ),
    off_schedule: bool = _OFF_SCHEDULE,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object."),
) -> None:
    """Queue a draft for a list and date from chosen articles and tips.

    Slots you leave empty are filled the usual way; an override file for the date gives
    what you leave out.
    """
    day = _date(date)
    cfg = common.settings()
    view = queue_service.queue_issue(
        cfg,
        common.engine(cfg),
        list_slug,
        day,
        articles=article or (),
        tips=tip or (),
        subject=subject,
        preheader=preheader,
        replace=replace,
        off_schedule=off_schedule,
    )
    _show(view, "queued", as_json)


@issue_app.command("cancel")
def cancel(
    issue_id: int = typer.Argument(..., metavar="ID", help="The issue's id."),
    yes: bool = typer.Option(False, "--yes", "-y", help="A staged issue: do not ask first."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="A staged issue: say what would happen; change nothing."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object."),
) -> None:
    """Cancel a draft or approved issue, or a staged one's batches at SendGrid."""
    if hold_cmd.is_staged(issue_id):
        hold_cmd.run_hold(issue_id, "cancel", as_json=as_json, yes=yes, dry_run=dry_run)
        return
    cfg = common.settings()
    if dry_run:
        from newsletter.services import issues as issue_service

        view = issue_service.show_issue(common.engine(cfg), issue_id)
        if as_json:
            common.print_json({**view.as_dict(), "dry_run": True})
        else:
            common.console.print(
                f"Dry run, nothing changed: issue {view.id} ({view.status}) would be cancelled."
            )
        return
    _show(queue_service.cancel_issue(common.engine(cfg), issue_id), "cancelled", as_json)


@issue_app.command("reschedule")
def reschedule(
    issue_id: int = typer.Argument(..., metavar="ID", help="The issue's id."),
    date: str = typer.Option(..., "--date", help="New send date, YYYY-MM-DD."),
    off_schedule: bool = _OFF_SCHEDULE,
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object."),
) -> None:
    """Move a draft or approved issue to another date; it needs approval again."""
    day = _date(date)
    cfg = common.settings()
    view = queue_service.reschedule_issue(
        cfg, common.engine(cfg), issue_id, day, off_schedule=off_schedule
    )
    _show(view, "rescheduled", as_json)
