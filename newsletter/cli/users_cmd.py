"""``newsletter users add|list|disable|set-role``: who may sign in to the console."""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from newsletter.cli import common
from newsletter.cli.apps import users_app
from newsletter.services import users
from newsletter.storage.models import UserRole

_ROLES = "|".join(r.value for r in UserRole)


def _role(value: str, hint: str) -> UserRole:
    try:
        return UserRole(value.strip().lower())
    except ValueError:
        raise typer.BadParameter(f"use {_ROLES}", param_hint=hint) from None


@users_app.command("add")
def add(
    *,
    email: str = typer.Argument(..., help="The person's email; they sign in with it."),
    role: str = typer.Option(..., "--role", help=f"What they may do: {_ROLES}."),
    name: str = typer.Option("", "--name", help="Their name, shown in the console."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input (one line)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object."),
) -> None:
    """Add a console user; without --password-stdin, print a one-time set-password link."""
    chosen = _role(role, "--role")
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise typer.BadParameter("no password on standard input", param_hint="--password-stdin")
    cfg = common.settings()
    sessions = common.sessions(cfg)
    user = users.add_user(sessions, email, chosen, name=name, password=password)
    link = None if password is not None else users.setup_url(cfg, user)
    if as_json:
        common.print_json(user.as_dict() | {"set_password_url": link})
        return
    common.console.print(f"Added {user.email} as {user.role}.")
    if link is not None:
        hours = int(users.SETUP_LINK_MAX_AGE.total_seconds() // 3600)
        common.console.print(
            f"Send them this link to choose a password (works once, for {hours} hours):\n  {link}"
        )


@users_app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print a JSON array.")) -> None:
    """Show every console user with their role and last sign-in."""
    cfg = common.settings()
    found = users.list_users(common.sessions(cfg))
    if as_json:
        common.print_json([u.as_dict() for u in found])
        return
    if not found:
        common.console.print(
            "No console users yet. Add one with `newsletter users add EMAIL --role admin`."
        )
        return
    table = Table("email", "name", "role", "state", "last sign-in", title="Console users")
    for u in found:
        state = "disabled" if u.disabled else ("active" if u.has_password else "awaiting password")
        last = u.last_login_at.isoformat(timespec="minutes") if u.last_login_at else "never"
        table.add_row(u.email, u.display_name, str(u.role), state, last)
    common.console.print(table)


@users_app.command("disable")
def disable(email: str = typer.Argument(..., help="Whose account to disable.")) -> None:
    """Disable an account and end its sessions at once (the record stays)."""
    cfg = common.settings()
    user = users.disable_user(common.sessions(cfg), email)
    common.console.print(f"Disabled {user.email}; their sessions have ended.")


@users_app.command("set-role")
def set_role(
    email: str = typer.Argument(..., help="Whose role to change."),
    role: str = typer.Argument(..., help=f"The new role: {_ROLES}."),
) -> None:
    """Change what a person may do; they sign in again to pick it up."""
    chosen = _role(role, "ROLE")
    cfg = common.settings()
    user = users.set_role(common.sessions(cfg), email, chosen)
    common.console.print(f"{user.email} is now {user.role}.")
