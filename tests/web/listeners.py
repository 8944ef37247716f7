"""Tiny TCP servers on 127.0.0.1 that a test controls: one that plays an IMAP server and
writes down every byte it receives (to prove a password was or was not sent to it), and one
that greets like an SMTP server with a secret in its banner (to prove the banner is not echoed).
"""

from __future__ import annotations

import re
import socketserver
import threading
from collections.abc import Callable
from typing import BinaryIO

# (line received, write) -> False to hang up
Answer = Callable[[bytes, Callable[[bytes], None]], bool]

_TAGGED = re.compile(rb"^(\S+) (\S+)")
_LITERAL = re.compile(rb"\{(\d+)\+?\}\r?\n$")


class Listener:
    """A threaded TCP server: *greeting* is sent on connect, then *answer* gets each line."""

    def __init__(self, greeting: bytes, answer: Answer) -> None:
        self.received = bytearray()
        owner = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                out: BinaryIO = self.wfile  # type: ignore[assignment]
                out.write(greeting)
                for line in self.rfile:
                    owner.received += line
                    if not answer(line, out.write):
                        return

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port: int = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Listener:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def fake_imap(login_answer: bytes = b"OK LOGIN completed") -> Listener:
    """An IMAP server that accepts LOGIN (or answers it with *login_answer*) and has INBOX."""

    def answer(line: bytes, write: Callable[[bytes], None]) -> bool:
        if _LITERAL.search(line):  # a quoted-string too odd for quotes: the literal comes next
            write(b"+ go ahead\r\n")
            return True
        m = _TAGGED.match(line)
        if not m:
            return True  # the rest of a literal
        tag, command = m.group(1), m.group(2).upper()
        if command == b"CAPABILITY":
            write(b"* CAPABILITY IMAP4rev1\r\n" + tag + b" OK done\r\n")
        elif command == b"LOGIN":
            write(tag + b" " + login_answer + b"\r\n")
        elif command == b"LIST":
            write(b'* LIST () "/" INBOX\r\n' + tag + b" OK done\r\n")
        elif command == b"LOGOUT":
            write(b"* BYE bye\r\n" + tag + b" OK done\r\n")
            return False
        else:
            write(tag + b" OK done\r\n")
        return True

    return Listener(b"* OK [CAPABILITY IMAP4rev1] fake IMAP ready\r\n", answer)


def smtp_banner(secret: str) -> Listener:
    """A mail relay's greeting and refusals, each carrying *secret*."""

    def answer(line: bytes, write: Callable[[bytes], None]) -> bool:
        if line.strip().upper() == b"QUIT":
            write(b"221 2.0.0 Bye " + secret.encode() + b"\r\n")
            return False
        write(b"502 5.5.2 Error: command not recognized " + secret.encode() + b"\r\n")
        return True

    return Listener(f"220 mx.internal.example ESMTP Postfix {secret}\r\n".encode(), answer)
