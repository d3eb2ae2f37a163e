"""Create and edit an article or tip from a form, with ``content check``'s own validation.

A form is a flat mapping of field names to text. Saving turns it into front matter +
Markdown, validates that text with the very functions ``content check`` runs
(``frontmatter.parse`` then ``article_from``/``tip_from``), and only when there is no
problem writes it: to a temporary file in the same folder, flushed and synced, then
renamed over the old one, so a reader sees the old file or the new one, never half.
Each form carries the SHA-256 of the file as it was opened; a file that changed (or
appeared, or vanished) since then is a ``ContentConflictError``, never overwritten.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from newsletter.assembly import IssuePlan
from newsletter.content.frontmatter import FrontMatterError, parse, read_text
from newsletter.content.models import SEASON_MONTHS, Article, Tip
from newsletter.content.validate import SLUG_RE, article_from, tip_from
from newsletter.errors import ContentConflictError, ContentProblem, NotFoundError, RenderError
from newsletter.render import RenderContext, render_issue
from newsletter.services.content_library import FOLDER_OF, Kind
from newsletter.services.preview import sample_values
from newsletter.settings import Settings

FieldKind = Literal["text", "textarea", "url", "date", "list", "ints", "bool", "select"]
LOCK_NAME = ".console-write.lock"  # a dot file: the loader never reads it


class _Dumper(yaml.SafeDumper):
    """Writes 2026-03-04 bare, as a person would: the loader reads dates as text anyway."""


_Dumper.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeDumper.yaml_implicit_resolvers.items()
}


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: FieldKind = "text"
    required: bool = False
    hint: str = ""
    choices: tuple[str, ...] = ()


ARTICLE_FIELDS = (
    FormField("title", "Title", required=True),
    FormField(
        "summary", "Summary", "textarea", True, "What the email shows; at most 300 characters."
    ),
    FormField("url", "Link to the full article", "url", True, "An absolute https:// address."),
    FormField("image_src", "Image address", "url", hint="Optional; https:// only."),
    FormField("image_alt", "Image description (alt text)", hint="Needed when there is an image."),
    FormField("category", "Category", required=True),
    FormField("tags", "Tags", "list", hint="Separate with commas."),
    FormField("published", "Published", "date", True),
    FormField("author", "Author", required=True, hint="Shown with the article."),
    FormField("evergreen", "Evergreen (may be sent again later)", "bool"),
    FormField("expires", "Expires", "date", hint="Optional: the first day it must not be sent."),
)
TIP_FIELDS = (
    FormField("title", "Title", required=True),
    FormField("category", "Category", required=True),
    FormField("tags", "Tags", "list", hint="Separate with commas."),
    FormField(
        "months", "Months", "ints", hint="Optional: month numbers 1-12, separated by commas."
    ),
    FormField("season", "Season", "select", choices=("", *SEASON_MONTHS)),
    FormField("caution", "Caution", "textarea", hint="Optional: shown highlighted under the tip."),
)
FIELDS: dict[Kind, tuple[FormField, ...]] = {"article": ARTICLE_FIELDS, "tip": TIP_FIELDS}
BODY_LABEL: dict[Kind, str] = {
    "article": "Editorial notes (Markdown, never sent)",
    "tip": "Tip text (Markdown)",
}
_IMAGE = {"image_src": "src", "image_alt": "alt"}


@dataclass(frozen=True)
class EditForm:
    """What the editor shows: field values, the body, and the version it was opened at."""

    kind: Kind
    slug: str
    values: dict[str, str]
    body: str
    version: str  # SHA-256 of the file when opened; "" for a new item
    problems: dict[str, list[str]] = field(default_factory=dict)

    @property
    def is_new(self) -> bool:
        return not self.version

    @property
    def problem_count(self) -> int:
        return sum(len(messages) for messages in self.problems.values())


@dataclass(frozen=True)
class SaveResult:
    form: EditForm
    saved: bool
    path: Path | None = None


def version_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def item_path(content_dir: Path, kind: Kind, slug: str) -> Path:
    """The file of an item; ``NotFoundError`` for a slug that could not be a file name."""
    if not SLUG_RE.fullmatch(slug) or len(slug) > 120:
        raise NotFoundError(f"there is no {kind} called {slug!r}")
    return content_dir / FOLDER_OF[kind] / f"{slug}.md"


def new_form(kind: Kind) -> EditForm:
    return EditForm(
        kind=kind, slug="", values={f.name: "" for f in FIELDS[kind]}, body="", version=""
    )


def open_form(content_dir: Path, kind: Kind, slug: str) -> EditForm:
    """The item's current file as form values (problems included, as ``content check`` sees)."""
    path = item_path(content_dir, kind, slug)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise NotFoundError(f"there is no {kind} called {slug!r} in {path.parent}") from exc
    values = {f.name: "" for f in FIELDS[kind]}
    try:
        doc = parse(path, read_text(path))
    except FrontMatterError as exc:
        # Unreadable front matter: show the raw file as the body so nothing is lost.
        return EditForm(
            kind,
            slug,
            values,
            raw.decode("utf-8", "replace"),
            version_of(raw),
            _by_field([exc.problem]),
        )
    values.update(_values_from(kind, doc.data))
    problems = _validate(kind, path, _text(doc.data, doc.body))
    return EditForm(kind, slug, values, doc.body.lstrip("\n"), version_of(raw), _by_field(problems))


def save(
    content_dir: Path,
    kind: Kind,
    slug: str,
    *,
    values: Mapping[str, str],
    body: str,
    version: str,
) -> SaveResult:
    """Validate and write the item; nothing is written when any problem is found.

    ``version`` is the form's: "" to create a new file (refused if the name exists),
    else the SHA-256 the file had when the form was opened.
    """
    slug = slug.strip()
    form = EditForm(
        kind, slug, {f.name: values.get(f.name, "") for f in FIELDS[kind]}, body, version
    )
    if not SLUG_RE.fullmatch(slug) or len(slug) > 120:
        message = (
            "use lower-case letters, digits and single hyphens (e.g. 'heat-or-ice'); "
            "it becomes the file name"
        )
        return SaveResult(_with_problems(form, {"slug": [message]}), saved=False)
    path = content_dir / FOLDER_OF[kind] / f"{slug}.md"
    with _folder_lock(path.parent):
        current = path.read_bytes() if path.exists() else None
        _check_version(kind, slug, path, current, version)
        extra = _extra_keys(kind, path) if current is not None else {}
        data = {**_data_from(kind, form.values), **extra}
        text = _text(data, body)
        problems = _validate(kind, path, text)
        if problems:
            return SaveResult(_with_problems(form, _by_field(problems)), saved=False)
        written = text.encode("utf-8")
        _write_atomically(path, written)
    saved = EditForm(kind, slug, form.values, body, version_of(written))
    return SaveResult(saved, saved=True, path=path)


@dataclass(frozen=True)
class ItemPreview:
    html: str | None
    problems: dict[str, list[str]]


def preview(
    cfg: Settings, kind: Kind, slug: str, values: Mapping[str, str], body: str
) -> ItemPreview:
    """The email as it would look with only this item in it, or why it cannot render."""
    name = slug.strip() if SLUG_RE.fullmatch(slug.strip()) else "preview"
    path = cfg.content_dir / FOLDER_OF[kind] / f"{name}.md"
    data = _data_from(kind, {f.name: values.get(f.name, "") for f in FIELDS[kind]})
    try:
        doc = parse(path, _text(data, body))
    except FrontMatterError as exc:
        return ItemPreview(None, _by_field([exc.problem]))
    item: Article | Tip | None
    item, problems = article_from(doc) if kind == "article" else tip_from(doc)
    if item is None:
        return ItemPreview(None, _by_field(problems))
    plan = IssuePlan(
        list_slug="preview",
        issue_date=cfg.today(),
        subject=f"Preview: {item.title}",
        preheader="How this item looks in the weekly email.",
        articles=(item,) if isinstance(item, Article) else (),
        tips=(item,) if isinstance(item, Tip) else (),
    )
    try:
        rendered = render_issue(plan, RenderContext.from_settings(cfg, "Preview"))
    except RenderError as exc:
        return ItemPreview(None, {"": [str(exc)]})
    return ItemPreview(rendered.filled(sample_values(cfg)).html, {})


# ------------------------------------------------------------------ helpers


def _check_version(kind: Kind, slug: str, path: Path, current: bytes | None, version: str) -> None:
    if not version:
        if current is not None:
            raise ContentConflictError(
                path,
                f"a {kind} called {slug!r} already exists: edit that one or choose another name",
            )
        return
    if current is None:
        raise ContentConflictError(
            path, f"{path.name} was deleted since you opened it; your changes were not saved"
        )
    if version_of(current) != version:
        raise ContentConflictError(
            path,
            f"{path.name} changed on disk since you opened it (someone else saved it); "
            "your changes were not saved: reload it and make them again",
        )


def _values_from(kind: Kind, data: Mapping[str, Any]) -> dict[str, str]:
    values: dict[str, str] = {}
    for spec in FIELDS[kind]:
        if spec.name in _IMAGE:
            image = data.get("image")
            raw = image.get(_IMAGE[spec.name]) if isinstance(image, dict) else None
        else:
            raw = data.get(spec.name)
        values[spec.name] = _as_text(spec, raw)
    return values


def _as_text(spec: FormField, raw: Any) -> str:
    if raw is None:
        return ""
    if spec.kind == "bool":
        return "on" if raw is True else ""
    if isinstance(raw, list):
        return ", ".join(str(item) for item in raw)
    return str(raw)


def _data_from(kind: Kind, values: Mapping[str, str]) -> dict[str, Any]:
    """Front matter from form text; empty fields are left out, as a writer would."""
    data: dict[str, Any] = {}
    for spec in FIELDS[kind]:
        text = values.get(spec.name, "").strip()
        if spec.name in _IMAGE:
            if text:
                data.setdefault("image", {})[_IMAGE[spec.name]] = text
        elif spec.kind == "bool":
            if text:
                data[spec.name] = True
        elif spec.kind in ("list", "ints"):
            parts = [part.strip() for part in text.split(",") if part.strip()]
            if parts:
                data[spec.name] = [
                    int(p) if spec.kind == "ints" and p.isdigit() else p for p in parts
                ]
        elif text:
            data[spec.name] = text
    return data


def _extra_keys(kind: Kind, path: Path) -> dict[str, Any]:
    """Keys of the file that the form has no field for (e.g. an import's source), kept."""
    try:
        doc = parse(path, read_text(path))
    except FrontMatterError:
        return {}
    known = {f.name for f in FIELDS[kind]} | {"image"}
    return {key: value for key, value in doc.data.items() if key not in known}


def _text(data: Mapping[str, Any], body: str) -> str:
    front = (
        yaml.dump(
            dict(data), sort_keys=False, allow_unicode=True, default_flow_style=None, width=10_000
        )
        if data
        else ""
    )
    body = body.replace("\r\n", "\n").strip("\n")
    return f"---\n{front}---\n" + (f"{body}\n" if body else "")


def _validate(kind: Kind, path: Path, text: str) -> list[ContentProblem]:
    try:
        doc = parse(path, text)
    except FrontMatterError as exc:
        return [exc.problem]
    _, problems = article_from(doc) if kind == "article" else tip_from(doc)
    return problems


def _by_field(problems: list[ContentProblem]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for problem in problems:
        name = (
            (problem.field or "")
            .replace("image.src", "image_src")
            .replace("image.alt", "image_alt")
        )
        name = name.split(".")[0] if name not in _IMAGE else name
        found.setdefault(name, []).append(problem.message)
    return found


def _with_problems(form: EditForm, problems: dict[str, list[str]]) -> EditForm:
    return EditForm(form.kind, form.slug, form.values, form.body, form.version, problems)


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    # One writer at a time per folder, across workers: the version check and the
    # rename must not interleave with another save of the same file.
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_NAME, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_atomically(path: Path, data: bytes) -> None:
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)
