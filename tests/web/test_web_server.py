"""The web server beside the scheduler: real HTTP on a bound socket, a clear error for a port
in use, and TCP sockets (so asyncio turns Nagle off for kept-alive connections)."""

from __future__ import annotations

import socket

import httpx
import pytest

from invoice_inbox.web.server import WebServer
from web.conftest import Web


def test_serves_over_real_http_and_stops(web: Web) -> None:
    server = WebServer(web.asgi, "127.0.0.1", 0)
    assert server._sock.proto == socket.IPPROTO_TCP  # asyncio sets TCP_NODELAY only then
    server.start()
    try:
        with httpx.Client(base_url=server.url) as client:  # one kept-alive connection
            for _ in range(3):
                assert client.get("/healthz").json()["database"] == "ok"
            assert client.get("/login").headers["location"] == "/setup"
        with pytest.raises(OSError):
            WebServer(web.asgi, "127.0.0.1", server.port)  # the port is taken
    finally:
        server.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url + "/healthz", timeout=2)
