"""TCP proxies on 127.0.0.1 in front of a test server's port, for what a server cannot be made
to do on its own: a network path that goes silent or breaks (:class:`Proxy`), rewritten server
bytes, and a server that announces new mail only when the client sends a command
(:class:`Withholding`, like Courier with ``IMAP_ENHANCEDIDLE=0`` or Cyrus without ``idled``)."""

from __future__ import annotations

import contextlib
import re
import select
import socket
import threading
from collections.abc import Callable


class Proxy:
    """TCP proxy on 127.0.0.1 to a Dovecot port. :meth:`blackhole` makes every connection open
    at that moment silent in both directions (bytes are read and dropped, nothing is closed),
    like a peer that vanished without FIN or RST; later connections are forwarded normally.
    ``rewrite`` edits server-to-client bytes."""

    def __init__(self, target_port: int, rewrite: Callable[[bytes], bytes] | None = None) -> None:
        self.target_port = target_port
        self.rewrite = rewrite
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._holed: set[int] = set()
        self._links: list[tuple[int, socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                link = self.connections
                self.connections += 1
                self._links.append((link, client, upstream))
            threading.Thread(
                target=self._pump, args=(link, client, upstream, False), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(link, upstream, client, True), daemon=True
            ).start()

    def _pump(self, link: int, src: socket.socket, dst: socket.socket, downstream: bool) -> None:
        with contextlib.suppress(OSError):
            while not self._closed:
                if not select.select([src], [], [], 0.1)[0]:
                    continue
                data = src.recv(65536)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                if link in self._holed:
                    continue
                if downstream and self.rewrite is not None:
                    data = self.rewrite(data)
                dst.sendall(data)

    def blackhole(self) -> None:
        with self._lock:
            self._holed.update(link for link, _c, _u in self._links)

    def cut(self) -> None:
        """Close every open connection towards the client (FIN, no IMAP BYE)."""
        with self._lock:
            for _link, client, _upstream in self._links:
                with contextlib.suppress(OSError):
                    client.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._closed = True
        self._listener.close()
        with self._lock:
            for _link, client, upstream in self._links:
                client.close()
                upstream.close()


class Withholding(Proxy):
    """Dovecot made into a server that does not push: untagged EXISTS and RECENT lines sent
    while the client is in IDLE are held back and sent just before the tagged end of IDLE."""

    _EXISTS = re.compile(rb"^\* \d+ (EXISTS|RECENT)\r\n$")
    _IDLE_DONE = re.compile(rb"^\S+ OK Idle completed")

    def __init__(self, target_port: int) -> None:
        super().__init__(target_port, rewrite=self._hold)
        self._partial = b""
        self._held: list[bytes] = []
        self._idling = False
        self.withheld = 0

    def _hold(self, data: bytes) -> bytes:
        lines = (self._partial + data).split(b"\r\n")
        self._partial = lines.pop()
        out: list[bytes] = []
        for text in lines:
            line = text + b"\r\n"
            if line.startswith(b"+ idling"):
                self._idling = True
            elif self._idling and self._EXISTS.match(line):
                self._held.append(line)
                self.withheld += 1
                continue
            elif self._IDLE_DONE.match(line):
                self._idling = False
                out += self._held
                self._held = []
            out.append(line)
        return b"".join(out)
