"""Receive an OAuth2 redirect on a loopback address (RFC 8252 §7.3: ``http://127.0.0.1:PORT``).

The authorization server sends the browser to ``redirect_uri?code=...&state=...``; a one-shot
HTTP server on 127.0.0.1 takes the query, answers the browser with a short page, and hands the
query to the waiting command. Nothing but the callback path is answered.
"""

from __future__ import annotations

import html
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

HOST = "127.0.0.1"
PATH = "/oauth/callback"


class CallbackServer:
    """``with CallbackServer(port) as cb: ...; query = cb.wait(300)``."""

    def __init__(self, port: int = 0, path: str = PATH) -> None:
        self.path = path
        self._answers: queue.Queue[dict[str, str]] = queue.Queue()
        self._httpd = ThreadingHTTPServer((HOST, port), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def redirect_uri(self) -> str:
        return f"http://{HOST}:{self.port}{self.path}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path != owner.path:
                    self.send_error(404)
                    return
                query = dict(parse_qsl(url.query, keep_blank_values=True))
                if "error" in query:
                    text = f"Sign-in failed: {query.get('error_description') or query['error']}"
                else:
                    text = "Done. You can close this window and go back to invoice-inbox."
                body = (
                    "<!doctype html><meta charset=utf-8><title>invoice-inbox</title>"
                    f"<p>{html.escape(text)}</p>"
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                owner._answers.put(query)

            def log_message(self, format: str, *args: object) -> None:
                pass  # the query holds the authorization code: never log it

        return Handler

    def __enter__(self) -> CallbackServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def wait(self, timeout: float) -> dict[str, str] | None:
        """The first callback's query parameters, or None after *timeout* seconds."""
        try:
            return self._answers.get(timeout=timeout)
        except queue.Empty:
            return None
