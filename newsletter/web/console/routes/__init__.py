"""One module per family of console pages. A new page family adds its router here."""

from __future__ import annotations

from fastapi import APIRouter

from newsletter.web.console.routes import audit, auth, home, issue_actions, issues

ROUTERS: tuple[APIRouter, ...] = (
    auth.router,
    home.router,
    # Before issues: /admin/issues/new must not be read as an issue id.
    issue_actions.router,
    issues.router,
    audit.router,
)
