"""``newsletter issue unknown`` and ``issue mark-accepted``: batches of unknown outcome.

The safe order (docs/operations.md): look each batch up at SendGrid, mark the ones it
accepted with ``mark-accepted --batch N``, then resend only the rest by number with
``issue send ID --resend-unknown --batch N``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from newsletter.cli import common
from newsletter.cli.apps import issue_app

if TYPE_CHECKING:
    import datetime as dt

    from newsletter.services.unknown import UnknownBatch
    from newsletter.storage.repositories.ledger import BatchInfo

IssueId = Annotated[int, typer.Argument(metavar="ISSUE", help="The issue id.", min=1)]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
Batches = Annotated[
    list[int] | None,
    typer.Option("--batch", metavar="N", min=1, help="An unknown batch; repeat it. Default: all."),
]


def _utc(value: dt.datetime | None, missing: str) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC" if value is not None else missing


def print_unknown(issue_id: int, batches: Sequence[UnknownBatch]) -> None:
    """A table of unknown batches: what SendGrid's activity feed is searched by."""
    if not batches:
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(
        "batch",
        "people",
        "request started",
        "message id",
        "send_at",
        "why unknown / settling",
        title=f"Issue {issue_id}: {len(batches)} batch(es) of unknown outcome",
    )
    for b in batches:
        why = "; ".join(x for x in (b.reason, b.settle_note) if x)
        table.add_row(
            str(b.batch_no),
            f"{b.recipients:,}",
            _utc(b.request_started_at, "not recorded"),
            escape(b.message_id or "none (no answer)"),
            _utc(b.send_at, "at once"),
            escape(why),
        )
    common.console.print(table)


def print_settled(batches: Sequence[BatchInfo]) -> None:
    """One line per batch that was settled (or held), with the rule that did it."""
    from rich.markup import escape

    from newsletter.storage.models import BatchStatus

    for b in batches[:50]:
        if b.status == BatchStatus.UNKNOWN or not b.settle_note:
            continue
        rule = f", rule {b.settle_rule}" if b.settle_rule else ""
        common.console.print(escape(f"batch {b.batch_no} ({b.status}{rule}): {b.settle_note}"))


@issue_app.command("unknown")
def unknown(issue_id: IssueId, as_json: AsJson = False) -> None:
    """List an issue's batches of unknown outcome, with request time and message id."""
    from newsletter.services.unknown import describe, unknown_batches

    cfg = common.settings()
    batches = unknown_batches(common.engine(cfg), issue_id)
    if as_json:
        common.print_json({"id": issue_id, "unknown_batches": [b.as_dict() for b in batches]})
        return
    if not batches:
        common.console.print(f"Issue {issue_id} has no batch of unknown outcome.")
        return
    print_unknown(issue_id, batches)
    common.console.print(
        f"{describe(batches)}. Look each up in SendGrid's activity feed; then "
        f"`newsletter issue mark-accepted {issue_id} --batch N` for those it accepted, and "
        f"`newsletter issue send {issue_id} --resend-unknown --batch N` for the rest only."
    )


@issue_app.command("mark-accepted")
def mark_accepted(
    issue_id: IssueId,
    batches: Batches = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say which batches would be marked; change nothing.")
    ] = False,
    as_json: AsJson = False,
) -> None:
    """Record that SendGrid did accept unknown batches, so they are never resent."""
    from newsletter.services import unknown as unknown_service

    cfg = common.settings()
    engine = common.engine(cfg)
    chosen = unknown_service.choose_unknown(
        engine, issue_id, batches or None, action="marked accepted"
    )
    if not chosen:
        if as_json:
            common.print_json({"id": issue_id, "marked_accepted": [], "dry_run": dry_run})
        else:
            common.console.print(f"Issue {issue_id} has no unknown batches; nothing changed.")
        return
    what = unknown_service.describe(chosen)
    if dry_run:
        if as_json:
            common.print_json(
                {
                    "id": issue_id,
                    "dry_run": True,
                    "would_mark_accepted": [b.as_dict() for b in chosen],
                }
            )
        else:
            common.console.print(
                f"Dry run, nothing changed. Would mark {what} of issue {issue_id} accepted."
            )
        return
    others = len(unknown_service.unknown_batches(engine, issue_id)) - len(chosen)
    rest = f" {others} other unknown batch(es) stay unknown." if others else ""
    if not yes and not typer.confirm(
        f"Mark {what} of issue {issue_id} as accepted? They will never be resent, so "
        f"only do this for batches SendGrid's activity shows delivered.{rest}"
    ):
        raise typer.Exit(1)
    marked = unknown_service.mark_unknown_accepted(
        engine, issue_id, [b.batch_no for b in chosen], by=common.whoami()
    )
    if as_json:
        common.print_json({"id": issue_id, "marked_accepted": marked})
    else:
        common.console.print(
            f"Issue {issue_id}: batch(es) {', '.join(map(str, marked))} marked accepted."
        )
