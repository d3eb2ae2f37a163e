"""One module per family of console pages. A new page family adds its router here."""

from __future__ import annotations

from fastapi import APIRouter

from newsletter.web.console.routes import audit, auth, home

ROUTERS: tuple[APIRouter, ...] = (auth.router, home.router, audit.router)
