"""A private Postfix started by the tests: an MTA that relays mail to the import address.

Its configuration directory, queue and log are in one temporary folder; it listens on one free
port of 127.0.0.1 only and delivers nothing locally and nothing to the outside: each domain of
``routes`` goes to ``[127.0.0.1]:port`` (the import domain to our receiver, a sender's domain to
a sink that collects the bounces), every other recipient is refused. No DNS is asked
(``smtp_dns_support_level = disabled``, ``inet_protocols = ipv4``), no system mail is touched
(the package's own /etc/postfix is not read), and a deferred mail waits for :meth:`flush`
(``postqueue -f``) rather than a retry timer, so the tests decide when the sender retries.

    with PostfixRelay({"invoices.test": receiver.port}) as mta:
        qid = mta.swaks("--from", "a@b.test", "--to", "ap@invoices.test", "--body", "hi")
        mta.wait(qid, "sent")

Postfix's master must run as root (as in CI); :func:`unavailable` says why it cannot run here.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from harness.dovecot import free_ports

HOST = "127.0.0.1"
POSTFIX = "/usr/sbin/postfix"
POSTQUEUE = "/usr/sbin/postqueue"
MYHOSTNAME = "relay.postfix.test"  # not our receiver's name: Postfix refuses to loop to itself
_QUEUED = re.compile(rb"queued as ([0-9A-F]{6,})")

_MASTER = """\
{host}:{port} inet n - n - - smtpd
pickup    unix n - n 60    1 pickup
cleanup   unix n - n -     0 cleanup
qmgr      unix n - n 300   1 qmgr
rewrite   unix - - n -     - trivial-rewrite
bounce    unix - - n -     0 bounce
defer     unix - - n -     0 bounce
trace     unix - - n -     0 bounce
verify    unix - - n -     1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n -     - proxymap
smtp      unix - - n -     - smtp
relay     unix - - n -     - smtp
showq     unix n - n -     - showq
error     unix - - n -     - error
retry     unix - - n -     - error
discard   unix - - n -     - discard
anvil     unix - - n -     1 anvil
scache    unix - - n -     1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def unavailable() -> str | None:
    """Why a private Postfix cannot run here (None: it can)."""
    missing = [p for p in (POSTFIX, POSTQUEUE) if not os.access(p, os.X_OK)]
    if missing or shutil.which("swaks") is None:
        return (
            "postfix or swaks not found; install them with scripts/system-deps.sh test "
            "(apt-get install --no-install-recommends postfix swaks)"
        )
    if os.geteuid() != 0:
        return "Postfix's master process must start as root"
    return None


def need_postfix() -> None:
    """Skip the test when Postfix cannot run here; under CI, fail it instead."""
    import pytest

    why = unavailable()
    if why is None:
        return
    # as conftest.running_under_ci (not importable here: each test folder has a conftest)
    if os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no", "off"}:
        pytest.fail(f"{why} (CI is set, so this is an error, not a skip)", pytrace=False)
    pytest.skip(why)


class PostfixRelay:
    """One private Postfix relaying each domain of *routes* to ``[127.0.0.1]:port``."""

    def __init__(self, routes: Mapping[str, int], *, message_size_limit: int = 50 << 20) -> None:
        self.routes = dict(routes)
        self.message_size_limit = message_size_limit
        self.port = 0
        self.base = Path()
        self._started = False

    @property
    def config(self) -> Path:
        return self.base / "etc"

    @property
    def maillog(self) -> Path:
        return self.base / "maillog"

    def __enter__(self) -> PostfixRelay:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        # Not under pytest's basetemp (0700): Postfix's daemons run as the postfix user.
        self.base = Path(tempfile.mkdtemp(prefix="invoice-inbox-postfix-"))
        self.base.chmod(0o755)
        for sub in ("etc", "spool", "lib"):
            (self.base / sub).mkdir(mode=0o755)
        shutil.chown(self.base / "lib", "postfix")
        atexit.register(self.stop)  # the master is a daemon: it would outlive the tests
        for attempt in range(3):  # a picked port may be taken by someone else meanwhile
            [self.port] = free_ports(1)
            self.config.joinpath("main.cf").write_text(self._main_cf())
            master = _MASTER.format(host=HOST, port=self.port)
            self.config.joinpath("master.cf").write_text(master)
            try:
                self._postfix("start")
            except RuntimeError as exc:
                if "Address already in use" in str(exc) and attempt < 2:
                    continue
                self.stop()
                raise
            self._started = True
            self._wait_listening()
            return

    def stop(self) -> None:
        """Stop the master and its children, then remove the folder. Idempotent."""
        atexit.unregister(self.stop)
        if self._started:
            self._started = False
            pid = self._master_pid()
            subprocess.run([POSTFIX, "-c", str(self.config), "stop"], capture_output=True)
            if pid is not None:
                self._wait_gone(pid)
        if self.base != Path() and self.base.exists():
            shutil.rmtree(self.base, ignore_errors=True)

    def _main_cf(self) -> str:
        routes = ", ".join(f"{d}=smtp:[{HOST}]:{p}" for d, p in self.routes.items())
        settings = {
            "compatibility_level": "3.6",
            "queue_directory": self.base / "spool",
            "data_directory": self.base / "lib",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": MYHOSTNAME,
            "mydomain": "postfix.test",
            "myorigin": "$myhostname",
            "mydestination": "",
            "inet_interfaces": HOST,
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "relay_domains": ", ".join(self.routes),
            "transport_maps": f"inline:{{ {routes} }}",
            "default_transport": "error:this test relay delivers nothing outside",
            "local_transport": "error:this test relay delivers nothing locally",
            "alias_maps": "",
            "alias_database": "",
            "smtp_dns_support_level": "disabled",
            "smtp_host_lookup": "native",
            "smtpd_peername_lookup": "no",
            "smtputf8_enable": "yes",
            "message_size_limit": self.message_size_limit,
            "mailbox_size_limit": 0,
            "maillog_file": self.maillog,
            "maillog_file_prefixes": self.base,
            # a deferred mail is retried when the test flushes the queue, not on a timer
            "queue_run_delay": "3600s",
            "minimal_backoff_time": "3600s",
            "maximal_backoff_time": "3600s",
            "smtp_tls_security_level": "none",
            "smtpd_tls_security_level": "none",
            "biff": "no",
        }
        return "".join(f"{k} = {v}\n" for k, v in settings.items())

    def _postfix(self, command: str) -> None:
        done = subprocess.run(
            [POSTFIX, "-c", str(self.config), command], capture_output=True, text=True
        )
        if done.returncode != 0:
            log = self.maillog.read_text() if self.maillog.exists() else ""
            raise RuntimeError(f"postfix {command} failed: {done.stderr}{log}")

    def _master_pid(self) -> int | None:
        try:
            return int((self.base / "spool/pid/master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _wait_listening(self, timeout: float = 10.0) -> None:
        import socket

        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"Postfix did not listen on {HOST}:{self.port}") from None
                time.sleep(0.05)

    @staticmethod
    def _wait_gone(pid: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)  # our own master, by its pid file

    # -- sending and watching ----------------------------------------------------------------

    def swaks(self, *args: str, server: int | None = None, input: bytes | None = None) -> str:
        """Run swaks against this Postfix (or ``127.0.0.1:server``); the queue id Postfix
        answered with. Raises with swaks's transcript unless the mail was accepted."""
        done = swaks("--server", f"{HOST}:{server or self.port}", *args, input=input)
        found = _QUEUED.search(done.stdout)
        if done.returncode != 0 or found is None:
            raise AssertionError(f"swaks failed ({done.returncode}): {done.stdout[-3000:]!r}")
        return found[1].decode()

    def log(self, queue_id: str | None = None) -> list[str]:
        """Postfix's log lines (of one queue id)."""
        if not self.maillog.exists():
            return []
        lines = self.maillog.read_text(errors="replace").splitlines()
        return [line for line in lines if queue_id is None or f" {queue_id}: " in line]

    def statuses(self, queue_id: str) -> list[str]:
        """The delivery attempts of *queue_id*: each ``status=...`` with the reply, in order."""
        return [line.split(" status=", 1)[1] for line in self.log(queue_id) if " status=" in line]

    def wait(self, queue_id: str, status: str, count: int = 1, timeout: float = 120.0) -> str:
        """Wait until *queue_id* has *count* attempts that ended with *status* (``sent``,
        ``deferred``, ``bounced``); the last of them. Fails with the log otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            found = [s for s in self.statuses(queue_id) if s.startswith(status)]
            if len(found) >= count:
                return found[count - 1]
            if time.monotonic() > deadline:
                raise AssertionError(f"{queue_id} not {status} x{count}: {self.log(queue_id)}")
            time.sleep(0.05)

    def wait_removed(self, queue_id: str, timeout: float = 120.0) -> None:
        """Wait until Postfix removed *queue_id* from its queue (delivered or bounced)."""
        deadline = time.monotonic() + timeout
        while not any(line.endswith(f"{queue_id}: removed") for line in self.log(queue_id)):
            if time.monotonic() > deadline:
                raise AssertionError(f"{queue_id} still queued: {self.log(queue_id)}")
            time.sleep(0.05)

    def queue(self) -> list[str]:
        """The queue ids still in Postfix's queue."""
        done = subprocess.run(
            [POSTQUEUE, "-c", str(self.config), "-j"], capture_output=True, text=True, check=True
        )
        return re.findall(r'"queue_id": "([0-9A-F]+)"', done.stdout)

    def flush(self) -> None:
        """``postqueue -f``: retry every deferred mail now (the sender retries)."""
        subprocess.run([POSTQUEUE, "-c", str(self.config), "-f"], capture_output=True, check=True)


def swaks(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run swaks (no DNS: give ``--server``) and keep its transcript."""
    return subprocess.run(
        ["swaks", "--timeout", "600", *args], input=input, capture_output=True, timeout=900
    )
