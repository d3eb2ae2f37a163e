"""A loopback HTTP server for import tests: fixed answers by path, and a path that hangs up."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HANG_UP = "/hang-up"


@dataclass
class Site:
    base: str
    pages: dict[str, tuple[bytes, str]]
    agents: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path


@contextmanager
def serve(pages: dict[str, tuple[str | bytes, str]]) -> Iterator[Site]:
    encoded = {p: (b if isinstance(b, bytes) else b.encode(), t) for p, (b, t) in pages.items()}
    site = Site(base="", pages=encoded)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            site.agents.append(self.headers.get("User-Agent", ""))
            if self.path == HANG_UP:
                self.close_connection = True
                self.connection.close()  # no status line: the client sees a closed socket
                return
            found = site.pages.get(self.path)
            if found is None:
                self.send_error(404, "Not Found")
                return
            body, kind = found
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    site.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield site
    finally:
        server.shutdown()
        server.server_close()
