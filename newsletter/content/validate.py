"""Turn one parsed content file into a model, or into the problems that stop it.

Every check collects problems instead of stopping at the first, so one run of
``newsletter content check`` shows everything a writer has to fix in a file.
The sentences themselves live in ``messages``.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from newsletter.content import markdown
from newsletter.content.frontmatter import Document
from newsletter.content.messages import translate, unknown_keys
from newsletter.content.models import Article, IssueOverride, Tip
from newsletter.errors import ContentProblem

SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
OVERRIDE_NAME_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})-(.+)$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

ARTICLE_KEYS = (
    "title",
    "summary",
    "url",
    "image",
    "category",
    "tags",
    "published",
    "author",
    "evergreen",
    "expires",
    "source_url",
    "source_guid",
)
IMAGE_KEYS = ("src", "alt")
TIP_KEYS = ("title", "category", "tags", "months", "season", "caution")
OVERRIDE_KEYS = ("subject", "preheader", "articles", "tips")

Problems = list[ContentProblem]
M = TypeVar("M", bound=BaseModel)


def slug_problem(doc_path: Path, stem: str, what: str) -> ContentProblem | None:
    """A problem when a file name is not a usable slug."""
    if SLUG_RE.fullmatch(stem) and len(stem) <= 120:
        return None
    suggestion = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-") or "my-" + what
    return ContentProblem(
        doc_path,
        f"file name {stem + '.md'!r} is not a valid slug: use lower-case letters, digits "
        f"and single hyphens, e.g. {suggestion + '.md'!r}",
        field="slug",
    )


def article_from(doc: Document) -> tuple[Article | None, Problems]:
    """Validate an article file; its Markdown body is editorial notes and is ignored."""
    problems = unknown_keys(doc, ARTICLE_KEYS, {"image": IMAGE_KEYS})
    values = _known(doc.data, ARTICLE_KEYS)
    bad_dates = {
        key for key in ("published", "expires") if not _parse_date(doc, key, values, problems)
    }
    slug_bad = slug_problem(doc.path, doc.path.stem, "article")
    if slug_bad:
        problems.append(slug_bad)
    values["slug"] = doc.path.stem if slug_bad is None else "invalid-slug"
    summary = values.get("summary")
    if isinstance(summary, str):
        problems.extend(_html_problems(doc, summary, "summary", doc.line_of(("summary",))))
    article = _build(Article, doc, values, problems, skip=bad_dates)
    published, expires = values.get("published"), values.get("expires")
    if isinstance(published, dt.date) and isinstance(expires, dt.date) and expires <= published:
        problems.append(
            ContentProblem(
                doc.path,
                f"expires ({expires}) must be after published ({published}); "
                "the article would never be sent",
                field="expires",
                line=doc.line_of(("expires",)),
            )
        )
        article = None
    return (article if not problems else None), problems


def tip_from(doc: Document) -> tuple[Tip | None, Problems]:
    """Validate a tip file; its body is the tip's Markdown."""
    problems = unknown_keys(doc, TIP_KEYS, {})
    values = _known(doc.data, TIP_KEYS)
    slug_bad = slug_problem(doc.path, doc.path.stem, "tip")
    if slug_bad:
        problems.append(slug_bad)
    values["slug"] = doc.path.stem if slug_bad is None else "invalid-slug"
    body = doc.body.strip()
    if not body:
        problems.append(
            ContentProblem(
                doc.path,
                "the tip has no text: write it in Markdown below the closing '---'",
                field="body",
                line=doc.body_line,
            )
        )
        body = "(missing)"
    else:
        problems.extend(_link_problems(doc, body))
        first = doc.body_line + _leading_blank_lines(doc.body)
        problems.extend(_html_problems(doc, body, "body", first))
    values["body"] = body
    values["body_html"] = markdown.to_html(body)
    tip = _build(Tip, doc, values, problems)
    if tip is not None:
        problems.extend(_month_problems(doc, tip))
    return (tip if not problems else None), problems


def override_from(doc: Document) -> tuple[IssueOverride | None, Problems]:
    """Validate an override file; list and date come from its name, the body is the intro."""
    problems = unknown_keys(doc, OVERRIDE_KEYS, {})
    values = _known(doc.data, OVERRIDE_KEYS)
    name_ok = _override_name(doc, values, problems)
    if not name_ok:
        values.setdefault("list_slug", "invalid-list")
        values.setdefault("issue_date", dt.date(2000, 1, 1))
    for key in ("articles", "tips"):
        problems.extend(_duplicates(doc, key))
    intro = doc.body.strip()
    problems.extend(_link_problems(doc, intro))
    problems.extend(
        _html_problems(doc, intro, "body", doc.body_line + _leading_blank_lines(doc.body))
    )
    values["intro"] = intro
    values["intro_html"] = markdown.to_html(intro)
    override = _build(IssueOverride, doc, values, problems)
    return (override if not problems else None), problems


def _override_name(doc: Document, values: dict[str, Any], problems: Problems) -> bool:
    stem = doc.path.stem
    match = OVERRIDE_NAME_RE.fullmatch(stem)
    if match is None or not DATE_RE.fullmatch(match.group(1)):
        problems.append(
            ContentProblem(
                doc.path,
                f"file name {doc.path.name!r} must be YYYY-MM-DD-<list-slug>.md, "
                "e.g. '2025-03-04-back-care.md'",
                field="file name",
            )
        )
        return False
    raw_date, list_slug = match.groups()
    ok = True
    try:
        values["issue_date"] = dt.date.fromisoformat(raw_date)
    except ValueError as exc:
        problems.append(
            ContentProblem(
                doc.path,
                f"{raw_date!r} in the file name is not a real date ({exc})",
                field="issue_date",
            )
        )
        ok = False
    if not SLUG_RE.fullmatch(list_slug):
        problems.append(
            ContentProblem(
                doc.path,
                f"list slug {list_slug!r} in the file name must be lower-case letters, "
                "digits and single hyphens",
                field="list_slug",
            )
        )
        ok = False
    else:
        values["list_slug"] = list_slug
    return ok


def _known(data: dict[str, Any], known: tuple[str, ...]) -> dict[str, Any]:
    # A key written with no value ("tags:") means "not given"; a required one is then
    # reported as having no value rather than with a type error about None.
    return {key: value for key, value in data.items() if key in known and value is not None}


def _parse_date(doc: Document, key: str, values: dict[str, Any], problems: Problems) -> bool:
    """Parse ``values[key]`` in place; False (and a problem) when it is not a date."""
    # Dates reach us as strings (the YAML loader keeps them so) and are parsed here, so
    # a writer sees "2024-02-30 is not a real date" rather than a type error.
    if key not in values or values[key] is None:
        return True
    raw = values[key]
    line = doc.line_of((key,))
    if not isinstance(raw, str) or not DATE_RE.fullmatch(raw.strip()):
        problems.append(
            ContentProblem(doc.path, f"must be a date written YYYY-MM-DD (got {raw!r})", key, line)
        )
        del values[key]
        return False
    try:
        values[key] = dt.date.fromisoformat(raw.strip())
    except ValueError as exc:
        problems.append(ContentProblem(doc.path, f"{raw!r} is not a real date ({exc})", key, line))
        del values[key]
        return False
    return True


def _build(
    model: type[M],
    doc: Document,
    values: dict[str, Any],
    problems: Problems,
    skip: set[str] | frozenset[str] = frozenset(),
) -> M | None:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            if loc and loc[0] in skip:
                continue  # already reported, more precisely, by the caller
            if error["type"] == "extra_forbidden":
                continue  # already reported, with a suggestion, by _unknown_keys
            problems.append(translate(doc, loc, error))
        return None


def _month_problems(doc: Document, tip: Tip) -> Problems:
    if tip.months is not None and not tip.months:
        return [
            ContentProblem(
                doc.path,
                "months is empty, so the tip would never be sent; "
                "leave 'months' out for a tip that suits every month",
                field="months",
                line=doc.line_of(("months",)),
            )
        ]
    if not any(tip.fits_month(month) for month in range(1, 13)):
        return [
            ContentProblem(
                doc.path,
                f"months {list(tip.months or ())} and season {tip.season!r} never overlap, "
                "so the tip would never be sent",
                field="months",
                line=doc.line_of(("months",)),
            )
        ]
    return []


def _duplicates(doc: Document, key: str) -> Problems:
    items = doc.data.get(key)
    if not isinstance(items, list):
        return []
    seen: set[object] = set()
    problems: Problems = []
    for index, item in enumerate(items):
        if isinstance(item, str) and item in seen:
            problems.append(
                ContentProblem(
                    doc.path,
                    f"{item!r} is listed twice",
                    field=key,
                    line=doc.line_of((key, index)),
                )
            )
        if isinstance(item, str):
            seen.add(item)
    return problems


def _link_problems(doc: Document, md: str) -> Problems:
    # The render checks accept only absolute https links; failing here points the writer
    # at the file and line instead of at a rendered email.
    if not md:
        return []
    first_line = doc.body_line + _leading_blank_lines(doc.body)
    problems: Problems = []
    for link in markdown.links(md):
        if link.url.startswith("https://") and len(link.url) > len("https://"):
            continue
        line = None if link.line is None else first_line + link.line - 1
        problems.append(
            ContentProblem(
                doc.path,
                f"{link.kind} {link.url!r} must be an absolute https:// URL",
                field="body",
                line=line,
            )
        )
    return problems


def _html_problems(doc: Document, md: str, field: str, first_line: int | None) -> Problems:
    # The email escapes raw HTML (it would otherwise be a way to break the layout or the
    # render checks), so a tag shows up as literal "<b>" text: say so before it is sent.
    problems: Problems = []
    for line, tag in markdown.raw_html(md):
        where = None if line is None or first_line is None else first_line + line - 1
        problems.append(
            ContentProblem(
                doc.path,
                f"raw HTML {tag[:60]!r} would show as literal text in the email; use "
                "Markdown instead (**bold**, *italic*, [text](https://…), a blank line "
                "between paragraphs)",
                field=field,
                line=where,
            )
        )
    return problems


def _leading_blank_lines(body: str) -> int:
    count = 0
    for line in body.splitlines():
        if line.strip():
            break
        count += 1
    return count
