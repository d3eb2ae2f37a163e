"""How ``issue show`` presents what SendGrid's events say about an issue."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from newsletter.cli import common

GMAIL_COMPLAINT_LINE = 0.003


def print_results(results: dict[str, Any]) -> None:
    """Delivered, bounced, opened, clicked, unsubscribed, complaints, and a loud warning."""
    table = Table("result", "count", title="Results (from SendGrid events)")
    for key in ("delivered", "bounced", "opened", "clicked", "unsubscribed", "complaints"):
        table.add_row(key, f"{results[key]:,}")
    table.add_row("complaint rate", f"{results['complaint_rate']:.3%}")
    common.console.print(table)
    if results["pending_events"]:
        common.console.print(
            f"{results['pending_events']:,} webhook events are stored but not yet processed."
        )
    if results["complaint_warning"]:
        common.err_console.print(
            f"[bold yellow]warning:[/bold yellow] the complaint rate "
            f"{results['complaint_rate']:.3%} is close to Gmail's "
            f"{GMAIL_COMPLAINT_LINE:.1%} line; review who is on this list and how they joined.",
            markup=True,
        )
