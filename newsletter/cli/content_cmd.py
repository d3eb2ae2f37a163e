"""``newsletter content check``: validate every content file and list the problems."""

from __future__ import annotations

from typing import Any

import typer

from newsletter.cli import common
from newsletter.cli.apps import content_app
from newsletter.content.loader import check_library
from newsletter.errors import ContentProblem


@content_app.command("check")
def check(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object."),
) -> None:
    """Validate articles, tips and override files; exit 1 if any has a problem."""
    cfg = common.settings()
    result = check_library(cfg.content_dir)
    library = result.library
    if as_json:
        common.print_json(
            {
                "ok": result.ok,
                "content_dir": str(cfg.content_dir),
                "articles": len(library.articles),
                "tips": len(library.tips),
                "overrides": len(library.overrides),
                "problems": [_as_dict(p) for p in result.problems],
                "warnings": [_as_dict(p) for p in result.warnings],
            }
        )
    else:
        for warning in result.warnings:
            common.err_console.print(f"warning: {warning}", markup=False)
        if result.ok:
            counts = ", ".join(
                _count(len(items), noun)
                for items, noun in (
                    (library.articles, "article"),
                    (library.tips, "tip"),
                    (library.overrides, "override"),
                )
            )
            common.console.print(f"Content OK in {cfg.content_dir}: {counts}.", markup=False)
        else:
            _print_problems(result.problems)
    if not result.ok:
        raise typer.Exit(1)


def _as_dict(problem: ContentProblem) -> dict[str, Any]:
    return {
        "path": str(problem.path),
        "line": problem.line,
        "field": problem.field,
        "message": problem.message,
    }


def _print_problems(problems: tuple[ContentProblem, ...]) -> None:
    # One "path:line: field: message" line each (not a table): editors and terminals
    # jump to path:line, and long messages never wrap mid-word into a column.
    for problem in problems:
        common.console.print(str(problem), markup=False)
    files = len({p.path for p in problems})
    common.console.print(
        f"\n{_count(len(problems), 'content problem')} in {_count(files, 'file')}.",
        markup=False,
    )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
