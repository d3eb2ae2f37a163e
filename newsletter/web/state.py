"""What every request handler shares, built once by ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from newsletter.audience.tokens import TokenSigner
from newsletter.delivery.senders import Sender
from newsletter.services.limits import Window
from newsletter.settings import Settings
from newsletter.web.pages import Pages
from newsletter.web.signature import WebhookVerifier

WEBHOOK_MAX_BYTES = 1_000_000
FORM_MAX_BYTES = 64_000
UPLOAD_MAX_BYTES = 100_000_000  # a CSV import through the console


@dataclass
class WebState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    signer: TokenSigner
    sender: Sender
    pages: Pages
    # Sign-ups per client address (the counts are in the database, shared by workers).
    signup_windows: tuple[Window, ...]
    verifier: WebhookVerifier | None
    verifier_problem: str | None = None


def get_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


def body_limit_for(path: str) -> int:
    """SendGrid posts up to a few hundred KB of events; everything else is a small form."""
    if path.startswith("/admin/lists/") and path.endswith("/import"):
        return UPLOAD_MAX_BYTES
    return WEBHOOK_MAX_BYTES if path.startswith("/webhooks/") else FORM_MAX_BYTES


def client_ip(request: Request) -> str:
    # Behind a proxy, uvicorn's --proxy-headers puts the real address here.
    return request.client.host if request.client else "unknown"
