"""``GET /healthz``: the process answers and its database is reachable and current.

The answer is public, so a failure says only ``unhealthy``: the database's own message
names hosts, ports and roles, and goes to the log for ops instead.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from newsletter.errors import StorageError
from newsletter.logs import log_event
from newsletter.storage.db import check_schema
from newsletter.web.state import get_state

log = logging.getLogger(__name__)
router = APIRouter()


class Health(BaseModel):
    status: str
    database: str


class Unhealthy(BaseModel):
    status: str = "unhealthy"


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Unhealthy, "description": "the database is unreachable or behind"}},
    tags=["ops"],
)
async def healthz(request: Request) -> JSONResponse:
    state = get_state(request)
    try:
        await run_in_threadpool(check_schema, state.engine)
    except StorageError as exc:
        log_event(log, "web.health_failed", str(exc), level=logging.ERROR)
        return JSONResponse({"status": "unhealthy"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})
