"""The scheduler's ``/metrics`` on ``NEWSLETTER_METRICS_PORT``: the web app's figures, plus
whether this process holds the leader lease.

A small WSGI server in a daemon thread (prometheus-client's own app, wrapped so that
``NEWSLETTER_METRICS_TOKEN``, when set, is required as a bearer token). It listens on
127.0.0.1 unless ``NEWSLETTER_METRICS_HOST`` says otherwise: a scrape from elsewhere
should come through a proxy or a tunnel.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app
from sqlalchemy.orm import Session, sessionmaker

from newsletter.services.metrics import build_registry

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every 15 s would flood stderr; the structured logs say what matters."""


def guarded(app: WsgiApp, token: str | None) -> WsgiApp:
    """``app`` behind ``Authorization: Bearer TOKEN`` (no token: open, on localhost)."""
    if not token:
        return app
    expected = f"Bearer {token}".encode()

    def check(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        given = str(environ.get("HTTP_AUTHORIZATION", "")).encode()
        if not hmac.compare_digest(given, expected):
            start_response("401 Unauthorized", [("Content-Type", "text/plain")])
            return [b"a valid metrics token is required (Authorization: Bearer ...)\n"]
        return app(environ, start_response)

    return check


def start(
    sessions: sessionmaker[Session],
    port: int,
    *,
    is_leader: Callable[[], bool],
    token: str | None,
    host: str = "127.0.0.1",
) -> WSGIServer:
    """Serve metrics in a daemon thread; ``shutdown()`` the returned server to stop."""
    registry = build_registry(sessions, is_leader=is_leader)
    app = guarded(make_wsgi_app(registry), token)
    server = make_server(host, port, app, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
