"""A TCP relay on 127.0.0.1 in front of an SMTP server that sees the dialogue go by: it keeps the
client's commands (so a test sees what a real MTA sent: ``MAIL FROM:<...> BODY=8BITMIME``) and,
when armed, cuts the next connection in its DATA phase, both sides reset at once (``SO_LINGER``
0) as a network failure would:

- ``"in_data"``: after *after* bytes of the mail content went through, before its end;
- ``"before_reply"``: the whole mail went through, but the server's reply to it (the 250 that
  says "stored") never reaches the client, which must think the mail was not delivered.

    with SmtpCut(receiver.port) as cut:   # the sender connects to cut.port
        cut.arm("in_data", after=4096)
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from types import TracebackType
from typing import Literal

HOST = "127.0.0.1"
Mode = Literal["in_data", "before_reply"]
_END = b"\r\n.\r\n"


class SmtpCut:
    """Pass-through by default; :meth:`arm` cuts the next connection that reaches DATA."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.commands: list[bytes] = []  # every client line outside DATA, in order
        self.cuts = 0  # connections cut so far
        self._mode: Mode | None = None
        self._after = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server((HOST, 0))
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name="smtp-cut", daemon=True)
        self._thread.start()

    def __enter__(self) -> SmtpCut:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def arm(self, mode: Mode, *, after: int = 4096) -> None:
        with self._lock:
            self._mode, self._after = mode, after

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection((HOST, self.target_port))
            except OSError:
                client.close()
                continue
            _Pair(self, client, server).start()

    def _take(self) -> tuple[Mode, int] | None:
        """The armed cut, disarmed: it is for this connection alone."""
        with self._lock:
            if self._mode is None:
                return None
            taken, self._mode = (self._mode, self._after), None
            return taken


class _Pair:
    """One client connection and its server connection, a thread per direction."""

    def __init__(self, owner: SmtpCut, client: socket.socket, server: socket.socket) -> None:
        self.owner, self.client, self.server = owner, client, server
        self.in_data = False  # the server said 354: the client sends the mail
        self.mail_sent = False  # the end of the mail went to the server
        self.cut: tuple[Mode, int] | None = None
        self.closed = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._upstream, daemon=True).start()
        threading.Thread(target=self._downstream, daemon=True).start()

    def _reset(self) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        with self.owner._lock:
            self.owner.cuts += self.cut is not None
        for s in (self.client, self.server):
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.shutdown(socket.SHUT_RD)  # wakes the other direction blocked in recv
            except OSError:
                pass
            s.close()

    def _close(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            for s in (self.client, self.server):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def _upstream(self) -> None:
        """Client to server: commands recorded, the mail counted (and maybe cut). A pipelining
        client may send the next commands (QUIT, the next MAIL) right behind the mail."""
        line, sent, tail = b"", 0, b""
        try:
            while chunk := self.client.recv(65536):
                commands = chunk
                if self.in_data:
                    if self.cut is None:
                        self.cut = self.owner._take()
                    if self.cut and self.cut[0] == "in_data" and sent + len(chunk) >= self.cut[1]:
                        self.server.sendall(chunk[: max(0, self.cut[1] - sent)])
                        self._reset()
                        return
                    window = tail + chunk
                    end = window.find(_END)
                    if end < 0:
                        sent, tail, commands = sent + len(chunk), window[-len(_END) :], b""
                    else:  # the mail ends here: its reply is the next one from the server
                        self.in_data, sent, tail = False, 0, b""
                        self.mail_sent = True
                        commands = window[end + len(_END) :]
                if commands:
                    line += commands
                    *done, line = line.split(b"\r\n")
                    with self.owner._lock:
                        self.owner.commands.extend(done)
                self.server.sendall(chunk)
        except OSError:
            pass
        self._close()

    def _downstream(self) -> None:
        """Server to client: 354 starts the mail; the reply after it may be dropped."""
        try:
            while chunk := self.server.recv(65536):
                if self.mail_sent:
                    self.mail_sent = False
                    if self.cut and self.cut[0] == "before_reply":
                        self._reset()
                        return
                if any(line.startswith(b"354") for line in chunk.split(b"\r\n")):
                    self.in_data = True  # before the client can hear it and send the mail
                self.client.sendall(chunk)
        except OSError:
            pass
        self._close()
