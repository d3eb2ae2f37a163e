"""The command groups. Each ``cli`` module adds its commands to one of these."""

from __future__ import annotations

import typer

db_app = typer.Typer(help="Create or migrate the database schema.", no_args_is_help=True)
config_app = typer.Typer(help="Inspect the effective settings.", no_args_is_help=True)
content_app = typer.Typer(help="Check content; import the blog.", no_args_is_help=True)
lists_app = typer.Typer(help="Create and inspect mailing lists.", no_args_is_help=True)
subscribers_app = typer.Typer(help="Import, export and manage subscribers.", no_args_is_help=True)
suppressions_app = typer.Typer(
    help="Addresses that must never be mailed again.", no_args_is_help=True
)
issue_app = typer.Typer(help="Build, preview, approve and send issues.", no_args_is_help=True)
users_app = typer.Typer(help="People who sign in to the marketing console.", no_args_is_help=True)
