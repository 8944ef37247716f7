"""A guard for tests that must never send traffic beyond this machine: while it is on, every
socket connect of this process to an address outside 127.0.0.0/8 and ::1 is recorded and
refused before it happens (a ``socket.connect`` audit hook, which sees every connect)."""

from __future__ import annotations

import ipaddress
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_lock = threading.Lock()
_guards: list[list[tuple[str, int]]] = []
_installed = False


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event != "socket.connect" or not _guards:
        return
    address = args[1]
    if not isinstance(address, tuple):  # a Unix socket
        return
    host = str(address[0]).split("%")[0]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    if ip is not None and (ip.is_loopback or (mapped is not None and mapped.is_loopback)):
        return
    with _lock:
        for attempts in _guards:
            attempts.append((host, int(address[1])))
    raise ConnectionRefusedError(111, f"the test guard refused a connect to {host}")


@contextmanager
def loopback_only() -> Iterator[list[tuple[str, int]]]:
    """Yields the list of refused connect attempts (host, port) made while it is on."""
    global _installed
    with _lock:
        if not _installed:
            sys.addaudithook(_hook)
            _installed = True
        attempts: list[tuple[str, int]] = []
        _guards.append(attempts)
    try:
        yield attempts
    finally:
        with _lock:
            _guards.remove(attempts)
