"""Command groups that import a command's module only when that command runs.

The command table (:mod:`newsletter.cli.commands`) names every command, the
``"module:function"`` that implements it and its one-line help. ``newsletter --help``
and ``newsletter issue --help`` list the table without importing any command module;
``newsletter issue send`` imports ``issue_cmd`` alone. A command module still declares
its options with Typer as usual (``@issue_app.command("send")``); this module only
decides when that module is imported.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any, ClassVar

import typer
from typer.core import TyperCommand, TyperGroup
from typer.main import get_command_from_info
from typer.models import CommandInfo


@dataclass(frozen=True)
class Command:
    """One command: where it lives (``"package.module:function"``) and its one-line help."""

    target: str
    help: str


@dataclass(frozen=True)
class Group:
    """A command group: the Typer app its modules register on, and its commands."""

    app: typer.Typer
    commands: Mapping[str, Command] = field(default_factory=dict)

    @property
    def help(self) -> str:
        return str(self.app.info.help)


Entry = Command | Group


def load_callback(target: str) -> Callable[..., Any]:
    """Import ``"module:function"`` and return the function."""
    module_name, _, attr = target.partition(":")
    found: Callable[..., Any] = getattr(importlib.import_module(module_name), attr)
    return found


def command_info(entry: Command, name: str, app: typer.Typer | None) -> CommandInfo:
    """How the command was declared: its ``@app.command(...)`` record, or a bare one."""
    callback = load_callback(entry.target)
    if app is not None:
        for info in app.registered_commands:
            if info.callback is callback:
                return info
    return CommandInfo(name=name, callback=callback)


class LazyGroup(TyperGroup):
    """A Typer group whose subcommands come from a table and load on first use."""

    table: ClassVar[Mapping[str, Entry]] = {}
    """The root group's table; a nested group gets its own through ``entries=``."""

    def __init__(
        self,
        *,
        entries: Mapping[str, Entry] | None = None,
        app: typer.Typer | None = None,
        **attrs: Any,
    ) -> None:
        super().__init__(**attrs)
        self.entries: Mapping[str, Entry] = type(self).table if entries is None else entries
        self.app = app
        self._listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return [*self.entries, *(n for n in self.commands if n not in self.entries)]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        # Any: typer vendors its own click, so name no Command or Context class.
        loaded = self.commands.get(cmd_name)
        entry = self.entries.get(cmd_name)
        if loaded is not None or entry is None:
            return loaded
        if isinstance(entry, Group):
            group = LazyGroup(
                name=cmd_name,
                entries=entry.commands,
                app=entry.app,
                help=entry.help,
                no_args_is_help=True,
                rich_markup_mode=self.rich_markup_mode,
            )
            self.commands[cmd_name] = group
            return group
        if self._listing:
            return TyperCommand(cmd_name, short_help=entry.help)
        command = get_command_from_info(
            command_info(entry, cmd_name, self.app),
            pretty_exceptions_short=True,
            rich_markup_mode=self.rich_markup_mode,
        )
        self.commands[cmd_name] = command
        return command

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in self.entries:
            matches = get_close_matches(name, list(self.entries))
            if matches and self.suggest_commands and not ctx.resilient_parsing:
                wanted = ", ".join(repr(m) for m in matches)
                ctx.fail(f"No such command {name!r}. Did you mean {wanted}?")
        return super().resolve_command(ctx, args)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        with self._listing_only():
            super().format_help(ctx, formatter)

    @contextmanager
    def _listing_only(self) -> Iterator[None]:
        """While help is printed, a command not yet loaded shows its table entry only."""
        self._listing = True
        try:
            yield
        finally:
            self._listing = False
