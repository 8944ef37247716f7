"""The REST connectors (Graph, Gmail) name a refusal with the service's own message, cleaned of
control characters and cut to a readable length; a body that is not the service's error object
(an HTML page of a proxy, say) is never repeated, only its status."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from invoice_inbox.connectors.http import HttpError, RestClient

SECRET = f"internal-{uuid.uuid4().hex}"
NOISY = "Go away\x1b[2J\x07" + " and more" * 100


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/json":
            status, kind = 400, "application/json"
            body = json.dumps({"error": {"code": "BadRequest", "message": NOISY}}).encode()
        else:
            status, kind = 404, "text/html"
            body = f"<html><body>nginx {SECRET}</body></html>".encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def client() -> Iterator[RestClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rest = RestClient(
        f"http://127.0.0.1:{server.server_address[1]}",
        lambda renew=False: "token",
        service="Microsoft Graph",
        retries=0,
    )
    try:
        yield rest
    finally:
        rest.close()
        server.shutdown()
        server.server_close()


def test_the_services_message_is_cleaned_and_cut(client: RestClient) -> None:
    with pytest.raises(HttpError) as err:
        client.request("GET", "/json")
    words = str(err.value)
    assert words.startswith("Microsoft Graph answered 400 BadRequest: Go away")
    assert not any(ord(c) < 32 or ord(c) == 127 for c in words), repr(words)
    assert len(words) < 250 and words.endswith("…")


def test_a_body_that_is_not_the_services_error_is_not_repeated(client: RestClient) -> None:
    with pytest.raises(HttpError) as err:
        client.request("GET", "/page")
    assert str(err.value) == "Microsoft Graph answered 404 : Not Found".replace("  ", " ")
    assert SECRET not in str(err.value)
