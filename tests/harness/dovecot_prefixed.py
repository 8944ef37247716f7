"""A Dovecot that names folders as Courier and Cyrus do by default (Debian): the personal
namespace ``INBOX.`` with ``.`` as the hierarchy delimiter, so NAMESPACE answers
``(("INBOX." "."))`` and personal folders are ``INBOX.Invoices``. Its harness methods (append,
list_folders...) take and give the server's names."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.dovecot import DovecotServer, find_dovecot

DEFAULT_NAMESPACE = "namespace inbox {\n  inbox = yes\n  separator = /\n"
PREFIXED_NAMESPACE = "namespace inbox {\n  inbox = yes\n  separator = .\n  prefix = INBOX.\n"


DOTTED_NAMESPACE = "namespace inbox {\n  inbox = yes\n  separator = .\n"


class PrefixedDovecot(DovecotServer):
    """:class:`DovecotServer` with the personal namespace ``INBOX.`` and delimiter ``.``."""

    namespace = PREFIXED_NAMESPACE

    def render_config(self) -> str:
        text = super().render_config()
        if DEFAULT_NAMESPACE not in text:
            raise RuntimeError("the Dovecot harness's namespace block changed; update this")
        return text.replace(DEFAULT_NAMESPACE, self.namespace)


class DottedDovecot(PrefixedDovecot):
    """Dovecot's ``""`` namespace with ``.`` as the delimiter (what maildir++ setups use)."""

    namespace = DOTTED_NAMESPACE


class DottedDovecotWithoutNamespace(DottedDovecot):
    """:class:`DottedDovecot` that does not offer NAMESPACE (RFC 2342): clients learn the
    delimiter from ``LIST "" ""``."""

    def render_config(self) -> str:
        caps = "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE UIDPLUS MOVE CHILDREN SPECIAL-USE"
        return super().render_config() + f"protocol imap {{\n  imap_capability = {caps}\n}}\n"


@contextlib.contextmanager
def started_prefixed_dovecot(
    kind: type[PrefixedDovecot] = PrefixedDovecot,
) -> Iterator[PrefixedDovecot]:
    """A started :class:`PrefixedDovecot` for a module's fixture, in a fresh 0755 folder of the
    system's temp folder (as the ``dovecot`` fixture's, for the same reasons); skipped without a
    ``dovecot`` binary unless ``CI`` is set."""
    if find_dovecot() is None:
        message = "dovecot binary not found"
        if os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no", "off"}:
            pytest.fail(f"{message} (CI is set, so this is an error)", pytrace=False)
        pytest.skip(message)
    base = Path(tempfile.mkdtemp(prefix="invoice-inbox-dovecot-prefixed-"))
    base.chmod(0o755)
    server = kind(base, {}, pool_size=10)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
