"""``/admin/issues/{id}/results``: what happened to a sent issue (the CLI's numbers)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from newsletter.services import issues
from newsletter.services.results import issue_results
from newsletter.web.console.auth import Editor
from newsletter.web.console.pages import render
from newsletter.web.state import get_state

router = APIRouter(prefix="/admin", include_in_schema=False)


@router.get("/issues/{issue_id}/results", response_class=HTMLResponse)
async def results_page(request: Request, issue_id: int, actor: Editor) -> HTMLResponse:
    state = get_state(request)
    view = await run_in_threadpool(issues.show_issue, state.engine, issue_id)
    results = await run_in_threadpool(
        issue_results,
        state.sessions,
        issue_id,
        webhook_configured=state.settings.sendgrid_webhook_public_key is not None,
    )
    chart = results.chart
    busy = (
        [h for h in range(chart.hours) if any(s[h] for s in chart.series.values())]
        if chart is not None
        else []
    )
    # "</" cannot appear in orjson output of these numbers and labels, but escape it anyway:
    # the JSON sits inside a <script> data block.
    chart_json = (
        orjson.dumps({"hours": chart.hours, "series": chart.series}).decode().replace("</", "<\\/")
        if chart is not None
        else "null"
    )
    return render(
        request,
        "results.html",
        title=f"Results of issue {issue_id}",
        issue=view,
        results=results,
        rows=results.rows(),
        busy_hours=busy,
        chart_json=chart_json,
    )
