"""``POST /webhooks/sendgrid``: signed event batches, stored first, then processed.

Status codes follow what SendGrid does with them: any 2xx ends the delivery, 403 and
400 are for requests that will never be acceptable, and 5xx makes SendGrid retry,
which is harmless because stored events are deduplicated.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from newsletter.errors import NewsletterError, WebhookError
from newsletter.logs import log_event
from newsletter.services.events import ingest_events, parse_events, process_pending_events
from newsletter.web.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER
from newsletter.web.state import get_state

log = logging.getLogger(__name__)
router = APIRouter(tags=["webhooks"])


class WebhookAnswer(BaseModel):
    received: int
    stored: int
    duplicates: int
    processed: int


class Problem(BaseModel):
    detail: str


_EVENTS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "event": {"type": "string"},
            "email": {"type": "string"},
            "timestamp": {"type": "integer"},
            "sg_event_id": {"type": "string"},
            "sg_message_id": {"type": "string"},
        },
        "additionalProperties": True,
    },
}


@router.post(
    "/webhooks/sendgrid",
    response_model=WebhookAnswer,
    responses={
        400: {"model": Problem, "description": "the body is not a JSON array of events"},
        403: {"model": Problem, "description": "missing, stale or wrong signature"},
        413: {"model": Problem, "description": "the body is larger than 1 MB"},
        503: {"model": Problem, "description": "signature key not configured, or no database"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _EVENTS_SCHEMA}},
        }
    },
)
async def sendgrid_events(
    request: Request,
    signature: Annotated[str | None, Header(alias=SIGNATURE_HEADER)] = None,
    timestamp: Annotated[str | None, Header(alias=TIMESTAMP_HEADER)] = None,
) -> JSONResponse:
    state = get_state(request)
    if state.verifier is None:
        log_event(
            log,
            "webhook.unconfigured",
            state.verifier_problem or "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY is not set",
            level=logging.ERROR,
        )
        return _problem(503, "the webhook is not configured: no signature verification key")
    body = await request.body()
    try:
        state.verifier.verify(body, signature, timestamp)
    except WebhookError as exc:
        log_event(log, "webhook.refused", str(exc), level=logging.WARNING, bytes=len(body))
        return _problem(403, f"signature check failed: {exc}")
    try:
        events = parse_events(body)
        result = await run_in_threadpool(ingest_events, state.sessions, events)
    except WebhookError as exc:
        log_event(log, "webhook.malformed", str(exc), level=logging.WARNING, bytes=len(body))
        return _problem(400, str(exc))
    processed = 0
    try:
        processed = (await run_in_threadpool(process_pending_events, state.sessions)).processed
    except NewsletterError as exc:
        # The events are stored: the next request, or process_pending_events, applies them.
        log_event(log, "webhook.process_failed", str(exc), level=logging.ERROR)
    log_event(
        log,
        "webhook.received",
        received=result.received,
        stored=result.stored,
        duplicates=result.duplicates,
        processed=processed,
    )
    return JSONResponse(
        {
            "received": result.received,
            "stored": result.stored,
            "duplicates": result.duplicates,
            "processed": processed,
        }
    )


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)
