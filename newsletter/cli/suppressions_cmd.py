"""``newsletter suppressions add|list|remove``: addresses never to be mailed again."""

from __future__ import annotations

import typer
from rich.table import Table

from newsletter.cli import common
from newsletter.cli.apps import suppressions_app
from newsletter.services import audience
from newsletter.storage.models import SuppressionReason

_REASONS = ", ".join(r.value for r in SuppressionReason)


def _reason(value: str | None) -> SuppressionReason | None:
    if value is None:
        return None
    try:
        return SuppressionReason(value.lower())
    except ValueError:
        raise typer.BadParameter(f"{value!r}: use one of {_REASONS}") from None


def _info_dict(info: audience.SuppressionInfo) -> dict[str, object]:
    return {
        "email": info.email,
        "reason": info.reason.value,
        "source": info.source,
        "created_at": info.created_at.isoformat(),
    }


@suppressions_app.command("add")
def add(
    *,
    email: str = typer.Argument(..., help="The address to suppress."),
    reason: str = typer.Option("manual", "--reason", help=f"One of {_REASONS}."),
    source: str = typer.Option("cli", "--source", help="Where the request came from."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object."),
) -> None:
    """Suppress an address on every list (an existing suppression is kept)."""
    why = _reason(reason)
    assert why is not None
    cfg = common.settings()
    sessions = common.sessions(cfg)
    info, created = audience.add_suppression(sessions, email, why, source=source)
    if as_json:
        common.print_json({**_info_dict(info), "created": created})
    elif created:
        common.console.print(f"Suppressed {info.email} ({info.reason.value}).")
    else:
        common.console.print(
            f"{info.email} was already suppressed ({info.reason.value}, since "
            f"{info.created_at:%Y-%m-%d}); kept as it was."
        )


@suppressions_app.command("list")
def list_(
    *,
    reason: str | None = typer.Option(None, "--reason", help=f"Only this reason: {_REASONS}."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """List suppressed addresses, newest first."""
    cfg = common.settings()
    sessions = common.sessions(cfg)
    found = audience.list_suppressions(sessions, reason=_reason(reason), limit=limit)
    if as_json:
        common.print_json([_info_dict(i) for i in found])
        return
    table = Table("email", "reason", "source", "since", title=f"Suppressions ({len(found)})")
    for info in found:
        table.add_row(
            info.email, info.reason.value, info.source, f"{info.created_at:%Y-%m-%d %H:%M}"
        )
    common.console.print(table)


@suppressions_app.command("remove")
def remove(
    *,
    email: str = typer.Argument(..., help="The address to mail again."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object."),
) -> None:
    """Lift a suppression (list unsubscribes stay as they are)."""
    cfg = common.settings()
    sessions = common.sessions(cfg)
    info = audience.remove_suppression(sessions, email)
    if as_json:
        common.print_json({**_info_dict(info), "removed": True})
    else:
        common.console.print(f"Removed the suppression of {info.email} ({info.reason.value}).")
