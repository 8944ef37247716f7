"""A private, throw-away Courier-IMAP 5.0 / Courier-POP 1.0 (IMAP, IMAPS, POP3) on 127.0.0.1.

Debian 12's packages unpacked by ``scripts/test-servers.sh`` (see :mod:`harness.mail_server`).
Courier's binaries have compiled-in paths (/etc/courier, /usr/lib/courier, /run/courier), so the
servers run inside ``unshare --mount`` where overlay mounts add the unpacked files to /usr, and
/etc and /run get writable layers under ``base_dir``: nothing outside it is written. Users are
in a userdb (crypt passwords) made before start; each has a Maildir under ``base_dir/home``.

Debian's defaults: NAMESPACE ``(("INBOX." "."))``, no MOVE (the connector's COPY + STORE
\\Deleted + UID EXPUNGE path), and ``IMAP_ENHANCEDIDLE=0`` (IDLE does not push new mail; the
server notices it only on a client's command). ``enhanced_idle=True`` turns it on (with gamin).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
from pathlib import Path

from harness.mail_server import MailServer

RUN_USER = "mail"

NAMESPACE_SCRIPT = Path(__file__).with_name("courier-namespace.sh")


class CourierServer(MailServer):
    kind = "courier"

    def __init__(
        self, base_dir: Path, users: dict[str, str] | None = None, *, enhanced_idle: bool = False
    ) -> None:
        super().__init__(base_dir, users)
        self.enhanced_idle = enhanced_idle

    def _command(self) -> list[str]:
        return [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "/bin/bash",
            str(NAMESPACE_SCRIPT),
        ]

    def _stop_daemons(self) -> bool:
        """couriertcpd makes itself a process group leader: TERM each group (it and the
        imapd/pop3d it started), then the namespace's shell reaps them and exits."""
        pid_file = self.base_dir / "daemons.pid"
        if not pid_file.exists():
            return False
        for pid in (int(p) for p in pid_file.read_text().split()):
            with contextlib.suppress(ProcessLookupError):
                if os.getpgid(pid) == pid:
                    os.killpg(pid, signal.SIGTERM)
                else:
                    os.kill(pid, signal.SIGTERM)
        pid_file.unlink()
        return True

    def _env(self) -> dict[str, str]:
        return {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "ROOT": str(self.root / "courier-root"),
            "INST": str(self.base_dir),
            "IMAP_PORT": str(self.imap_port),
            "IMAPS_PORT": str(self.imaps_port),
            "POP_PORT": str(self.pop3_port),
            "ENHANCEDIDLE": "1" if self.enhanced_idle else "0",
        }

    def _configure(self) -> None:
        b = self.base_dir
        for sub in ("etc-up", "etc-work", "run-up", "run-work", "home"):
            shutil.rmtree(b / sub, ignore_errors=True)
        (b / "daemons.pid").unlink(missing_ok=True)
        (b / "etc-up/courier").mkdir(parents=True)
        for sub in ("etc-work", "run-up", "run-work", "home"):
            (b / sub).mkdir()
        entry = pwd.getpwnam(RUN_USER)
        uid, gid = entry.pw_uid, entry.pw_gid
        pem = b / "etc-up/courier/imapd.pem"
        pem.write_bytes(self.key_file.read_bytes() + self.ca_file.read_bytes())
        pem.chmod(0o600)
        os.chown(pem, uid, gid)  # couriertls reads it after switching users
        (b / "etc-up/courier/authdaemonrc").write_text(
            'authmodulelist="authuserdb"\ndaemons=2\nauthdaemonvar=/run/courier/authdaemon\n'
            'DEBUG_LOGIN=0\nDEFAULTOPTIONS=""\nLOGGEROPTS=""\n'
        )
        names = list(self.users)
        hashes = subprocess.run(
            ["openssl", "passwd", "-1", *(self.users[n] for n in names)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        lines = []
        for name, hashed in zip(names, hashes, strict=True):
            home = b / "home" / name
            for sub in ("cur", "new", "tmp"):
                (home / "Maildir" / sub).mkdir(parents=True)
            for path in [home, *home.rglob("*")]:
                os.chown(path, uid, gid)
            lines.append(
                f"{name}\tuid={uid}|gid={gid}|home={home}|mail={home}/Maildir|systempw={hashed}\n"
            )
        userdb = b / "etc-up/courier/userdb"
        userdb.write_text("".join(lines))
        userdb.chmod(0o600)
