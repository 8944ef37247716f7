"""Local receivers for what invoice-inbox sends out: an SMTP sink (aiosmtpd) standing in for the
company's mail relay, and an HTTP endpoint standing in for a webhook consumer."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from harness.dovecot import free_ports


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: Message


@dataclass
class _Handler:
    mails: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        self.mails.append(
            Received(str(envelope.mail_from), list(envelope.rcpt_tos), message_from_bytes(raw))
        )
        return "250 OK"


class SmtpSink:
    """An SMTP server on 127.0.0.1 that keeps every mail it is given."""

    def __init__(self) -> None:
        self._handler = _Handler()
        # a fixed free port: Controller.start() test-connects to the port it was given
        self._port = free_ports(1)[0]
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=self._port)

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def mails(self) -> list[Received]:
        return self._handler.mails


@dataclass
class HttpRequest:
    """One POST as received: its headers and its body bytes, untouched."""

    path: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it (``bodies``) and every
    request as received (``requests``); answers *status*, or first the statuses of ``answer``,
    with *text* as the answer's body."""

    def __init__(self, status: int = 204, text: bytes = b"") -> None:
        self.bodies: list[dict[str, Any]] = []
        self.requests: list[HttpRequest] = []
        self.status = status
        self.text = text
        self._next: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(HttpRequest(self.path, dict(self.headers), raw))
                    receiver.bodies.append(json.loads(raw))
                    status = receiver._next.pop(0) if receiver._next else receiver.status
                self.send_response(status)
                self.send_header("Content-Length", str(len(receiver.text)))
                self.end_headers()
                self.wfile.write(receiver.text)

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def answer(self, *statuses: int) -> None:
        """Answer the next requests with these statuses, in order; then *status* again."""
        with self._lock:
            self._next.extend(statuses)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/invoice-inbox"
