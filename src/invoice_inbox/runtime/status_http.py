"""The operations endpoints: ``GET /metrics`` for Prometheus and ``GET /healthz`` for probes.

:class:`Status` makes the two answers; ``serve`` gives them through the web app (``web.app``).
:class:`StatusServer` serves them alone with the stdlib HTTP server on a daemon thread, for a
process without the web app. ``/metrics`` exposes only our own
:class:`~invoice_inbox.runtime.metrics.DatabaseCollector` (a private registry, no process or
Python metrics). ``/healthz`` answers 200 when the database answers ``SELECT 1`` and the optional
health callback (the scheduler's) reports healthy, else 503 with the reason.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from invoice_inbox.runtime.metrics import DatabaseCollector
from invoice_inbox.store.db import Database
from invoice_inbox.store.models import utcnow

log = logging.getLogger(__name__)

# (healthy, details): details are merged into the /healthz answer, e.g. {"scheduler": "running"}
HealthCheck = Callable[[], tuple[bool, dict[str, object]]]

_JSON = "application/json"
_TEXT = "text/plain; charset=utf-8"


def _reason(exc: BaseException) -> str:
    """The driver's own message ("unable to open database file"), without SQLAlchemy's SQL
    echo and documentation link."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    return str(exc) or type(exc).__name__


class Status:
    """The answers of ``/metrics`` and ``/healthz``, for any HTTP server (the web app's too)."""

    def __init__(
        self,
        db: Database,
        *,
        health: HealthCheck | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = db
        self._health = health
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(DatabaseCollector(db, clock=clock))

    def metrics(self) -> tuple[int, str, bytes]:
        """(status, content type, body) of ``GET /metrics``."""
        try:
            return 200, CONTENT_TYPE_LATEST, generate_latest(self._registry)
        except Exception as exc:  # a failed scrape must say why, not kill the thread
            log.warning("metrics unavailable: %s", _reason(exc))
            return 503, _TEXT, f"metrics unavailable: {_reason(exc)}\n".encode()

    def healthz(self) -> tuple[int, dict[str, object]]:
        """(status, JSON document) of ``GET /healthz``."""
        try:
            with self._db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            return 503, {"status": "unavailable", "reason": f"database: {_reason(exc)}"}
        answer: dict[str, object] = {"status": "ok", "database": "ok"}
        if self._health is None:
            return 200, answer
        try:
            healthy, details = self._health()
        except Exception as exc:
            log.exception("health check failed")
            return 503, {**answer, "status": "unavailable", "reason": f"health check: {exc!r}"}
        answer.update({k: v for k, v in details.items() if k != "status"})
        if healthy:
            return 200, answer
        answer["status"] = "unavailable"
        answer.setdefault("reason", "health check reported a problem")
        return 503, answer


class StatusServer(Status):
    """``/metrics`` and ``/healthz`` on ``host:port`` (port 0: a free one, see :attr:`port`)."""

    def __init__(
        self,
        host: str,
        port: int,
        db: Database,
        *,
        health: HealthCheck | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(db, health=health, clock=clock)
        self.host = host
        self._port = port
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port listened on once started (the chosen one when asked for 0)."""
        return self._httpd.server_address[1] if self._httpd else self._port

    def start(self) -> None:
        if self._httpd is not None:
            raise RuntimeError("status server already started")
        self._httpd = _Server((self.host, self._port), _Handler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.1},  # how soon stop() returns
            name="status-http",
            daemon=True,
        )
        self._thread.start()
        log.info("status endpoints on http://%s:%d (/metrics, /healthz)", self.host, self.port)

    def stop(self) -> None:
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> StatusServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], status: StatusServer
    ) -> None:
        self.status = status
        super().__init__(address, handler)


class _Handler(BaseHTTPRequestHandler):
    server_version = "invoice-inbox"
    sys_version = ""

    def do_GET(self) -> None:
        assert isinstance(self.server, _Server)
        path = urlsplit(self.path).path
        if path == "/metrics":
            code, content_type, body = self.server.status.metrics()
        elif path == "/healthz":
            code, document = self.server.status.healthz()
            content_type, body = _JSON, json.dumps(document, default=str).encode()
        else:
            code, content_type, body = 404, _TEXT, b"not found: try /metrics or /healthz\n"
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)
