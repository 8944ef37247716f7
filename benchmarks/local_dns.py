"""An empty DNS server on 127.0.0.1 for a benchmark and the processes it starts.

Every fetch authenticates its mail's senders through DNS. A benchmark must neither ask the
machine's resolver (a target off this machine) nor time its answers: ``use_empty_dns()`` starts
the tests' DNS server with no records (every name: no such domain, answered at once) and puts it
in ``INVOICE_INBOX_DNS_SERVER`` for this process and every process it starts.
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from harness.dns_server import DnsServer

_server: DnsServer | None = None


def use_empty_dns() -> DnsServer:
    """Start the empty DNS server once per process and point ``INVOICE_INBOX_DNS_SERVER`` at it."""
    global _server
    if _server is None:
        _server = DnsServer().start()
        atexit.register(_server.stop)
        os.environ["INVOICE_INBOX_DNS_SERVER"] = _server.address
    return _server
