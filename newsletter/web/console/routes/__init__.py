"""One module per family of console pages. A new page family adds its router here."""

from __future__ import annotations

from fastapi import APIRouter

from newsletter.web.console.routes import (
    audience,
    audit,
    auth,
    content,
    home,
    issue_actions,
    issues,
    results,
    users,
)

ROUTERS: tuple[APIRouter, ...] = (
    auth.router,
    home.router,
    # Before issues: /admin/issues/new must not be read as an issue id.
    issue_actions.router,
    results.router,
    issues.router,
    audit.router,
    content.router,
    audience.router,
    users.router,
)
