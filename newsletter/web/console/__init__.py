"""The marketing console under ``/admin``: sign-in, roles, and the pages marketing uses.

``install(app)`` mounts every router in ``ROUTERS``, the console's static files and its
error pages. How to add a page: see README.md in this folder.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from newsletter.settings import Settings
from newsletter.web.console import errors
from newsletter.web.console.pages import STATIC_DIR, STATIC_PATH, ConsolePages
from newsletter.web.console.routes import ROUTERS


def install(app: FastAPI, settings: Settings) -> None:
    app.state.console_pages = ConsolePages(settings)
    for router in ROUTERS:
        app.include_router(router)
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="console-static")
    errors.install(app)
