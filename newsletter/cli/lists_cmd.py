"""``newsletter lists create``, ``lists update`` and ``lists show``."""

from __future__ import annotations

import dataclasses

import typer
from rich.table import Table

from newsletter.cli import common
from newsletter.cli.apps import lists_app
from newsletter.services import audience


@lists_app.command("create")
def create(
    *,
    slug: str = typer.Argument(..., help="Short id used in commands and URLs, e.g. back-care."),
    name: str = typer.Option(..., "--name", help="The list's name, shown to subscribers."),
    description: str = typer.Option("", "--description", help="What the list is about."),
    from_name: str | None = typer.Option(None, "--from-name", help="Sender name override."),
    from_email: str | None = typer.Option(None, "--from-email", help="Sender address override."),
    reply_to: str | None = typer.Option(None, "--reply-to", help="Reply-To address."),
    local_time: str | None = typer.Option(
        None, "--local-time", help="Deliver at this time (HH:MM) in each member's own zone."
    ),
    timezone: str | None = typer.Option(
        None, "--timezone", help="Zone for members without one (default NEWSLETTER_TIMEZONE)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object."),
) -> None:
    """Create a mailing list."""
    if not audience.SLUG_PATTERN.fullmatch(slug):
        raise typer.BadParameter(
            "use lower-case letters, digits and hyphens (e.g. back-care)", param_hint="SLUG"
        )
    cfg = common.settings()
    sessions = common.sessions(cfg)
    created = audience.create_list(
        sessions,
        slug,
        name,
        description=description,
        from_name=from_name,
        from_email=from_email,
        reply_to=reply_to,
        local_time=local_time,
        timezone=timezone,
    )
    if as_json:
        common.print_json(dataclasses.asdict(created))
    else:
        common.console.print(f"Created list {created.slug!r} ({created.name}), id {created.id}.")
        _say_delivery(created, cfg.timezone)


@lists_app.command("update")
def update(
    *,
    slug: str = typer.Argument(..., help="The list to change."),
    local_time: str | None = typer.Option(
        None, "--local-time", help="HH:MM in each member's own zone, or 'off'."
    ),
    timezone: str | None = typer.Option(
        None, "--timezone", help="Zone for members without one; 'default' for NEWSLETTER_TIMEZONE."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object."),
) -> None:
    """Change how a list's issues are timed: local-time delivery and the list's zone."""
    if local_time is None and timezone is None:
        raise typer.BadParameter("give --local-time HH:MM|off and/or --timezone ZONE")
    cfg = common.settings()
    sessions = common.sessions(cfg)
    changes: dict[str, str | None] = {}
    if local_time is not None:
        changes["local_time"] = local_time
    if timezone is not None:
        changes["timezone"] = None if timezone.lower() == "default" else timezone
    updated = audience.update_list_delivery(sessions, slug, **changes)
    if as_json:
        common.print_json(dataclasses.asdict(updated))
    else:
        _say_delivery(updated, cfg.timezone)


def _say_delivery(info: audience.ListInfo, default_zone: str) -> None:
    zone = info.timezone or f"{default_zone} (NEWSLETTER_TIMEZONE)"
    if info.local_time:
        common.console.print(
            f"List {info.slug!r} delivers at {info.local_time} in each member's own time zone; "
            f"members without one use {zone}."
        )
    else:
        common.console.print(
            f"List {info.slug!r} delivers at the send schedule's time; its zone is {zone}."
        )


@lists_app.command("show")
def show(
    *,
    slug: str | None = typer.Argument(None, help="Only this list."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """Show the lists with their members counted by status."""
    cfg = common.settings()
    sessions = common.sessions(cfg)
    found = audience.lists_with_counts(sessions)
    if slug is not None:
        found = [c for c in found if c.list.slug == slug]
        if not found:
            audience.get_list(sessions, slug)  # raises NotFoundError naming the known lists
    if as_json:
        common.print_json(
            [
                {
                    **dataclasses.asdict(c.list),
                    "pending": c.pending,
                    "subscribed": c.subscribed,
                    "unsubscribed": c.unsubscribed,
                    "sendable": c.sendable,
                }
                for c in found
            ]
        )
        return
    if not found:
        common.console.print(
            "No lists yet. Create one with `newsletter lists create SLUG --name NAME`."
        )
        return
    table = Table(
        "slug", "name", "pending", "subscribed", "unsubscribed", "sendable", title="Lists"
    )
    for c in found:
        table.add_row(
            c.list.slug,
            c.list.name,
            str(c.pending),
            str(c.subscribed),
            str(c.unsubscribed),
            str(c.sendable),
        )
    common.console.print(table)
    common.console.print("sendable = subscribed, confirmed and not suppressed", style="dim")
