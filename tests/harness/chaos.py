"""Fault injection for the scale-out shape: a TCP proxy that cuts connections, and a fleet of
``invoice-inbox worker`` processes with a killer that SIGKILLs them at random.

    with CuttingProxy(lambda: ("127.0.0.1", dovecot.imap_port), cut_every=(0.5, 3)) as proxy:
        fleet = Fleet(4, env=env, log_dir=tmp)   # sources connect to proxy.port, not Dovecot's
        fleet.start()
        killer = Killer(fleet, kills=100, every=(0.5, 2.0)).start()
        killer.join(); fleet.stop()

The proxy is thread-per-connection on 127.0.0.1; a cut resets both sides at once (``SO_LINGER``
0, so the peers get an RST, not a clean close) in the middle of whatever they were saying.
The fleet restarts a worker that exited on its own (e.g. it started while PostgreSQL was down).
Used by ``tests/runtime/test_chaos.py`` (small) and ``benchmarks/chaos.py`` (full size); the mail
and the final check are in ``harness.chaos_mail`` and ``harness.chaos_check``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
WORKER_MAIN = Path(__file__).with_name("chaos_worker.py")


# -- the cutting proxy ----------------------------------------------------------------------


class _Pair:
    """One proxied connection: the client's socket and ours to the server."""

    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client, self.server = client, server
        self.bytes = 0
        self.seen = 0  # bytes at the cutter's last look
        self._closed = threading.Event()

    def pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
                self.bytes += len(data)
        except OSError:
            pass
        self.close()

    def cut(self) -> None:
        """Reset both sides: an RST each way, whatever was in flight is lost."""
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RD)  # wakes the pump blocked in recv
        self.close()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        for sock in (self.client, self.server):
            with contextlib.suppress(OSError):
                sock.close()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()


class CuttingProxy:
    """A TCP proxy on 127.0.0.1 in front of *upstream* (asked at each connection, so a server
    that moved is followed) that resets a random live connection every *cut_every* seconds
    (a random time in the range); ``cutting`` switches the cutter on and off."""

    def __init__(
        self,
        upstream: Callable[[], tuple[str, int]],
        *,
        cut_every: tuple[float, float] = (0.5, 3.0),
        seed: int | None = None,
    ) -> None:
        self.upstream = upstream
        self.cut_every = cut_every
        self.cutting = threading.Event()
        self.cutting.set()
        self.cuts = 0
        self.connections = 0
        self.refused = 0  # connections the server did not take (it was down)
        self._rng = random.Random(seed)
        self._pairs: set[_Pair] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server((HOST, 0))
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def __enter__(self) -> CuttingProxy:
        for target in (self._accept, self._cutter):
            t = threading.Thread(target=target, daemon=True, name=f"proxy-{target.__name__}")
            t.start()
            self._threads.append(t)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            pair.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._open, args=(client,), daemon=True).start()

    def _open(self, client: socket.socket) -> None:
        """Connect *client* to the server (in its own thread: a slow server holds up no other
        client) and pump both ways."""
        try:
            server = socket.create_connection(self.upstream(), timeout=5)
            server.settimeout(None)
        except OSError:
            self.refused += 1
            client.close()
            return
        pair = _Pair(client, server)
        with self._lock:
            self._pairs.add(pair)
            self.connections += 1
        threading.Thread(target=pair.pump, args=(server, client), daemon=True).start()
        pair.pump(client, server)

    def _cutter(self) -> None:
        while not self._stop.wait(self._rng.uniform(*self.cut_every)):
            if not self.cutting.is_set():
                continue
            with self._lock:
                self._pairs = {p for p in self._pairs if not p.closed}
                live = sorted(self._pairs, key=id)
            # connections moving data (a fetch, a move) rather than waiting (IDLE), when any
            busy = [p for p in live if p.bytes != p.seen]
            for p in live:
                p.seen = p.bytes
            if busy or live:
                self._rng.choice(busy or live).cut()
                self.cuts += 1

    def cut_all(self) -> int:
        """Reset every live connection now; returns how many."""
        with self._lock:
            live = [p for p in self._pairs if not p.closed]
        for pair in live:
            pair.cut()
        return len(live)


# -- the webhook receiver ------------------------------------------------------------------


class HookReceiver:
    """A webhook endpoint on 127.0.0.1 that records (delivery id, event id, event type) of every
    whole POST and answers 204; a body cut short (its sender was killed mid-request) is
    answered 400 and not recorded."""

    def __init__(self) -> None:
        self.received: list[tuple[str, int, str]] = []
        self.cut_short = 0
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    body: dict[str, Any] = json.loads(raw)
                    entry = (
                        self.headers.get("X-Invoice-Inbox-Delivery", ""),
                        int(body["id"]),
                        str(body["type"]),
                    )
                except (ValueError, KeyError, TypeError):
                    with lock:
                        receiver.cut_short += 1
                    self.send_response(400)
                else:
                    with lock:
                        receiver.received.append(entry)
                    self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer((HOST, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}/hooks/chaos"

    def __enter__(self) -> HookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


# -- the worker fleet and its killer ---------------------------------------------------------


class Fleet:
    """*size* worker processes (``harness/chaos_worker.py``: ``invoice-inbox worker`` with the
    rig's short intervals), each in its own process group, logs in *log_dir*."""

    def __init__(
        self,
        size: int,
        *,
        env: dict[str, str],
        log_dir: Path,
        concurrency: int = 2,
        argv: list[str] | None = None,
    ) -> None:
        self.size, self.env, self.log_dir = size, env, log_dir
        self.concurrency = concurrency
        self.argv = argv or [sys.executable, str(WORKER_MAIN), "--concurrency", str(concurrency)]
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * size
        self.starts = [0] * size
        self.exits: list[int] = []  # exit codes of workers that ended on their own
        self._lock = threading.Lock()

    def _spawn(self, i: int) -> None:
        self.starts[i] += 1
        log = (self.log_dir / f"worker-{i}.log").open("ab")
        self.procs[i] = subprocess.Popen(
            self.argv,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            for i in range(self.size):
                self._spawn(i)

    def revive(self) -> int:
        """Start again every worker that ended on its own; returns how many."""
        revived = 0
        with self._lock:
            for i, proc in enumerate(self.procs):
                if proc is not None and proc.poll() is not None:
                    self.exits.append(proc.returncode)
                    self._spawn(i)
                    revived += 1
        return revived

    def kill(self, i: int) -> None:
        """SIGKILL worker *i* (only its main process: its decide workers notice on their own)
        and start it again."""
        with self._lock:
            proc = self.procs[i]
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
            self._spawn(i)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p is not None and p.poll() is None]

    def stop(self, timeout: float = 60.0) -> list[int | None]:
        """SIGTERM every worker (a clean stop), SIGKILL what is left after *timeout*, then
        SIGKILL each process group (stray decide workers); returns the exit codes."""
        with self._lock:
            procs = [p for p in self.procs if p is not None]
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            codes: list[int | None] = []
            for p in procs:
                try:
                    codes.append(p.wait(timeout=max(deadline - time.monotonic(), 0.1)))
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                    codes.append(None)
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(p.pid, signal.SIGKILL)
            return codes


class Killer(threading.Thread):
    """SIGKILLs a random worker of *fleet* every *every* seconds (a random time in the range)
    and starts it again, *kills* times; between kills it revives workers that ended. A *dry*
    killer keeps the same time (and calls *on_kill*) but kills nobody: the baseline."""

    def __init__(
        self,
        fleet: Fleet,
        *,
        kills: int,
        every: tuple[float, float] = (0.5, 2.0),
        seed: int | None = None,
        on_kill: Callable[[int], None] | None = None,
        dry: bool = False,
    ) -> None:
        super().__init__(daemon=True, name="killer")
        self.dry = dry
        self.fleet, self.kills, self.every = fleet, kills, every
        self.done = 0
        self.on_kill = on_kill  # told the number of each kill (1, 2, ...) after it
        self.halt = threading.Event()
        self._rng = random.Random(seed)

    def run(self) -> None:
        while self.done < self.kills and not self.halt.wait(self._rng.uniform(*self.every)):
            self.fleet.revive()
            victim = self._rng.randrange(self.fleet.size)
            if not self.dry:
                self.fleet.kill(victim)
            self.done += 1
            if self.on_kill is not None:
                self.on_kill(self.done)
