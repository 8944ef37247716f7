"""Peak memory of a process tree: a thread polls /proc for the processes under one root and
keeps each one's VmHWM (the kernel's record of its peak RSS), with a role read from its
command line. Polling every 20 ms sees every process that lives that long; a process's VmHWM
is its true peak up to the last poll before it exits.

``tree_cpu_seconds``: the CPU time a long-running process tree (a mail server) has used so far,
its exited processes included; the difference over a client's run is what serving it cost."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Proc:
    pid: int
    role: str
    peak_rss_mb: float


def _ppid(pid: str) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])


def _parents() -> dict[int, int]:
    """Each process's parent, now."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (ppid := _ppid(entry)) is not None:
            parents[int(entry)] = ppid
    return parents


def tree(root: int, parents: dict[int, int] | None = None) -> set[int]:
    """*root* and every process under it (*parents*: each process's parent, read now if None)."""
    if parents is None:
        parents = _parents()
    tree = {root}
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return tree


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU seconds of *root*'s tree: each live process's own, and the exited
    children each one has reaped (a process's ``cutime``/``cstime``; a live child is counted
    once, on its own, as its parent has not reaped it)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # exited meanwhile: its parent has it now, or soon
        total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return total / tick


def _hwm_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _cmdline(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return ""
    return " ".join(a.decode(errors="replace") for a in argv if a)


def _role(pid: int, ppid: int, root: int) -> str:
    text = _cmdline(pid)
    if pid == root:
        return "fetch (main process)"
    if "forkserver" in text:
        # the fork server's children are the workers it forked; their cmdline is its own
        return "decide worker" if "forkserver" in _cmdline(ppid) else "fork server"
    if "invoice_inbox.runtime.worker_process" in text:
        return "decide worker"
    if "resource_tracker" in text:
        return "resource tracker"
    if "multiprocessing" in text:
        return "worker"
    program = Path(text.split(" ", 1)[0]).name if text else "?"
    return f"helper: {program}"  # e.g. gcc/ld run by ctypes.util.find_library for WeasyPrint


class TreeWatch(threading.Thread):
    """Polls /proc for the processes under *root* and keeps each one's VmHWM (peak RSS)."""

    def __init__(self, root: int, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.interval = interval
        self.peaks: dict[int, tuple[str, int]] = {}  # pid -> (role, VmHWM in KiB)
        self._commands: dict[int, str] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.scan()
            self.done.wait(self.interval)

    def scan(self) -> None:
        parents = _parents()
        for pid in tree(self.root, parents):
            hwm = _hwm_kb(pid)
            command = _cmdline(pid)
            if hwm is None:
                continue
            if self._commands.get(pid) != command:
                # new, or it ran exec() since the last poll: a new program, a new peak (a child
                # forked before exec shows its parent's pages until then)
                self._commands[pid] = command
                self.peaks[pid] = (_role(pid, parents.get(pid, 0), self.root), hwm)
            else:
                role, peak = self.peaks[pid]
                self.peaks[pid] = (role, max(hwm, peak))
