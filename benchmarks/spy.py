"""py-spy on a running worker: record its threads' stacks during a benchmark and say where the
time went (used by ``sweep.py --py-spy``). py-spy is not a project dependency: pass its path."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path


def record(
    py_spy: str, pid: int, out_dir: str, name: str, *, wall: bool = True
) -> tuple[subprocess.Popen[bytes], Path]:
    """``py-spy record`` on *pid* until :func:`stop`: every thread's stack, also waiting
    ones (*wall*), or only the threads running on a CPU (``wall=False``)."""
    out = Path(out_dir) / f"{name}-{'wall' if wall else 'cpu'}.collapsed"
    argv = [py_spy, "record", "--pid", str(pid), "--rate", "100", "--threads",
            "--format", "raw", "--output", str(out), "--nonblocking"]  # fmt: skip
    if wall:
        argv.append("--idle")
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc, out


def stop(proc: subprocess.Popen[bytes], out: Path, top: int = 25) -> list[str]:
    """Stop the recording; its summary (wall: the busy sync threads; cpu: every thread)."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
    if not out.exists():
        return [f"no profile written to {out}"]
    return top_frames(out, top, busy="_WorkItem.run" if "-wall" in out.name else "")


def top_frames(collapsed: Path, top: int = 25, busy: str = "_WorkItem.run") -> list[str]:
    """From py-spy's collapsed stacks (``thread;frame;frame… count``), the samples with a frame
    *busy* on the stack (e.g. threads busy with a job; "" for all): the share of each
    invoice_inbox function (inclusive) and of each leaf function (where the thread was)."""
    inclusive: dict[str, int] = {}
    leaves: dict[str, int] = {}
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if not any(busy in f for f in frames):
            continue
        n = int(count)
        total += n
        leaves[frames[-1]] = leaves.get(frames[-1], 0) + n
        for f in set(frames):
            if "invoice_inbox/" in f:
                inclusive[f] = inclusive.get(f, 0) + n
    what = f"threads in {busy}" if busy else "threads on a CPU"
    lines = [f"{total} samples of {what}; inclusive, invoice_inbox functions:"]
    for f, n in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"{100 * n / max(total, 1):5.1f} %  {f}")
    lines.append("leaf functions (running or waiting there):")
    for f, n in sorted(leaves.items(), key=lambda kv: -kv[1])[: top // 2]:
        lines.append(f"{100 * n / max(total, 1):5.1f} %  {f}")
    return lines
