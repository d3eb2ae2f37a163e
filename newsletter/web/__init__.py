"""The web face: ``create_app`` builds the FastAPI app that ``newsletter serve`` runs."""

from __future__ import annotations

from newsletter.web.app import create_app, serve_app

__all__ = ["create_app", "serve_app"]
