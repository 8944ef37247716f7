"""Serve the web application with uvicorn on a thread of its own, beside the scheduler.

The socket is bound before the thread starts, so a port in use is an ``OSError`` the caller
turns into one sentence, and port 0 gives a free port (see :attr:`WebServer.port`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)


class WebServer:
    def __init__(self, asgi: FastAPI, host: str, port: int, *, proxy_headers: bool = False) -> None:
        self.host = host
        # IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say
        # they are TCP; without it every small answer on a kept-alive connection waits ~40 ms
        # for the client's delayed ACK (measured by benchmarks/web_listing.py)
        self._sock = socket.socket(
            socket.AF_INET6 if ":" in host else socket.AF_INET,
            socket.SOCK_STREAM,
            socket.IPPROTO_TCP,
        )
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._sock.bind((host, port))
        except OSError:
            self._sock.close()
            raise
        self._sock.listen(128)
        self._port = int(self._sock.getsockname()[1])
        self._server = uvicorn.Server(
            uvicorn.Config(
                asgi,
                log_level="warning",
                access_log=False,
                lifespan="off",
                proxy_headers=proxy_headers,
                timeout_graceful_shutdown=5,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        def serve() -> None:
            asyncio.run(self._server.serve(sockets=[self._sock]))

        self._thread = threading.Thread(target=serve, name="web", daemon=True)
        self._thread.start()
        log.info("web admin and API on %s", self.url)

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sock.close()
