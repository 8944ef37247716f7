"""Where ``invoice-inbox fetch`` spends its CPU: run it under cProfile with a per-thread CPU clock
and group the time by what the code does.

As a script (``python ingest_profile.py OUT -- <invoice_inbox arguments>``) it runs the CLI in
this process with one ``cProfile.Profile(time.thread_time)`` per thread (the main thread and
every ``threading.Thread``, the sync and sender-check pools included), so each profile counts its
own thread's CPU, not the wall time or the other threads' work, and writes the merged stats to
OUT. The decide workers (child interpreters) profile themselves the same way through
``ingest_site/sitecustomize.py`` into ``OUT.workers/``. Every run, profiled or not
(``--no-profile``), writes ``OUT.json``: the CPU of the process itself and of its children.
``split(OUT)`` then sums every function's own time (``tottime``) into categories by module:

- parse: the ``email`` package, ``binascii`` and ``invoice_inbox/pipeline/mime*``;
- decide: the rest of ``invoice_inbox/pipeline`` (rules, senders, trust checks, sniffing) and
  the libraries it calls for that (pypdf, dkimpy, dnspython, publicsuffixlist, idna);
- hash: ``hashlib``; blob writes: ``invoice_inbox/store/blob*`` and file system calls;
- database: SQLAlchemy, psycopg and the rest of ``invoice_inbox/store`` (with ``commit``);
- IMAP: imapclient, imaplib, ssl, socket and ``invoice_inbox/connectors`` (download and move;
  ``move`` is also given alone, inclusive, from ``ImapConnector.move``);
- start-up (imports, compiling, the public suffix list), other product code, other;
- a built-in function (``isinstance``, ``bytes.find``, ...) counts for its callers' categories.

cProfile slows pure-Python code more than C code, so the shares are approximate; ``ingest.py``
scales them to the CPU time of the unprofiled run (the process's own shares to its own CPU, the
workers' shares to the workers' CPU).
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import resource
import runpy
import sys
import threading
import time
from pathlib import Path

SITE = Path(__file__).resolve().parent / "ingest_site"

CATEGORIES = (
    "parse (MIME)",
    "decide",
    "hash",
    "blob writes",
    "database (incl. commit)",
    "IMAP (download + move)",
    "start-up (imports)",
    "other product code",
    "other",
)

_FS_CALLS = ("posix.write", "posix.fsync", "posix.fdatasync", "posix.open", "posix.close",
             "posix.rename", "posix.replace", "posix.link", "posix.mkdir", "posix.unlink",
             "posix.stat", "_io.FileIO", "_io.BufferedWriter", "posix.sync")  # fmt: skip


_STARTUP = ("<frozen", "importlib", "marshal", "builtins.compile", "builtins.exec",
            "__build_class__", "/typing.py", "/re/_", "/enum.py", "/dataclasses.py",
            "publicsuffixlist/__init__.py:_parse", "pydantic", "typing_extensions", "/inspect.py",
            "pygments")  # fmt: skip
_DECIDE_LIBS = ("/pypdf/", "publicsuffixlist", "idna", "punycode", "stringprep", "/dkim/",
                "/dns/", "authres", "checkdmarc", "spf")  # fmt: skip


def category(filename: str, name: str) -> str:
    where = f"{filename}:{name}".replace("\\", "/")
    if "invoice_inbox/pipeline/mime" in where or "/email/" in where or "binascii" in where:
        return "parse (MIME)"
    if "_hashlib" in where or "hashlib.py" in where or "_blake2" in where:
        return "hash"
    if "invoice_inbox/store/blob" in where or any(c in where for c in _FS_CALLS):
        return "blob writes"
    if "sqlalchemy" in where or "psycopg" in where or "invoice_inbox/store/" in where:
        return "database (incl. commit)"
    if any(m in where for m in ("imapclient", "imaplib", "/ssl.py", "_ssl.", "socket", "select.")):
        return "IMAP (download + move)"
    if "invoice_inbox/connectors/" in where:
        return "IMAP (download + move)"
    if any(m in where for m in _STARTUP):
        return "start-up (imports)"
    if "invoice_inbox/pipeline/" in where or any(m in where for m in _DECIDE_LIBS):
        return "decide"
    if "invoice_inbox/" in where:
        return "other product code"
    return "other"


def _attribute(stats: dict, func: tuple, tottime: float, out: dict[str, float]) -> None:
    """A built-in (``isinstance``, ``bytes.find``) goes to its callers' categories, in
    proportion to the time spent in it from each caller; other code to its own module's."""
    filename, _line, name = func
    own = category(filename, name)
    callers = stats[func][4]
    if filename != "~" or own != "other" or not callers:
        out[own] += tottime
        return
    spent = sum(v[2] for v in callers.values()) or 1.0
    for (cfile, _cline, cname), v in callers.items():
        out[category(cfile, cname)] += tottime * v[2] / spent


def split(path: str) -> dict[str, float]:
    """Seconds of own CPU time per category, plus ``move`` and ``commit`` (inclusive)."""
    stats = pstats.Stats(path)
    out = dict.fromkeys(CATEGORIES, 0.0)
    move = commit = 0.0
    for func, (_cc, _nc, tottime, cumtime, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        _attribute(stats.stats, func, tottime, out)  # type: ignore[attr-defined]
        filename, _line, name = func
        if filename.endswith("connectors/imap.py") and name == "move":
            move += cumtime
        if "sqlalchemy" in filename and filename.endswith("session.py") and name == "commit":
            commit = max(commit, cumtime)
    out["of which move (inclusive)"] = move
    out["of which Session.commit (inclusive)"] = commit
    return out


def worker_split(path: str) -> dict[str, float]:
    """The same for the decide workers' profiles (``PATH.workers/*.prof``), merged."""
    files = sorted(str(p) for p in Path(f"{path}.workers").glob("*.prof"))
    if not files:
        return {}
    merged = pstats.Stats(files[0])
    for f in files[1:]:
        merged.add(f)
    merged.dump_stats(f"{path}.workers.prof")
    out = split(f"{path}.workers.prof")
    out["profiled workers"] = float(len(files))
    return out


def rusage(path: str) -> dict[str, float]:
    """CPU seconds of the fetch process itself and of its children reaped before the CLI
    returned (workers still idle then are stopped at the interpreter's exit, later)."""
    return json.loads(Path(f"{path}.json").read_text())


def _profile_threads(profiles: list[cProfile.Profile]) -> None:
    original = threading.Thread.run

    def run(self: threading.Thread) -> None:
        prof = cProfile.Profile(time.thread_time)
        profiles.append(prof)
        prof.enable()
        try:
            original(self)
        finally:
            prof.disable()

    threading.Thread.run = run  # type: ignore[method-assign]


def _rusage_file(out: str) -> None:
    me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    figures = {
        "self_cpu": me.ru_utime + me.ru_stime,
        "self_system": me.ru_stime,
        "children_cpu": kids.ru_utime + kids.ru_stime,
        "children_system": kids.ru_stime,
    }
    Path(f"{out}.json").write_text(json.dumps(figures))


def main(argv: list[str]) -> int:
    profile = argv[:1] != ["--no-profile"]
    out, sep, *args = argv if profile else argv[1:]
    if sep != "--":
        raise SystemExit("usage: ingest_profile.py [--no-profile] OUT -- <invoice_inbox args>")
    profiles: list[cProfile.Profile] = []
    main_prof = cProfile.Profile(time.thread_time)
    if profile:
        _profile_threads(profiles)
        workers = Path(f"{out}.workers")
        workers.mkdir(exist_ok=True)
        os.environ["INGEST_PROFILE_DIR"] = str(workers)  # ingest_site/sitecustomize.py
    sys.argv = ["invoice_inbox", *args]
    code = 0
    if profile:
        main_prof.enable()
    try:
        runpy.run_module("invoice_inbox", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        main_prof.disable()
        sys.stdout.flush()
    if profile:
        stats = pstats.Stats(main_prof)
        for prof in profiles:
            stats.add(prof)
        stats.dump_stats(out)
    _rusage_file(out)  # after the exit: the workers have been stopped and reaped
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
