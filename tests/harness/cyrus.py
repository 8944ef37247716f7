"""A private, throw-away Cyrus IMAP 3.6 (IMAP, IMAPS, POP3) on 127.0.0.1 for the tests.

Debian 12's packages unpacked by ``scripts/test-servers.sh`` (see :mod:`harness.mail_server`);
everything else lives under ``base_dir``: imapd.conf, cyrus.conf, the spool, a private sasldb
with the users, the certificate and the log. ``master`` runs in the foreground as a child of
the test process (as root; its services switch to the ``mail`` user).

Debian's defaults unless asked otherwise: ``altnamespace: no`` and ``unixhierarchysep: no``
(NAMESPACE ``(("INBOX." "."))``), no ``idled`` (IDLE then does not push new mail), and
``popminpoll: 1`` (a second POP3 login within a minute is answered ``[LOGIN-DELAY]``).
``altns=True`` gives the upstream variant that hosted services run: ``(("" "/"))``.

    with CyrusServer(base_dir) as srv:
        user, password = srv.new_user()
        srv.append(user, srv.folder("Invoices/2026"), raw_mail)
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from pathlib import Path

from harness.mail_server import MailServer

RUN_USER = "mail"


class CyrusServer(MailServer):
    kind = "cyrus"

    def __init__(
        self,
        base_dir: Path,
        users: dict[str, str] | None = None,
        *,
        altns: bool = False,
        idled: bool = False,
        popminpoll: int = 1,
    ) -> None:
        super().__init__(base_dir, users)
        self.altns, self.idled, self.popminpoll = altns, idled, popminpoll
        if altns:
            self.personal_prefix, self.delimiter = "", "/"

    @property
    def _bin(self) -> Path:
        return self.root / "cyrus-root/usr/lib/cyrus/bin"

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "LD_LIBRARY_PATH": str(self.root / "cyrus-root/usr/lib/x86_64-linux-gnu"),
        }

    def _command(self) -> list[str]:
        b = self.base_dir
        return [str(self._bin / "master"), "-C", f"{b}/imapd.conf", "-M", f"{b}/cyrus.conf",
                "-p", f"{b}/master.pid", "-D"]  # fmt: skip

    def _configure(self) -> None:
        b = self.base_dir
        conf = b / "conf"
        shutil.rmtree(conf, ignore_errors=True)
        shutil.rmtree(b / "spool", ignore_errors=True)
        for sub in ("db", "proc", "socket", "lock", "log", "msg", "user", "quota", "sieve"):
            (conf / sub).mkdir(parents=True)
        (b / "spool").mkdir()
        (b / "sieve").mkdir(exist_ok=True)
        yes_no = "yes" if self.altns else "no"
        (b / "imapd.conf").write_text(
            f"""\
configdirectory: {conf}
defaultpartition: default
partition-default: {b}/spool
sievedir: {b}/sieve
proc_path: {conf}/proc
mboxname_lockpath: {conf}/lock
lmtpsocket: {conf}/socket/lmtp
idlesocket: {conf}/socket/idle
notifysocket: {conf}/socket/notify
cyrus_user: {RUN_USER}
admins: cyrusadm
altnamespace: {yes_no}
unixhierarchysep: {yes_no}
autocreate_quota: 0
allowplaintext: yes
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: {b}/sasldb2
sasl_mech_list: PLAIN LOGIN
tls_server_cert: {self.ca_file}
tls_server_key: {self.key_file}
popminpoll: {self.popminpoll}
syslog_prefix: cyrus-test-{self.imap_port}
"""
        )
        conf_arg = f"-C {b}/imapd.conf"
        limits = "prefork=0 maxchild=30"
        daemon = f'  idled cmd="{self._bin}/idled {conf_arg}"\n' if self.idled else ""
        (b / "cyrus.conf").write_text(
            f"""\
START {{
  recover cmd="{self._bin}/ctl_cyrusdb {conf_arg} -r"
}}
SERVICES {{
  imap cmd="{self._bin}/imapd {conf_arg}" listen="127.0.0.1:{self.imap_port}" {limits}
  imaps cmd="{self._bin}/imapd {conf_arg} -s" listen="127.0.0.1:{self.imaps_port}" {limits}
  pop3 cmd="{self._bin}/pop3d {conf_arg}" listen="127.0.0.1:{self.pop3_port}" {limits}
}}
EVENTS {{
  checkpoint cmd="{self._bin}/ctl_cyrusdb {conf_arg} -c" period=30
}}
DAEMON {{
{daemon}}}
"""
        )
        saslpasswd = self.root / "cyrus-root/usr/sbin/saslpasswd2"
        realm = socket.gethostname()
        for name, password in {"cyrusadm": "adminpw", **self.users}.items():
            subprocess.run(
                [str(saslpasswd), "-p", "-c", "-f", str(b / "sasldb2"), "-u", realm, name],
                input=password.encode(),
                env=self._env(),
                check=True,
                capture_output=True,
            )
        uid, gid = pwd.getpwnam(RUN_USER).pw_uid, pwd.getpwnam(RUN_USER).pw_gid
        for path in [b, *b.rglob("*")]:
            os.chown(path, uid, gid)
        self.key_file.chmod(0o600)
