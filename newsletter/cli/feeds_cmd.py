"""``newsletter content import-feed URL`` and ``import-page URL``: the blog into articles/."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import typer

from newsletter.cli import common
from newsletter.cli.apps import content_app

if TYPE_CHECKING:
    from newsletter.services.feeds import ImportResult

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

_CATEGORY = typer.Option(
    None, "--category", help="Category slug for every article (default: the post's first)."
)
_DRY_RUN = typer.Option(False, "--dry-run", help="Show what would be written; write nothing.")
_JSON = typer.Option(False, "--json", help="Print a JSON object.")


def _category(value: str | None) -> str | None:
    if value is not None and not _SLUG.fullmatch(value):
        raise typer.BadParameter(
            f"{value!r} is not a slug (lower-case letters, digits, single hyphens)",
            param_hint="--category",
        )
    return value


@content_app.command("import-feed")
def import_feed(
    url: str = typer.Argument(..., help="The RSS 2.0 or Atom feed (http:// or https://)."),
    category: str | None = _CATEGORY,
    dry_run: bool = _DRY_RUN,
    as_json: bool = _JSON,
) -> None:
    """Write one article file per new post of a blog feed (never overwrites a file)."""
    from newsletter.services import feeds  # trafilatura and feedparser: only here

    result = feeds.import_feed(
        common.settings(), url, category=_category(category), dry_run=dry_run
    )
    _show(result, as_json)


@content_app.command("import-page")
def import_page(
    url: str = typer.Argument(..., help="The web page of one article (https://)."),
    category: str | None = _CATEGORY,
    dry_run: bool = _DRY_RUN,
    as_json: bool = _JSON,
) -> None:
    """Write an article file for one web page, from its Open Graph tags and text."""
    from newsletter.services import feeds

    result = feeds.import_page(
        common.settings(), url, category=_category(category), dry_run=dry_run
    )
    _show(result, as_json)


def _show(result: ImportResult, as_json: bool) -> None:
    if as_json:
        common.print_json(result.as_dict())
        return
    say = common.console.print
    verb = "would write" if result.dry_run else "wrote"
    for item in result.written:
        say(f"{verb} {item.path}  ({item.title})", markup=False)
        for note in item.notes:
            say(f"  note: {note}", markup=False)
    for skipped in result.skipped:
        say(f"skipped {skipped.title} <{skipped.url}>: {skipped.reason}", markup=False)
    count = len(result.written)
    if count:
        noun = "article" if count == 1 else "articles"
        done = "would be imported" if result.dry_run else "imported"
        say(f"{count} new {noun} {done} from {result.source}.", markup=False)
    else:
        say(
            f"Nothing new in {result.source}: {result.already} already imported, "
            f"{len(result.skipped)} skipped.",
            markup=False,
        )
    if count and not result.dry_run:
        say("Run `newsletter content check`, then review the new files.", markup=False)
