"""A local HTTP server whose one answer a test sets: a federation operator's metadata feed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        body, status = self.server.body, self.server.status
        self.send_response(status)
        self.send_header("Content-Type", "application/samlmetadata+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class FeedServer(ThreadingHTTPServer):
    """``body`` and ``status`` are what every GET gets; ``url`` is where."""

    body: bytes = b""
    status: int = 200

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/md/metadata.xml"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


@contextmanager
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.stop()
