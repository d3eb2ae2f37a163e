"""``newsletter subscribers import|export|add|remove|show``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from newsletter.audience.csv_import import SkipReason
from newsletter.audience.import_report import ImportSummary
from newsletter.cli import common
from newsletter.cli.apps import subscribers_app
from newsletter.services import audience
from newsletter.storage.models import MembershipStatus

_STATUSES = ", ".join(s.value for s in MembershipStatus)
_SKIP_LABELS = {
    SkipReason.INVALID: "invalid",
    SkipReason.DUPLICATE: "duplicate in file",
    SkipReason.SUPPRESSED: "suppressed",
    SkipReason.UNSUBSCRIBED: "unsubscribed before",
}


@subscribers_app.command("import")
def import_(
    *,
    file: Annotated[Path, typer.Argument(help="CSV file with an email column (UTF-8, , or ;).")],
    list_slug: str = typer.Option(..., "--list", help="The list to import into."),
    confirmed: bool = typer.Option(
        False, "--confirmed", help="Consent was given elsewhere: subscribe without opt-in."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Report what would happen; change nothing."
    ),
    report: Annotated[
        Path | None, typer.Option("--report", help="Write rejected rows to this CSV.")
    ] = None,
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import people into a list (all or nothing; never re-subscribes anyone)."""
    cfg = common.settings()
    sessions = common.sessions(cfg)
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        console=common.err_console,
        transient=True,
    ) as progress:
        task = progress.add_task(f"importing {file.name}", total=None)

        def advance(rows: int) -> None:
            progress.update(task, description=f"importing {file.name}: {rows:,} rows")

        summary = audience.import_csv(
            sessions,
            file,
            list_slug,
            confirmed=confirmed,
            dry_run=dry_run,
            report=report,
            progress=advance,
        )
    if as_json:
        common.print_json(summary.to_dict())
    else:
        _print_summary(summary)


def _print_summary(summary: ImportSummary) -> None:
    title = f"{'Dry run: ' if summary.dry_run else ''}{summary.file} -> {summary.list_slug}"
    table = Table("outcome", "rows", "row numbers", title=title)
    new_status = "subscribed" if summary.confirmed else "pending until confirmed"
    table.add_row(f"added ({new_status})", str(summary.added), "")
    table.add_row("updated", str(summary.updated), "")
    table.add_row("unchanged", str(summary.unchanged), "")
    for reason, label in _SKIP_LABELS.items():
        count = summary.skipped[reason]
        rows = summary.skipped_rows[reason]
        shown = ", ".join(map(str, rows)) + (", …" if count > len(rows) else "")
        table.add_row(f"skipped: {label}", str(count), shown)
    table.add_row("total", str(summary.rows), "", style="bold")
    common.console.print(table)
    if summary.report and summary.skipped_total:
        common.console.print(f"Rejected rows with their reasons: {summary.report}")
    if summary.dry_run:
        common.console.print("Dry run: nothing was written to the database.")


@subscribers_app.command("export")
def export(
    *,
    list_slug: str = typer.Option(..., "--list", help="The list to export."),
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="File to write (else stdout).")
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            help=f"Only these statuses (repeatable; default: pending, subscribed): {_STATUSES}.",
        ),
    ] = None,
) -> None:
    """Write a list's members as CSV that `subscribers import` reads back."""
    statuses = _statuses(status or [])
    cfg = common.settings()
    sessions = common.sessions(cfg)
    if output is None:
        count = audience.export_csv(sessions, list_slug, sys.stdout, statuses=statuses)
        sys.stdout.flush()
        common.err_console.print(f"Exported {count} subscribers of {list_slug}.")
        return
    partial = output.with_name(f".{output.name}.partial")
    try:
        # BOM: Excel then opens the file as UTF-8; import skips it.
        with partial.open("w", encoding="utf-8-sig", newline="") as handle:
            count = audience.export_csv(sessions, list_slug, handle, statuses=statuses)
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    common.console.print(f"Exported {count} subscribers of {list_slug} to {output}.")


def _statuses(values: list[str]) -> tuple[MembershipStatus, ...]:
    if not values:
        return (MembershipStatus.PENDING, MembershipStatus.SUBSCRIBED)
    try:
        return tuple(MembershipStatus(v.lower()) for v in values)
    except ValueError:
        raise typer.BadParameter(f"use {_STATUSES}", param_hint="--status") from None


@subscribers_app.command("add")
def add(
    *,
    email: str = typer.Argument(..., help="The address to add."),
    list_slug: str = typer.Option(..., "--list", help="The list to add it to."),
    name: str | None = typer.Option(None, "--name", help="Full name."),
    first_name: str | None = typer.Option(None, "--first-name", help="First name (greeting)."),
    timezone: str | None = typer.Option(
        None, "--timezone", help="IANA time zone, e.g. Europe/Paris (local-time delivery)."
    ),
    confirmed: bool = typer.Option(
        False, "--confirmed", help="Consent was given elsewhere: subscribe without opt-in."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object."),
) -> None:
    """Add one person to a list (pending until confirmed, unless --confirmed)."""
    cfg = common.settings()
    sessions = common.sessions(cfg)
    result = audience.add_subscriber(
        sessions,
        list_slug,
        email,
        name=name,
        first_name=first_name,
        confirmed=confirmed,
        timezone=timezone,
    )
    if as_json:
        common.print_json(
            {
                "email": result.email,
                "subscriber_id": result.subscriber_id,
                "outcome": result.outcome.value,
            }
        )
        return
    messages = {
        audience.SubscribeOutcome.CREATED: "added"
        + (" and subscribed" if confirmed else " (pending until confirmed)"),
        audience.SubscribeOutcome.ALREADY_PENDING: "was already pending"
        + ("; now subscribed" if confirmed else ""),
        audience.SubscribeOutcome.ALREADY_SUBSCRIBED: "was already subscribed",
        audience.SubscribeOutcome.SUPPRESSED: "is globally suppressed: not added",
        audience.SubscribeOutcome.UNSUBSCRIBED_BEFORE: (
            "unsubscribed from this list before: not re-subscribed "
            "(they can sign up again through the form)"
        ),
    }
    common.console.print(f"{result.email} {messages[result.outcome]}.")
    if result.outcome in (
        audience.SubscribeOutcome.SUPPRESSED,
        audience.SubscribeOutcome.UNSUBSCRIBED_BEFORE,
    ):
        raise typer.Exit(1)


@subscribers_app.command("remove")
def remove(
    *,
    email: str = typer.Argument(..., help="The address to unsubscribe."),
    list_slug: str | None = typer.Option(None, "--list", help="Only this list (default: all)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object."),
) -> None:
    """Unsubscribe (the record is kept, so a later import cannot re-add the person)."""
    cfg = common.settings()
    sessions = common.sessions(cfg)
    result = audience.unsubscribe_email(sessions, email, list_slug, source="cli:remove")
    if as_json:
        common.print_json({"email": result.email, "unsubscribed": result.changed})
        return
    where = f"list {list_slug}" if list_slug else "all lists"
    if result.changed:
        common.console.print(
            f"Unsubscribed {result.email} from {where} ({result.changed} list(s))."
        )
    else:
        common.console.print(f"{result.email} was not subscribed to {where}; nothing changed.")


@subscribers_app.command("show")
def show(
    *,
    email: str = typer.Argument(..., help="The address to look up."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object."),
) -> None:
    """Show a subscriber: memberships with status and consent, and any suppression."""
    cfg = common.settings()
    sessions = common.sessions(cfg)
    view = audience.show_subscriber(sessions, email)
    data = _view_dict(view)
    if as_json:
        common.print_json(data)
        return
    common.console.print(f"[bold]{view.email}[/bold]", markup=True)
    for label in ("subscriber_id", "name", "first_name", "timezone", "created_at"):
        if data[label] is not None:
            common.console.print(f"  {label}: {data[label]}")
    for key, value in view.attributes.items():
        common.console.print(f"  {key}: {value}")
    if view.memberships:
        table = Table("list", "status", "consent source", "ip", "confirmed", "unsubscribed")
        for m in view.memberships:
            table.add_row(
                m.list_slug,
                m.status.value,
                m.consent_source or "",
                m.consent_ip or "",
                f"{m.confirmed_at:%Y-%m-%d %H:%M}" if m.confirmed_at else "",
                (
                    f"{m.unsubscribed_at:%Y-%m-%d %H:%M} ({m.unsubscribe_source})"
                    if m.unsubscribed_at
                    else ""
                ),
            )
        common.console.print(table)
    else:
        common.console.print("  no list memberships")
    if view.suppression:
        s = view.suppression
        common.console.print(
            f"  [red]suppressed[/red]: {s.reason.value} "
            f"(source {s.source}, since {s.created_at:%Y-%m-%d})",
            markup=True,
        )


def _view_dict(view: audience.SubscriberView) -> dict[str, Any]:
    def when(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "email": view.email,
        "subscriber_id": view.subscriber_id,
        "name": view.name,
        "first_name": view.first_name,
        "timezone": view.timezone,
        "attributes": view.attributes,
        "created_at": when(view.created_at),
        "memberships": [
            {
                "list": m.list_slug,
                "status": m.status.value,
                "created_at": when(m.created_at),
                "consent": {
                    "source": m.consent_source,
                    "ip": m.consent_ip,
                    "user_agent": m.consent_user_agent,
                    "confirmed_at": when(m.confirmed_at),
                },
                "unsubscribed_at": when(m.unsubscribed_at),
                "unsubscribe_source": m.unsubscribe_source,
            }
            for m in view.memberships
        ],
        "suppression": None
        if view.suppression is None
        else {
            "reason": view.suppression.reason.value,
            "source": view.suppression.source,
            "created_at": when(view.suppression.created_at),
        },
    }
