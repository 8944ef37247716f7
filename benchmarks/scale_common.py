"""What the scale benchmarks share: a private PostgreSQL, a Dovecot with many users, sources
added straight into the database, ``invoice-inbox worker`` processes, and /proc readings.

Used by ``scale_ingest.py``, ``sweep.py`` and ``watch_scale.py``; everything on 127.0.0.1.

PostgreSQL: the cluster of ``tests/harness/postgres.py`` with fsync and synchronous commit
turned back on, like SQLite's ``synchronous=FULL``, so both databases pay for durable commits.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

import proctree  # noqa: E402

from harness.dovecot import DovecotServer  # noqa: E402
from harness.postgres import PostgresServer, find_postgres_bin  # noqa: E402

HOST = "127.0.0.1"
SECRET = "benchpw"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def tmp_root(prefix: str) -> Path:
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    root.chmod(0o755)  # Dovecot's and PostgreSQL's unprivileged processes traverse it
    return root


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by the nearest-rank method."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


# -- PostgreSQL ---------------------------------------------------------------------------


class Postgres:
    """The harness's private cluster made durable (fsync, synchronous commit, full-page writes
    back on: the harness turns them off for tests) with room for many connections."""

    SETTINGS = (
        "\n# benchmarks/scale_common.py: durable, like SQLite's synchronous=FULL\n"
        "fsync = on\nsynchronous_commit = on\nfull_page_writes = on\nshared_buffers = 256MB\n"
    )

    def __init__(self, base: Path, max_connections: int = 300) -> None:
        self.base = base
        self.max_connections = max_connections
        self.server: PostgresServer | None = None

    @property
    def port(self) -> int:
        return self.server.port if self.server else 0

    def start(self) -> None:
        if find_postgres_bin() is None:
            raise SystemExit("PostgreSQL binaries not found (apt-get install postgresql)")
        self.server = PostgresServer.start(self.base, max_connections=self.max_connections)
        with open(self.server.data_dir / "postgresql.conf", "a") as conf:
            conf.write(self.SETTINGS)
        self.server.restart()

    @property
    def pid(self) -> int:
        assert self.server is not None
        return int((self.server.data_dir / "postmaster.pid").read_text().split()[0])

    def create(self, name: str) -> str:
        assert self.server is not None
        return self.server.create_database(name)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


# -- Dovecot ------------------------------------------------------------------------------


class ManyUsersDovecot(DovecotServer):
    """The harness's Dovecot with limits raised for a thousand connections at once."""

    EXTRA = """
# raised by benchmarks/scale_common.py: a thousand IMAP sessions at once
default_client_limit = 8000
default_process_limit = 3000
# IDLE: a mailbox whose inotify watch could not be had (fs.inotify.max_user_instances is per
# uid, all mail processes run as one) is polled this often instead of every 30 s
mailbox_idle_check_interval = 1 secs
service imap {
  process_limit = 3000
}
# high-performance mode: a few login processes take many connections each, so a thousand
# sessions opening at once are greeted in time
service imap-login {
  service_count = 0
  process_min_avail = 2
  client_limit = 2000
}
service auth {
  client_limit = 8000
}
service anvil {
  client_limit = 8000
}
"""

    def render_config(self) -> str:
        return super().render_config() + self.EXTRA


INOTIFY_INSTANCES = Path("/proc/sys/fs/inotify/max_user_instances")


def inotify_instances() -> int:
    try:
        return int(INOTIFY_INSTANCES.read_text())
    except (OSError, ValueError):
        return 0


def start_dovecot(base: Path, users: Iterable[str]) -> ManyUsersDovecot:
    srv = ManyUsersDovecot(base / "dovecot", users={u: SECRET for u in users}, pool_size=0)
    srv.start()
    return srv


def fill_maildirs(srv: DovecotServer, mails: dict[str, list[Path | bytes]]) -> None:
    """Put mail straight into each user's INBOX (Maildir ``new/``); Dovecot indexes it on the
    first SELECT. A path is copied, bytes are written; all owned by the mail user."""
    uid, gid = srv.mail_uid, srv.mail_gid
    stamp = int(time.time())
    for user, items in mails.items():
        home = srv.mail_dir / user
        md = home / "Maildir"
        for sub in ("cur", "new", "tmp"):
            (md / sub).mkdir(parents=True, exist_ok=True)
        for i, item in enumerate(items):
            name = f"{stamp}.M{i}P{os.getpid()}.{user}"
            target = md / "new" / name
            if isinstance(item, Path):
                shutil.copyfile(item, target)
            else:
                target.write_bytes(item.replace(b"\r\n", b"\n"))
        for dirpath, _dirs, files in os.walk(home):
            os.chown(dirpath, uid, gid)
            for f in files:
                os.chown(os.path.join(dirpath, f), uid, gid)


# -- the product --------------------------------------------------------------------------


def open_app(data_dir: Path, url: str | None):  # type: ignore[no-untyped-def]
    """The product's App on *data_dir* and the database *url* (None: SQLite in data_dir)."""
    set_database(url)
    from invoice_inbox.runtime.context import App

    return App.open(data_dir)


def set_database(url: str | None) -> None:
    if url:
        os.environ["INVOICE_INBOX_DATABASE_URL"] = url
    else:
        os.environ.pop("INVOICE_INBOX_DATABASE_URL", None)


def add_sources(app, users: list[str], port: int, **fields: object) -> None:  # type: ignore[no-untyped-def]
    """One company and one IMAP source per user (named after it), as ``source add`` would."""
    from invoice_inbox.store import sources as sources_store
    from invoice_inbox.store.models import AuthState

    secret = app.secrets.encrypt(SECRET)
    with app.db.session() as s:
        for user in users:
            sources_store.add(
                s, name=user, company_name=f"Company {user}", host=HOST, port=port,
                security="none", username=user, secret=secret, auth_state=AuthState.OK,
                folders=["INBOX"], move_imported_to="Imported",
                move_not_imported_to="Not imported", **fields,
            )  # fmt: skip


_CONCURRENCY_FLAG: str | None = None


def concurrency_flag() -> str:
    """``--concurrency`` when ``invoice-inbox worker`` has it, else the older ``--workers``."""
    global _CONCURRENCY_FLAG
    if _CONCURRENCY_FLAG is None:
        out = subprocess.run(
            [sys.executable, "-m", "invoice_inbox", "worker", "--help"],
            capture_output=True, text=True, env=dict(os.environ, COLUMNS="200"),
        ).stdout  # fmt: skip
        _CONCURRENCY_FLAG = "--concurrency" if "--concurrency" in out else "--workers"
    return _CONCURRENCY_FLAG


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    log_path: Path
    started: float

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def traceback(self) -> str | None:
        """The first traceback in its log (up to 20 lines), if there is one."""
        text = self.log_text()
        at = text.find("Traceback")
        if at < 0:
            return None
        start = text.rfind("\n", 0, at) + 1  # with the log line that announced it
        return "\n".join(text[start:].splitlines()[:20])


def start_worker(data_dir: Path, url: str | None, concurrency: int, log_path: Path) -> Worker:
    env = dict(os.environ)
    env.pop("INVOICE_INBOX_DATABASE_URL", None)
    if url:
        env["INVOICE_INBOX_DATABASE_URL"] = url
    argv = [sys.executable, "-m", "invoice_inbox", "--data-dir", str(data_dir), "worker",
            concurrency_flag(), str(concurrency)]  # fmt: skip
    with log_path.open("ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env)
    return Worker(proc, log_path, time.perf_counter())


def stop_workers(workers: list[Worker], timeout: float = 60.0) -> None:
    for w in workers:
        if w.proc.poll() is None:
            w.proc.send_signal(signal.SIGTERM)
    for w in workers:
        try:
            w.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            w.proc.kill()
            w.proc.wait()


def wait_registered(app, workers: list[Worker], timeout: float, fallback: float) -> None:  # type: ignore[no-untyped-def]
    """Until every worker has its row in the worker registry (it is up and heartbeating); where
    the schema has no registry yet, sleep *fallback* seconds instead."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    pids = ",".join(str(w.pid) for w in workers)
    query = text(f"SELECT count(*) FROM worker WHERE pid IN ({pids}) AND NOT stopping")

    def up() -> bool:
        with app.db.session() as s:
            return int(s.scalar(query) or 0) >= len(workers)

    try:
        up()
    except DBAPIError:
        time.sleep(fallback)
        return
    wait_for("the workers to register", up, timeout, every=0.2, workers=workers)


def wait_for(what: str, check: Callable[[], bool], timeout: float, every: float = 0.5,
             workers: list[Worker] | None = None) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout
    while not check():
        for w in workers or []:
            if w.proc.poll() is not None:
                raise SystemExit(f"a worker exited ({w.proc.returncode}) while waiting for "
                                 f"{what}:\n{w.log_text()[-3000:]}")  # fmt: skip
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


# -- /proc --------------------------------------------------------------------------------


def descendants(root: int) -> list[int]:
    return sorted(proctree.tree(root))


def status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_mb(root: int) -> float:
    return sum(status_kb(p, "VmRSS") for p in descendants(root)) / 1024


def threads(pid: int) -> int:
    return status_kb(pid, "Threads")


def tcp_connections(pid: int, remote_port: int) -> int:
    """Established TCP connections of *pid* to 127.0.0.1:*remote_port*."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    want = f"0100007F:{remote_port:04X}"
    count = 0
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if parts[2] == want and parts[3] == "01" and parts[9] in inodes:
            count += 1
    return count
