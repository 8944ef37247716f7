"""The other clients ``ingest.py`` measures next to ``invoice-inbox fetch`` on the same mailbox,
each in its own process so that its wall time, CPU and peak RSS are exactly its own:

- ``raw``: plain ``imaplib``, SELECT INBOX read-only, ``UID FETCH`` of 100 uids with
  ``BODY.PEEK[]`` (the physical limit of a download);
- ``imap-tools``: ``MailBox.fetch(mark_seen=False, bulk=100)`` and every attachment's payload
  (download + parse, what paperless-ngx does), from a throw-away venv under
  ``benchmarks/.cache/imaptools-venv`` created with ``pip`` on first use and then reused;
- ``mbsync`` (Debian's ``isync``): copy INBOX to a fresh Maildir, default ``FSync yes``;
  ``apt-get install isync`` when missing (needs root).

None of them moves or flags mail, so they can share one mailbox. Run as a script, this file is
the child of the two Python clients (``raw`` / ``imaptools``); it then imports only the standard
library (and ``imap_tools`` in its venv) and prints its figures as JSON.
"""

from __future__ import annotations

import contextlib
import imaplib
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve()
CACHE_DIR = HERE.parent / ".cache"
IMAPTOOLS_VENV = CACHE_DIR / "imaptools-venv"
BATCH = 100


@dataclass
class ChildRun:
    returncode: int
    seconds: float
    max_rss_mb: float
    cpu_user: float
    cpu_sys: float
    stdout: str
    stderr: str

    @property
    def cpu(self) -> float:
        return self.cpu_user + self.cpu_sys


def _vm_hwm_mb(pid: int) -> float:
    """The process's own peak RSS so far (``VmHWM``; 0 once it has exited)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_child(
    argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> ChildRun:
    """Run one process and measure exactly it: wall time, CPU (``os.wait4``) and peak RSS.

    The peak is ``VmHWM`` of the process's own address space, read every 10 ms until it exits
    (it only grows, so at most the last 10 ms escape): ``wait4``'s ``ru_maxrss`` would also
    count the benchmark's own memory, which the forked child holds until its ``exec``.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env, cwd=cwd
        )
        peak = 0.0
        while True:
            peak = max(peak, _vm_hwm_mb(proc.pid))
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.01)
        seconds = time.perf_counter() - began
        proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped: tell Popen
        out.seek(0)
        err.seek(0)
        return ChildRun(
            returncode=proc.returncode,
            seconds=seconds,
            max_rss_mb=peak or usage.ru_maxrss / 1024,  # KiB on Linux
            cpu_user=usage.ru_utime,
            cpu_sys=usage.ru_stime,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


@dataclass
class PeerRun:
    """One client's figures: ``seconds`` is the transfer itself (inside the process for the
    Python clients, the whole process for mbsync), the rest is the whole process."""

    name: str
    messages: int
    bytes: int
    seconds: float
    process_seconds: float
    cpu_seconds: float
    max_rss_mb: float


@dataclass
class Server:
    host: str
    port: int
    user: str
    password: str
    ca_file: str | None = None  # set: IMAPS, verified against this CA


def _python_client(python: str, mode: str, srv: Server) -> PeerRun:
    argv = [python, str(HERE), mode, srv.host, str(srv.port), srv.user, srv.password]
    if srv.ca_file:
        argv += ["--ca-file", srv.ca_file]
    run = run_child(argv)
    if run.returncode != 0:
        raise RuntimeError(f"{mode} client failed ({run.returncode}): {run.stderr[-2000:]}")
    got = json.loads(run.stdout)
    return PeerRun(
        mode, got["messages"], got["bytes"], got["seconds"], run.seconds, run.cpu, run.max_rss_mb
    )


def raw_client(srv: Server) -> PeerRun:
    return _python_client(sys.executable, "raw", srv)


def imaptools_python(log=print) -> str:  # type: ignore[no-untyped-def]
    """The throw-away venv's python with imap-tools installed (created on first use)."""
    python = IMAPTOOLS_VENV / "bin" / "python"
    probe = [str(python), "-c", "import imap_tools"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return str(python)
    log(f"imap-tools: creating {IMAPTOOLS_VENV} (pip install imap-tools)")
    shutil.rmtree(IMAPTOOLS_VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(IMAPTOOLS_VENV)], check=True)
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "imap-tools"], check=True)
    return str(python)


def imaptools_client(srv: Server, log=print) -> PeerRun:  # type: ignore[no-untyped-def]
    return _python_client(imaptools_python(log), "imaptools", srv)


def mbsync_binary(log=print) -> str:  # type: ignore[no-untyped-def]
    """``mbsync``, installed with ``apt-get install isync`` when missing (needs root)."""
    found = shutil.which("mbsync")
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError("mbsync is missing and only root can install it: apt-get install isync")
    log("mbsync: installing Debian's isync with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "isync"]
    if subprocess.run(install, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=True)
        subprocess.run(install, env=env, capture_output=True, check=True)
    found = shutil.which("mbsync")
    if not found:
        raise RuntimeError("apt-get install isync did not provide mbsync")
    return found


def mbsync_client(srv: Server, workdir: Path, log=print) -> PeerRun:  # type: ignore[no-untyped-def]
    """Copy INBOX into a fresh Maildir under *workdir* with mbsync (``FSync yes``)."""
    binary = mbsync_binary(log)
    local = workdir / "mbsync-maildir"
    shutil.rmtree(local, ignore_errors=True)
    local.mkdir(parents=True)
    if srv.ca_file:  # isync 1.4 checks the certificate's DNS name only, never an IP SAN
        security = f"Host localhost\nSSLType IMAPS\nCertificateFile {srv.ca_file}\n"
    else:
        security = f"Host {srv.host}\nSSLType None\n"
    config = workdir / "mbsyncrc"
    config.write_text(
        f"IMAPAccount bench\n{security}Port {srv.port}\nUser {srv.user}\n"
        f"Pass {srv.password}\nAuthMechs LOGIN\n\n"
        "IMAPStore remote\nAccount bench\n\n"
        f"MaildirStore local\nPath {local}/\nInbox {local}/INBOX\n\n"
        "Channel bench\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Near\n"
        "Sync Pull\nSyncState *\n"
    )
    run = run_child([binary, "-c", str(config), "-q", "bench"])
    if run.returncode != 0:
        raise RuntimeError(f"mbsync failed ({run.returncode}): {run.stderr[-2000:]}")
    count = size = 0
    for sub in ("cur", "new"):
        for entry in os.scandir(local / "INBOX" / sub):
            count += 1
            size += entry.stat().st_size
    shutil.rmtree(local, ignore_errors=True)
    return PeerRun("mbsync", count, size, run.seconds, run.seconds, run.cpu, run.max_rss_mb)


# -- the children (standard library and imap_tools only) -----------------------------------


def _tls(ca_file: str | None) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=ca_file) if ca_file else None


def raw_download(
    host: str, port: int, tls: ssl.SSLContext | None, user: str, password: str
) -> dict[str, float]:
    """Download every INBOX message with plain imaplib, 100 uids per ``UID FETCH``."""
    began = time.perf_counter()
    conn: imaplib.IMAP4
    if tls is not None:
        conn = imaplib.IMAP4_SSL(host, port, ssl_context=tls, timeout=120)
    else:
        conn = imaplib.IMAP4(host, port, timeout=120)
    count = size = 0
    try:
        conn.login(user, password)
        typ, data = conn.select("INBOX", readonly=True)
        if typ != "OK":
            raise RuntimeError(f"SELECT INBOX failed: {data!r}")
        typ, data = conn.uid("SEARCH", "ALL")
        if typ != "OK":
            raise RuntimeError(f"UID SEARCH failed: {data!r}")
        uids = (data[0] or b"").split()
        for i in range(0, len(uids), BATCH):
            chunk = b",".join(uids[i : i + BATCH]).decode()
            typ, data = conn.uid("FETCH", chunk, "(BODY.PEEK[])")
            if typ != "OK":
                raise RuntimeError(f"UID FETCH failed: {data!r}")
            for item in data:
                if isinstance(item, tuple):
                    count += 1
                    size += len(item[1])
    finally:
        with contextlib.suppress(Exception):
            conn.logout()
    return {"messages": count, "bytes": size, "seconds": time.perf_counter() - began}


def _imaptools(host: str, port: int, user: str, password: str, ca_file: str | None) -> dict:
    from imap_tools import MailBox, MailBoxUnencrypted

    began = time.perf_counter()
    tls = _tls(ca_file)
    box = (
        MailBox(host, port, ssl_context=tls) if tls is not None else MailBoxUnencrypted(host, port)
    )
    count = size = attached = 0
    with box.login(user, password, initial_folder="INBOX"):
        for msg in box.fetch(mark_seen=False, bulk=BATCH):
            count += 1
            size += msg.size_rfc822  # RFC822.SIZE as served
            attached += sum(len(a.payload) for a in msg.attachments)
    seconds = time.perf_counter() - began
    return {"messages": count, "bytes": size, "seconds": seconds, "attached": attached}


def _child_main(argv: list[str]) -> int:
    mode, host, port, user, password, *rest = argv
    ca_file = rest[1] if rest[:1] == ["--ca-file"] else None
    if mode == "raw":
        got = raw_download(host, int(port), _tls(ca_file), user, password)
    else:
        got = _imaptools(host, int(port), user, password, ca_file)
    print(json.dumps(got))
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
