"""A scripted IMAP server on 127.0.0.1: it answers LOGIN, NAMESPACE, SELECT and LOGOUT as a
plain server would and a UID FETCH with hand-written bytes, sent in the pieces given (a pause
between them, so a literal can arrive split across reads). Answers for the reader of
``connectors.imap_fetch`` that a real server sends rarely or never on demand."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence

CAPS = b"IMAP4rev1 NAMESPACE MOVE UIDPLUS"
GREETING = b"* OK [CAPABILITY " + CAPS + b"] scripted server ready\r\n"


class ScriptedImap:
    """Serves one connection; *fetch* is the answer to each UID FETCH in turn, as pieces in
    which ``{tag}`` stands for the command's tag."""

    def __init__(self, fetch: Sequence[Sequence[bytes]]) -> None:
        self.fetch = list(fetch)
        self.commands: list[bytes] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(1)
        self.port: int = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> ScriptedImap:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
        self._thread.join(5)

    def _serve(self) -> None:
        try:
            conn, _ = self._sock.accept()
        except OSError:
            return
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.sendall(GREETING)
            reader = conn.makefile("rb")
            for line in reader:
                self.commands.append(line.rstrip(b"\r\n"))
                tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
                verb = rest.split(b" ", 2)[:2]
                if verb[0].upper() == b"UID" and verb[1].upper() == b"FETCH" and self.fetch:
                    for piece in self.fetch.pop(0):
                        conn.sendall(piece.replace(b"{tag}", tag))
                        time.sleep(0.01)
                    continue
                conn.sendall(self._answer(tag, verb[0].upper()))
                if verb[0].upper() == b"LOGOUT":
                    return

    @staticmethod
    def _answer(tag: bytes, verb: bytes) -> bytes:
        if verb == b"CAPABILITY":
            return b"* CAPABILITY " + CAPS + b"\r\n" + tag + b" OK done\r\n"
        if verb == b"LOGIN":
            return tag + b" OK logged in\r\n"
        if verb == b"NAMESPACE":
            return b'* NAMESPACE (("" "/")) NIL NIL\r\n' + tag + b" OK done\r\n"
        if verb == b"SELECT":
            return (
                b"* 3 EXISTS\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 10] n\r\n"
                + tag
                + b" OK [READ-WRITE] selected\r\n"
            )
        if verb == b"LOGOUT":
            return b"* BYE bye\r\n" + tag + b" OK done\r\n"
        return tag + b" BAD not scripted\r\n"
