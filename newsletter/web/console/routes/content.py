"""``/admin/content``: the library with each item's state, and the article/tip editor.

Saving goes through ``services.content_edit.save``, which validates with ``content
check``'s own functions and writes atomically; this module only reads the form and
shows the outcome. Editors and above may write content.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import escape
from starlette.concurrency import run_in_threadpool

from newsletter.errors import ContentConflictError, NotFoundError
from newsletter.services import audit, content_edit
from newsletter.services.content_edit import BODY_LABEL, FIELDS, EditForm
from newsletter.services.content_library import (
    KINDS,
    SEASONS,
    STATES,
    Kind,
    LibraryFilter,
    State,
    browse,
)
from newsletter.web.console.auth import Editor
from newsletter.web.console.pages import render, render_part
from newsletter.web.state import get_state

router = APIRouter(prefix="/admin", include_in_schema=False)
# The preview is a whole email with inline styles, shown in an iframe: it gets its own
# policy (styles inline, images from https, no script at all), not the console's.
PREVIEW_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
Text = Annotated[str, Query(max_length=200)]


def _kind(value: str) -> Kind:
    if value == "article":
        return "article"
    if value == "tip":
        return "tip"
    raise NotFoundError(f"there is no content kind {value!r}: use article or tip")


@router.get("/content", response_class=HTMLResponse)
async def library(
    request: Request,
    actor: Editor,
    *,
    q: Text = "",
    kind: Literal["", "article", "tip"] = "",
    category: Text = "",
    season: Literal["", "winter", "spring", "summer", "autumn"] = "",
    state: Literal["", "fresh", "scheduled", "used", "expired", "upcoming", "invalid"] = "",
) -> HTMLResponse:
    web = get_state(request)
    wanted = LibraryFilter(
        query=q,
        kind=kind or None,
        category=category or None,
        season=season or None,
        state=_state_or_none(state),
    )
    view = await run_in_threadpool(
        browse, web.settings.content_dir, web.sessions, web.settings.today(), wanted
    )
    return render_part(
        request,
        "content_library.html",
        "_content_results.html",
        "content-results",
        title="Content",
        view=view,
        wanted=wanted,
        kinds=KINDS,
        seasons=SEASONS,
        states=STATES,
    )


def _state_or_none(value: str) -> State | None:
    for state in STATES:
        if state == value:
            return state
    return None


@router.get("/content/new/{kind}", response_class=HTMLResponse)
def new_item(request: Request, kind: str, actor: Editor) -> HTMLResponse:
    return _editor(request, content_edit.new_form(_kind(kind)))


@router.get("/content/{kind}/{slug}", response_class=HTMLResponse)
async def edit_item(request: Request, kind: str, slug: str, actor: Editor) -> HTMLResponse:
    web = get_state(request)
    form = await run_in_threadpool(
        content_edit.open_form, web.settings.content_dir, _kind(kind), slug
    )
    saved = request.query_params.get("saved") == "1"
    return _editor(request, form, saved=saved)


@router.post("/content/preview/{kind}", response_class=HTMLResponse)
async def preview_item(request: Request, kind: str, actor: Editor) -> HTMLResponse:
    web = get_state(request)
    fields = await _form(request)
    shown = await run_in_threadpool(
        content_edit.preview,
        web.settings,
        _kind(kind),
        fields.get("slug", ""),
        fields,
        fields.get("body", ""),
    )
    if shown.html is not None:
        page = shown.html
    else:
        items = "".join(
            f"<li>{_escape(name or 'file')}: {_escape(message)}</li>"
            for name, messages in shown.problems.items()
            for message in messages
        )
        page = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Preview</title>'
            '</head><body style="font-family:sans-serif;padding:1rem"><p>Fix these to see '
            f"the preview:</p><ul>{items}</ul></body></html>"
        )
    return HTMLResponse(
        page,
        headers={"content-security-policy": PREVIEW_CSP, "x-frame-options": "SAMEORIGIN"},
    )


@router.post("/content/new/{kind}", response_class=HTMLResponse)
async def create_item(request: Request, kind: str, actor: Editor) -> Response:
    fields = await _form(request)
    return await _save(
        request, actor.email, _kind(kind), fields.get("slug", ""), fields=fields, version=""
    )


@router.post("/content/{kind}/{slug}", response_class=HTMLResponse)
async def save_item(request: Request, kind: str, slug: str, actor: Editor) -> Response:
    fields = await _form(request)
    version = fields.get("version", "")
    if not version:
        raise NotFoundError("this form has no version; open the item again from the library")
    return await _save(request, actor.email, _kind(kind), slug, fields=fields, version=version)


def _escape(text: str) -> str:
    return str(escape(text))


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


async def _save(
    request: Request, who: str, kind: Kind, slug: str, *, fields: dict[str, str], version: str
) -> Response:
    web = get_state(request)
    body = fields.get("body", "")
    values = {f.name: fields.get(f.name, "") for f in FIELDS[kind]}
    try:
        result = await run_in_threadpool(
            content_edit.save,
            web.settings.content_dir,
            kind,
            slug,
            values=values,
            body=body,
            version=version,
        )
    except ContentConflictError as exc:
        form = EditForm(kind, slug, values, body, version)
        current = (
            exc.path.read_text(encoding="utf-8", errors="replace") if exc.path.exists() else ""
        )
        return _editor(request, form, conflict=str(exc), theirs=current, status_code=409)
    if not result.saved:
        return _editor(request, result.form, status_code=422)
    action = "content.create" if not version else "content.edit"
    await run_in_threadpool(
        audit.record_now, web.sessions, who, action, f"content:{kind}/{result.form.slug}"
    )
    return RedirectResponse(f"/admin/content/{kind}/{result.form.slug}?saved=1", status_code=303)


def _editor(
    request: Request,
    form: EditForm,
    *,
    saved: bool = False,
    conflict: str | None = None,
    theirs: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    noun = form.kind
    title = (
        f"New {noun}" if form.is_new else f"Edit {noun}: {form.values.get('title') or form.slug}"
    )
    action = (
        f"/admin/content/new/{form.kind}"
        if form.is_new
        else f"/admin/content/{form.kind}/{form.slug}"
    )
    return render(
        request,
        "content_edit.html",
        status_code=status_code,
        title=title,
        form=form,
        fields=FIELDS[form.kind],
        body_label=BODY_LABEL[form.kind],
        action=action,
        saved=saved,
        conflict=conflict,
        theirs=theirs,
    )
