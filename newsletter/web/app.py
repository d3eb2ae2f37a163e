"""The FastAPI app factory: signup, unsubscribe, the SendGrid webhook and previews."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from newsletter.audience.tokens import TokenSigner
from newsletter.delivery.senders import Sender, make_sender
from newsletter.errors import NewsletterError, SettingsError, StorageError
from newsletter.logs import log_event, register_secrets, secret_values, setup_logging
from newsletter.services.limits import Window
from newsletter.services.signup import SIGNUP_WINDOWS
from newsletter.settings import Settings, load_settings
from newsletter.storage.db import check_schema, make_engine, session_factory
from newsletter.web import console
from newsletter.web.pages import STATIC_DIR, Pages
from newsletter.web.routes import (
    archive,
    confirm,
    health,
    metrics,
    preview,
    signup,
    unsubscribe,
    webhook,
)
from newsletter.web.security import (
    BodyLimitMiddleware,
    SecurityHeadersMiddleware,
    install_token_path_filter,
)
from newsletter.web.signature import WebhookVerifier
from newsletter.web.state import WebState, body_limit_for

log = logging.getLogger(__name__)


def serve_app() -> FastAPI:
    """What ``newsletter serve`` runs in each worker: the shared logging set-up, then the app."""
    cfg = load_settings()
    setup_logging(cfg)
    return create_app(cfg)


def create_app(
    settings: Settings | None = None,
    *,
    sender: Sender | None = None,
    signup_windows: tuple[Window, ...] = SIGNUP_WINDOWS,
) -> FastAPI:
    """Build the app on the configured database; refuses a missing or old schema.

    ``sender`` replaces the configured one and ``signup_windows`` the sign-up limit per
    client address (tests use a memory sender and a looser limit).
    """
    cfg = settings or load_settings()
    cfg.signing_key()  # refuse to start on a missing, public or short key
    register_secrets(secret_values(cfg))
    install_token_path_filter()
    engine = make_engine(cfg.database_url)
    check_schema(engine)
    verifier, problem = _verifier(cfg)
    state = WebState(
        settings=cfg,
        engine=engine,
        sessions=session_factory(engine),
        signer=TokenSigner.from_settings(cfg),
        sender=sender or make_sender(cfg),
        pages=Pages(cfg),
        signup_windows=signup_windows,
        verifier=verifier,
        verifier_problem=problem,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(
        title="Newsletter",
        summary="Double opt-in signup, one-click unsubscribe, SendGrid events, previews.",
        version="1",
        # The interactive docs load scripts from a CDN, which the page CSP forbids.
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.web = state
    app.add_middleware(BodyLimitMiddleware, limit_for=body_limit_for)
    app.add_middleware(SecurityHeadersMiddleware)
    for module in (health, signup, confirm, unsubscribe, webhook, preview, archive, metrics):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_exception_handler(StorageError, _storage_error)
    app.add_exception_handler(NewsletterError, _newsletter_error)
    # Last: the console's error pages wrap the handlers above for paths under /admin.
    console.install(app, cfg)
    return app


def _verifier(cfg: Settings) -> tuple[WebhookVerifier | None, str | None]:
    key = cfg.sendgrid_webhook_public_key
    if not key:
        log_event(
            log,
            "webhook.unconfigured",
            "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY is not set: the webhook answers 503",
            level=logging.WARNING,
        )
        return None, None
    try:
        return WebhookVerifier(key), None
    except SettingsError as exc:
        log_event(log, "webhook.bad_key", str(exc), level=logging.ERROR)
        return None, str(exc)


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


async def _storage_error(request: Request, exc: Exception) -> Response:
    # The database's own message may name tables or hosts: it goes to the log only.
    log_event(log, "web.storage_error", str(exc), level=logging.ERROR, path=request.url.path)
    message = "The service is briefly unavailable. Please try again in a few minutes."
    if _wants_html(request):
        pages_: Pages = request.app.state.web.pages
        return pages_.problem("Please try again shortly", message, status_code=503)
    return JSONResponse({"detail": message}, status_code=503)


async def _newsletter_error(request: Request, exc: Exception) -> Response:
    log_event(log, "web.error", str(exc), level=logging.ERROR, path=request.url.path)
    message = "Something went wrong on our side. Please try again later."
    if _wants_html(request):
        pages_: Pages = request.app.state.web.pages
        return pages_.problem("Something went wrong", message, status_code=500)
    return JSONResponse({"detail": message}, status_code=500)
