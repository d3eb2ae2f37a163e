"""``/admin/lists`` and ``/admin/subscribers``: counts, search, a person's page, import, export.

Viewing is for every signed-in user; changing people or lists (import, unsubscribe,
suppress) and exporting the addresses are for admins. Each change is audited.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from newsletter.audience.import_report import ImportSummary
from newsletter.errors import AudienceError
from newsletter.services import audience, audience_console, audit
from newsletter.storage.models import SuppressionReason, UserRole
from newsletter.web.console.auth import Actor, Admin, Editor
from newsletter.web.console.pages import render, render_part
from newsletter.web.state import get_state

router = APIRouter(prefix="/admin", include_in_schema=False)


def _is_admin(actor: Actor) -> bool:
    return actor.can(UserRole.ADMIN)


@router.get("/lists", response_class=HTMLResponse)
async def lists_page(request: Request, actor: Editor) -> HTMLResponse:
    rows = await run_in_threadpool(audience.lists_with_counts, get_state(request).sessions)
    return render(request, "lists.html", title="Lists", lists=rows, is_admin=_is_admin(actor))


@router.get("/subscribers", response_class=HTMLResponse)
async def subscribers_page(
    request: Request, actor: Editor, q: Annotated[str, Query(max_length=320)] = ""
) -> HTMLResponse:
    query = q.strip()
    found = await run_in_threadpool(audience_console.search, get_state(request).sessions, query)
    return render_part(
        request,
        "subscribers.html",
        "_subscriber_results.html",
        "subscriber-results",
        title="Subscribers",
        q=query,
        found=found,
        limit=audience_console.SEARCH_LIMIT,
        exact=bool(query) and audience_console.valid_address(query),
    )


@router.get("/subscribers/{email}", response_class=HTMLResponse)
async def subscriber_page(request: Request, email: str, actor: Editor) -> HTMLResponse:
    page = await run_in_threadpool(
        audience_console.subscriber_page, get_state(request).sessions, email
    )
    done = {"unsubscribed": "Unsubscribed.", "suppressed": "Suppressed."}.get(
        request.query_params.get("done", "")
    )
    return render(
        request,
        "subscriber.html",
        title=page.person.email,
        person=page.person,
        received=page.received,
        recent=audience_console.RECENT_ISSUES,
        is_admin=_is_admin(actor),
        done=done,
    )


async def _confirmed_form(request: Request, box: str) -> dict[str, str]:
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if fields.get(box) != "on":
        raise AudienceError("tick the confirmation box to go ahead; nothing was changed")
    return fields


@router.post("/subscribers/{email}/unsubscribe")
async def unsubscribe(request: Request, email: str, actor: Admin) -> RedirectResponse:
    fields = await _confirmed_form(request, "confirm_unsubscribe")
    state = get_state(request)
    list_slug = fields.get("list") or None
    result = await run_in_threadpool(
        audience.unsubscribe_email,
        state.sessions,
        email,
        list_slug,
        source=f"console:{actor.email}",
    )
    await run_in_threadpool(
        audit.record_now,
        state.sessions,
        actor.email,
        "subscriber.unsubscribe",
        f"subscriber:{result.email}",
        f"from {list_slug or 'every list'}; {result.changed} membership(s) changed",
    )
    return RedirectResponse(f"/admin/subscribers/{result.email}?done=unsubscribed", 303)


@router.post("/subscribers/{email}/suppress")
async def suppress(request: Request, email: str, actor: Admin) -> RedirectResponse:
    await _confirmed_form(request, "confirm_suppress")
    state = get_state(request)
    info, _created = await run_in_threadpool(
        audience.add_suppression,
        state.sessions,
        email,
        SuppressionReason.MANUAL,
        source=f"console:{actor.email}",
    )
    await run_in_threadpool(
        audit.record_now,
        state.sessions,
        actor.email,
        "subscriber.suppress",
        f"subscriber:{info.email}",
    )
    return RedirectResponse(f"/admin/subscribers/{info.email}?done=suppressed", 303)


@router.get("/lists/{slug}/import", response_class=HTMLResponse)
async def import_page(request: Request, slug: str, actor: Admin) -> HTMLResponse:
    info = await run_in_threadpool(audience.get_list, get_state(request).sessions, slug)
    return _import_page(request, info)


def _import_page(
    request: Request,
    info: audience.ListInfo,
    *,
    summary: ImportSummary | None = None,
    report_id: str | None = None,
    error: str | None = None,
) -> HTMLResponse:
    return render(
        request,
        "import.html",
        status_code=422 if error else 200,
        title=f"Import into {info.name}",
        list=info,
        summary=summary,
        report_id=report_id,
        error=error,
    )


@router.post("/lists/{slug}/import", response_class=HTMLResponse)
async def import_upload(request: Request, slug: str, actor: Admin) -> HTMLResponse:
    state = get_state(request)
    info = await run_in_threadpool(audience.get_list, state.sessions, slug)
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return _import_page(request, info, error="choose a CSV file to import")
    confirmed = form.get("confirmed") == "on"
    dry_run = form.get("dry_run") == "on"
    filename = Path(upload.filename).name[:100]
    consent = f"console import of {filename} by {actor.email}"
    if confirmed:
        consent += " (consent given elsewhere)"
    try:
        result = await run_in_threadpool(
            audience_console.import_upload,
            state.sessions,
            upload.file,
            filename,
            slug,
            reports_dir=state.settings.import_reports_dir,
            confirmed=confirmed,
            dry_run=dry_run,
            source=consent,
        )
    except AudienceError as exc:
        return _import_page(request, info, error=str(exc))
    finally:
        await upload.close()
    if not dry_run:
        summary = result.summary
        await run_in_threadpool(
            audit.record_now,
            state.sessions,
            actor.email,
            "audience.import",
            f"list:{slug}",
            f"{filename}: {summary.rows} rows, {summary.added} added, {summary.updated} updated, "
            f"{summary.skipped_total} rejected" + (" (confirmed)" if confirmed else ""),
        )
    return _import_page(request, info, summary=result.summary, report_id=result.report_id)


@router.get("/imports/{report_id}.csv")
async def reject_report(request: Request, report_id: str, actor: Admin) -> FileResponse:
    path = audience_console.report_file(get_state(request).settings.import_reports_dir, report_id)
    return FileResponse(path, media_type="text/csv", filename=f"rejected-rows-{report_id[:8]}.csv")


@router.get("/lists/{slug}/export.csv")
async def export(request: Request, slug: str, actor: Admin) -> Response:
    state = get_state(request)
    handle, name = tempfile.mkstemp(prefix="export-", suffix=".csv")
    os.close(handle)
    path = Path(name)
    try:
        with path.open("w", encoding="utf-8", newline="") as out:
            count = await run_in_threadpool(audience.export_csv, state.sessions, slug, out)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    await run_in_threadpool(
        audit.record_now,
        state.sessions,
        actor.email,
        "audience.export",
        f"list:{slug}",
        f"{count} people",
    )
    return FileResponse(
        path,
        media_type="text/csv",
        filename=f"{slug}-subscribers.csv",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )
