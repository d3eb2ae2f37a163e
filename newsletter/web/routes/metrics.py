"""``GET /metrics``: Prometheus text format, behind the metrics token or the admin token."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.concurrency import run_in_threadpool

from newsletter.services.metrics import build_registry
from newsletter.web.security import bearer_scheme, presented_token
from newsletter.web.state import get_state

router = APIRouter(tags=["ops"])


def require_metrics_access(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
) -> None:
    cfg = get_state(request).settings
    accepted = [t.get_secret_value() for t in (cfg.metrics_token, cfg.admin_token) if t]
    if not accepted:
        raise HTTPException(
            status_code=403,
            detail="metrics are disabled: set NEWSLETTER_METRICS_TOKEN (or NEWSLETTER_ADMIN_TOKEN)",
        )
    given = (presented_token(request) or "").encode()
    # Every candidate is compared, so the time taken says nothing about which one matched.
    matches = [hmac.compare_digest(given, token.encode()) for token in accepted]
    if not given or not any(matches):
        raise HTTPException(
            status_code=401,
            detail="a valid metrics or admin token is required (Authorization: Bearer …)",
            headers={"WWW-Authenticate": 'Bearer realm="newsletter metrics"'},
        )


def _registry(request: Request) -> CollectorRegistry:
    registry: CollectorRegistry | None = getattr(request.app.state, "metrics_registry", None)
    if registry is None:
        registry = build_registry(get_state(request).sessions)
        request.app.state.metrics_registry = registry
    return registry


@router.get(
    "/metrics",
    dependencies=[Depends(require_metrics_access)],
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format"},
        401: {"description": "no or wrong token"},
        403: {"description": "no metrics or admin token is configured"},
    },
)
async def metrics(request: Request) -> Response:
    """Ledger, events, audience and scheduler figures, read from the database now."""
    body = await run_in_threadpool(generate_latest, _registry(request))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
