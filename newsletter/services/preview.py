"""Preview: an issue as files a browser opens, with sample values in the tags.

``write_preview`` assembles and renders a list's issue for a date without any
database, assuming a list that has received nothing yet (empty history), so it shows
what assembly would pick on a fresh start. ``write_stored_preview`` writes the stored
snapshot of a built issue: exactly what would be sent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from newsletter.assembly import ContentHistory, IssuePlan, assemble
from newsletter.content.loader import library_for_issue
from newsletter.errors import NewsletterError
from newsletter.render import (
    RenderContext,
    RenderedIssue,
    render_issue,
    substitutions,
)
from newsletter.services.events import preview_issue
from newsletter.settings import Settings
from newsletter.storage.db import session_factory

SAMPLE_FIRST_NAME = "Alex"
PREVIEW_DIR = Path("var/preview")


@dataclass(frozen=True)
class Preview:
    """An assembled and rendered issue, tags filled with sample values."""

    plan: IssuePlan
    rendered: RenderedIssue
    filled: RenderedIssue


@dataclass(frozen=True)
class PreviewFiles:
    """What ``write_preview`` produced."""

    list_slug: str
    issue_date: dt.date
    subject: str
    preheader: str
    html_path: Path
    text_path: Path
    html_bytes: int
    articles: tuple[str, ...]
    tips: tuple[str, ...]
    notes: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "list": self.list_slug,
            "date": self.issue_date.isoformat(),
            "subject": self.subject,
            "preheader": self.preheader,
            "html": str(self.html_path),
            "text": str(self.text_path),
            "html_bytes": self.html_bytes,
            "articles": list(self.articles),
            "tips": list(self.tips),
            "notes": list(self.notes),
        }


def list_display_name(list_slug: str) -> str:
    """``back-care`` -> ``Back Care``: the name a list has before it is stored."""
    return list_slug.replace("-", " ").replace("_", " ").title()


def sample_values(cfg: Settings) -> dict[str, str]:
    """What the substitution tags become in a preview."""
    return substitutions(SAMPLE_FIRST_NAME, f"{cfg.public_url}/u/preview")


def build_preview(cfg: Settings, list_slug: str, issue_date: dt.date | None = None) -> Preview:
    """Load the library, assemble with an empty history, render, fill the tags."""
    when = issue_date or cfg.today()
    library, _ = library_for_issue(cfg.content_dir, list_slug, when)
    plan = assemble(
        library,
        list_slug,
        when,
        ContentHistory(),
        articles_per_issue=cfg.articles_per_issue,
        tips_per_issue=cfg.tips_per_issue,
    )
    rendered = render_issue(plan, RenderContext.from_settings(cfg, list_display_name(list_slug)))
    return Preview(plan=plan, rendered=rendered, filled=rendered.filled(sample_values(cfg)))


def default_output(list_slug: str, issue_date: dt.date) -> Path:
    return PREVIEW_DIR / f"{issue_date.isoformat()}-{list_slug}.html"


def text_path_for(html_path: Path) -> Path:
    """The text part's file, next to the HTML one."""
    candidate = html_path.with_suffix(".txt")
    return candidate if candidate != html_path else html_path.with_name(html_path.name + ".txt")


def write_preview(
    cfg: Settings,
    list_slug: str,
    issue_date: dt.date | None = None,
    output: Path | None = None,
) -> PreviewFiles:
    """Build the preview and write ``output`` (HTML) plus the text part beside it."""
    preview = build_preview(cfg, list_slug, issue_date)
    plan = preview.plan
    html_path = output or default_output(list_slug, plan.issue_date)
    text_path = text_path_for(html_path)
    _write_files(preview.filled, html_path, text_path)
    return PreviewFiles(
        list_slug=list_slug,
        issue_date=plan.issue_date,
        subject=preview.filled.subject,
        preheader=preview.filled.preheader,
        html_path=html_path,
        text_path=text_path,
        html_bytes=len(preview.rendered.html.encode("utf-8")),
        articles=plan.article_slugs,
        tips=plan.tip_slugs,
        notes=plan.notes,
    )


def _write_files(filled: RenderedIssue, html_path: Path, text_path: Path) -> None:
    try:
        html_path.parent.mkdir(parents=True, exist_ok=True)
        html_path.write_text(filled.html, encoding="utf-8")
        text_path.write_text(filled.text, encoding="utf-8")
    except OSError as exc:
        raise NewsletterError(
            f"cannot write the preview to {exc.filename or html_path}: {exc.strerror or exc}"
        ) from exc


@dataclass(frozen=True)
class StoredPreviewFiles:
    """What ``write_stored_preview`` produced."""

    issue_id: int
    subject: str
    html_path: Path
    text_path: Path

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.issue_id,
            "subject": self.subject,
            "html": str(self.html_path),
            "text": str(self.text_path),
        }


def write_stored_preview(
    cfg: Settings, engine: Engine, issue_id: int, output: Path | None = None
) -> StoredPreviewFiles:
    """The stored snapshot of issue ``issue_id``, tags filled, as HTML + text files."""
    filled = preview_issue(session_factory(engine), issue_id, sample=sample_values(cfg))
    html_path = output or PREVIEW_DIR / f"issue-{issue_id}.html"
    text_path = text_path_for(html_path)
    _write_files(filled, html_path, text_path)
    return StoredPreviewFiles(issue_id, filled.subject, html_path, text_path)
