"""``newsletter issue build|approve|test|list|show``.

``send`` is in send_cmd, ``mark-accepted`` and ``unknown`` in unknown_cmd, ``preview`` in
preview_cmd, ``cancel``/``pause``/``resume`` in hold_cmd and queue_cmd.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from newsletter.cli import common
from newsletter.cli.apps import issue_app
from newsletter.cli.results import print_results
from newsletter.cli.unknown_cmd import print_settled, print_unknown
from newsletter.services import issues as issue_service
from newsletter.services import timing
from newsletter.storage.models import BatchStatus

if TYPE_CHECKING:
    from newsletter.services.issues import IssueView

IssueId = Annotated[int, typer.Argument(metavar="ISSUE", help="The issue id.", min=1)]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@issue_app.command("build")
def build(
    list_slug: Annotated[str, typer.Option("--list", metavar="SLUG", help="The list.")],
    issue_date: Annotated[
        dt.datetime | None,
        typer.Option(
            "--date",
            formats=["%Y-%m-%d"],
            metavar="YYYY-MM-DD",
            help="Issue date; default: today in NEWSLETTER_TIMEZONE.",
        ),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Cancel an unsent issue for that date first.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Assemble, render and store a draft issue; prints its id."""
    cfg = common.settings()
    view = issue_service.build_issue(
        cfg,
        common.engine(cfg),
        list_slug,
        issue_date.date() if issue_date else None,
        replace=replace,
    )
    if as_json:
        common.print_json(view.as_dict())
        return
    common.console.print(
        f"Built issue {view.id} for {view.list_slug} on {view.issue_date} (draft): {view.subject!r}"
    )
    for note in view.notes:
        common.console.print(f"[yellow]note:[/yellow] {note}")
    common.console.print(
        f"Next: `newsletter issue preview {view.id}`, "
        f"`newsletter issue test {view.id} --to you@example.org`, "
        f"`newsletter issue approve {view.id}`."
    )


@issue_app.command("approve")
def approve(
    issue_id: IssueId,
    by: Annotated[
        str | None, typer.Option("--by", metavar="NAME", help="Who approves; default: you.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Freeze a draft: sending will insist on exactly this content."""
    cfg = common.settings()
    view = issue_service.approve_issue(common.engine(cfg), issue_id, by=by or common.whoami())
    if as_json:
        common.print_json(view.as_dict())
        return
    note = timing.delivery_note(cfg, view.id, view.issue_date, dt.datetime.now(dt.UTC))
    common.console.print(
        f"Approved issue {view.id} ({view.subject!r}) by {view.approved_by}; "
        f"content {view.content_hash[:12]}. {note}"
    )


@issue_app.command("test")
def test(
    issue_id: IssueId,
    to: Annotated[
        list[str], typer.Option("--to", metavar="EMAIL", help="A recipient (repeatable).")
    ],
    as_json: AsJson = False,
) -> None:
    """Send the issue to these addresses only, marked [TEST]; no ledger rows."""
    from newsletter.services import issues_send

    cfg = common.settings()
    result = issues_send.send_test(cfg, common.engine(cfg), issue_id, to)
    if as_json:
        common.print_json(result.as_dict())
        return
    where = f" (written under {cfg.outbox_dir})" if result.sender == "outbox" else ""
    common.console.print(
        f"Sent {result.subject!r} to {', '.join(result.to)} via {result.sender}{where}."
    )


@issue_app.command("list")
def list_(
    list_slug: Annotated[
        str | None, typer.Option("--list", metavar="SLUG", help="Only this list.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
    as_json: AsJson = False,
) -> None:
    """The newest issues, with their status."""
    cfg = common.settings()
    views = issue_service.list_issues(common.engine(cfg), list_slug=list_slug, limit=limit)
    if as_json:
        common.print_json([v.as_dict() for v in views])
        return
    if not views:
        common.console.print("No issues yet: `newsletter issue build --list SLUG`.")
        return
    from rich.table import Table

    table = Table("id", "list", "date", "status", "recipients", "subject")
    for v in views:
        table.add_row(
            str(v.id),
            v.list_slug,
            v.issue_date.isoformat(),
            str(v.status),
            f"{v.recipients:,}" if v.recipients else "",
            v.subject,
        )
    common.console.print(table)


@issue_app.command("show")
def show(issue_id: IssueId, as_json: AsJson = False) -> None:
    """One issue: its state, content, ledger counts and what the events say."""
    from newsletter.services.hold import hold_summary
    from newsletter.services.results import results_of
    from newsletter.services.unknown import unknown_batches

    cfg = common.settings()
    engine = common.engine(cfg)
    view = issue_service.show_issue(engine, issue_id)
    unknown = unknown_batches(engine, issue_id) if view.counts else []
    held = hold_summary(engine, issue_id)
    results = results_of(
        engine, issue_id, webhook_configured=cfg.sendgrid_webhook_public_key is not None
    )
    if as_json:
        common.print_json(
            {
                **view.as_dict(),
                "unknown_batches": [b.as_dict() for b in unknown],
                "hold": held.as_dict() if held else None,
                "results": results.as_dict(),
            }
        )
        return
    _print_view(view)
    if held is not None:
        text = held.sentence(lambda at: timing.describe_time(at, cfg.zone))
        common.console.print(escape(f"Held: {text}"))
    print_unknown(issue_id, unknown)
    print_settled(view.problem_batches)
    print_results(results)


def _print_view(view: IssueView) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("Issue", f"{view.id} ({view.source})")
    table.add_row("List / date", f"{view.list_slug} / {view.issue_date}")
    table.add_row("Status", str(view.status))
    table.add_row("Subject", view.subject)
    table.add_row("Preheader", view.preheader)
    table.add_row("Articles", ", ".join(view.article_slugs) or "(none)")
    table.add_row("Tips", ", ".join(view.tip_slugs) or "(none)")
    table.add_row("Content", view.content_hash[:16])
    if view.approved_at:
        table.add_row("Approved", f"{view.approved_at:%Y-%m-%d %H:%M} UTC by {view.approved_by}")
    if view.send_started_at:
        table.add_row("Send started", f"{view.send_started_at:%Y-%m-%d %H:%M:%S} UTC")
    if view.sent_at:
        table.add_row("Sent", f"{view.sent_at:%Y-%m-%d %H:%M:%S} UTC")
    common.console.print(table)
    if view.counts is None:
        return
    counts = view.counts
    ledger = Table("batch status", "batches", "recipients", title="Ledger")
    for status in BatchStatus:
        ledger.add_row(
            str(status), f"{counts.batches_in(status):,}", f"{counts.recipients_in(status):,}"
        )
    ledger.add_row("skipped", "", f"{counts.skipped:,}")
    common.console.print(ledger)
    for batch in view.problem_batches[:50]:
        if batch.status in (BatchStatus.FAILED, BatchStatus.SENDING):
            common.console.print(
                f"batch {batch.batch_no}: {batch.status}, {batch.recipients - batch.skipped} "
                f"recipients, {batch.attempts} attempt(s): {escape(batch.error or '')}"
            )
