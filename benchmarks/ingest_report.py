"""The figures of one ``ingest.py`` run and how they are printed: the summary lines (kept as
before), one table with every client, the ratios fetch / mbsync and fetch / raw, and the split
of the fetch's CPU time per mail."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from ingest_profile import CATEGORIES  # the CPU split's categories

MB = 1024 * 1024


@dataclass
class Row:
    """One client run. ``seconds`` is the transfer (for fetch: spawn to exit, start-up
    included); ``process_seconds``, ``cpu_seconds`` and ``max_rss_mb`` are the whole process;
    ``server_cpu_seconds`` is what Dovecot's processes used while it ran."""

    client: str
    transport: str
    messages: int
    bytes: int
    seconds: float
    process_seconds: float
    cpu_seconds: float
    max_rss_mb: float
    server_cpu_seconds: float = 0.0

    @property
    def msg_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_mail(self) -> float:
        return 1000 * self.cpu_seconds / max(self.messages, 1)

    @property
    def server_ms_per_mail(self) -> float:
        return 1000 * self.server_cpu_seconds / max(self.messages, 1)

    def ceiling(self, cores: int) -> float:
        """The msg/s the machine's *cores* allow at this run's CPU per mail, client and server
        together: what the run would reach with every core busy all the time."""
        ms = self.cpu_ms_per_mail + self.server_ms_per_mail
        return 1000 * cores / ms if ms else 0.0


@dataclass
class Report:
    pdf: str
    messages: int
    size_kb: float
    transport: str
    nproc: int
    python: str
    platform: str
    corpus_cached: bool
    corpus_seconds: float
    dovecot_start_seconds: float
    import_seconds: dict[str, float]
    target_ratio: float
    target_rss_mb: float
    rows: list[Row] = field(default_factory=list)
    total_bytes: int = 0
    baseline_runs_seconds: list[float] = field(default_factory=list)
    baseline_seconds: float = 0.0
    baseline_msg_per_s: float = 0.0
    baseline_mb_per_s: float = 0.0
    ingestion_seconds: float = 0.0
    ingestion_msg_per_s: float = 0.0
    ingestion_mb_per_s: float = 0.0
    ingestion_cpu_seconds: float = 0.0
    ingestion_cpu_ms_per_mail: float = 0.0
    ingestion_peak_rss_mb: float = 0.0
    ratio_percent: float = 0.0
    fetch_vs_mbsync: float | None = None
    fetch_summary: dict[str, object] = field(default_factory=dict)
    server_imported: int = -1
    server_inbox: int = -1
    data_dir_mb: float = 0.0
    fetch_rusage: dict[str, float] = field(default_factory=dict)
    file_ms: dict[str, float] = field(default_factory=dict)  # fs_probe.file_cost by when
    cpu_split_profiled_s: dict[str, float] = field(default_factory=dict)
    worker_split_profiled_s: dict[str, float] = field(default_factory=dict)
    profiled_cpu_s: float = 0.0
    cpu_split_ms_per_mail: dict[str, float] = field(default_factory=dict)
    profile: str | None = None
    # --pairs: (mbsync msg/s, fetch msg/s) of each further pair run in turns, and the median
    # of fetch / mbsync over them and the main run
    pairs: list[tuple[float, float]] = field(default_factory=list)
    pairs_median_vs_mbsync: float | None = None
    target_ratio_met: bool = False
    target_rss_met: bool = False
    failures: list[str] = field(default_factory=list)

    def row(self, client: str, transport: str | None = None) -> Row | None:
        want = transport or self.rows[0].transport
        return next((r for r in self.rows if r.client == client and r.transport == want), None)

    def finish(self) -> None:
        """Derive the headline figures (raw, fetch, ratios, the CPU split) from the rows."""
        raw, fetch, mbsync = self.row("raw"), self.row("fetch"), self.row("mbsync")
        if raw is None or fetch is None:
            return
        self.baseline_seconds = raw.seconds
        self.baseline_msg_per_s = raw.msg_per_s
        self.baseline_mb_per_s = raw.bytes / MB / raw.seconds
        self.ingestion_seconds = fetch.seconds
        self.ingestion_msg_per_s = fetch.msg_per_s
        self.ingestion_mb_per_s = self.total_bytes / MB / fetch.seconds
        self.ingestion_cpu_seconds = fetch.cpu_seconds
        self.ingestion_cpu_ms_per_mail = fetch.cpu_ms_per_mail
        self.ingestion_peak_rss_mb = fetch.max_rss_mb
        self.ratio_percent = 100.0 * fetch.msg_per_s / raw.msg_per_s
        if mbsync is not None and mbsync.msg_per_s:
            self.fetch_vs_mbsync = fetch.msg_per_s / mbsync.msg_per_s
            if self.pairs:
                ratios = [f / m for m, f in [(mbsync.msg_per_s, fetch.msg_per_s), *self.pairs]]
                self.pairs_median_vs_mbsync = statistics.median(ratios)
        self.target_ratio_met = self.ratio_percent >= self.target_ratio
        self.target_rss_met = self.ingestion_peak_rss_mb < self.target_rss_mb
        # shares of the profiled run, applied to the unprofiled run's CPU per mail: the
        # process's own to its own CPU, the workers' to theirs
        # the workers are stopped at the interpreter's exit, after the launcher's last look:
        # their CPU is the process tree's (wait4) minus the process's own
        own = min(self.fetch_rusage.get("self_cpu", fetch.cpu_seconds), fetch.cpu_seconds)
        kids = fetch.cpu_seconds - own
        n = max(self.messages, 1)
        out: dict[str, float] = {}
        for split, cpu, tag in (
            (self.cpu_split_profiled_s, own, "fetch process"),
            (self.worker_split_profiled_s, kids, "decide workers"),
        ):
            profiled = sum(v for k, v in split.items() if k in CATEGORIES)
            if profiled <= 0:
                if cpu > 0:
                    out[f"{tag}: not profiled"] = 1000 * cpu / n
                continue
            for k, v in split.items():
                if k != "profiled workers" and v:
                    out[f"{tag}: {k}"] = 1000 * cpu / n * v / profiled
        if self.cpu_split_profiled_s:
            self.cpu_split_ms_per_mail = out


def _processes(r: Report) -> list[str]:
    """The fetch process's CPU with its time in the kernel, and its decide workers' (the
    process tree's from wait4 less the process's own: they are reaped after its last look)."""
    ru, n = r.fetch_rusage, max(r.messages, 1)
    if "self_system" not in ru:
        return []
    own, kernel = 1000 * ru["self_cpu"] / n, 1000 * ru["self_system"] / n
    workers = 1000 * r.ingestion_cpu_seconds / n - own
    return [f"processes  : fetch {own:.2f} ms/mail (kernel {kernel:.2f}), workers {workers:.2f}"]


def _file_cost(r: Report) -> list[str]:
    """What writing a 50 KB file cost on the file system before and after the clients ran
    (``fs_probe``): its recent deletions move it, for mbsync and fetch alike."""
    if not r.file_ms:
        return []
    when = ", ".join(f"{k} {v:.2f}" for k, v in r.file_ms.items())
    return [f"file system: {when} ms CPU to write + rename a 50 KB file (quiet: about 0.04)"]


def _pairs(r: Report) -> list[str]:
    """``--pairs``: mbsync and fetch again, in turns, each pair under like conditions."""
    if not r.pairs:
        return []
    each = ", ".join(f"{m:,.0f}/{f:,.0f} ({f / m:.2f})" for m, f in r.pairs)
    median = r.pairs_median_vs_mbsync
    return [
        f"pairs      : mbsync/fetch msg/s in turns after the main run: {each}"
        + (f"; median of all {len(r.pairs) + 1}: {median:.2f} x mbsync" if median else "")
    ]


def _budget(r: Report) -> list[str]:
    """The CPU budget: how close each run of mbsync and fetch came to what the cores allow
    at its CPU per mail (its own and the server's), and the CPU per mail at which fetch's
    ceiling would be mbsync's measured rate."""
    fetch, mbsync = r.row("fetch"), r.row("mbsync")
    if fetch is None or mbsync is None or not fetch.server_cpu_seconds:
        return []
    lines = []
    for row in (mbsync, fetch):
        ceiling = row.ceiling(r.nproc)
        lines.append(
            f"CPU budget : {row.client} {row.cpu_ms_per_mail:.3f} + server "
            f"{row.server_ms_per_mail:.3f} ms/mail: at most {ceiling:,.0f} msg/s on {r.nproc} "
            f"cores, reached {row.msg_per_s:,.0f} ({100 * row.msg_per_s / ceiling:.0f} %)"
        )
    need = 1000 * r.nproc / mbsync.msg_per_s - fetch.server_ms_per_mail
    lines.append(
        f"CPU budget : fetch's ceiling is mbsync's {mbsync.msg_per_s:,.0f} msg/s at {need:.3f} "
        f"ms/mail of its own (now {fetch.cpu_ms_per_mail:.3f}), every core busy all the time"
    )
    return lines


def _yes(ok: bool) -> str:
    return "yes" if ok else "no"


def _table(r: Report) -> list[str]:
    raw, mbsync = r.row("raw"), r.row("mbsync")
    head = (
        f"{'client':<11}{'transport':<10}{'wall s':>8}{'msg/s':>9}{'MB/s':>8}{'CPU s':>7}"
        f"{'CPU ms/mail':>12}{'server ms':>10}{'peak RSS MB':>12}{'x raw':>8}{'x mbsync':>9}"
    )
    lines = [head, "-" * len(head)]
    for row in r.rows:
        vs_raw = f"{row.msg_per_s / raw.msg_per_s:.3f}" if raw else "-"
        vs_mb = f"{row.msg_per_s / mbsync.msg_per_s:.2f}" if mbsync else "-"
        lines.append(
            f"{row.client:<11}{row.transport:<10}{row.seconds:>8.2f}{row.msg_per_s:>9,.0f}"
            f"{row.bytes / MB / row.seconds:>8.1f}{row.cpu_seconds:>7.2f}"
            f"{row.cpu_ms_per_mail:>12.3f}{row.server_ms_per_mail:>10.3f}{row.max_rss_mb:>12.1f}"
            f"{vs_raw:>8}{vs_mb:>9}"
        )
    lines.append(
        "(raw and imap-tools: transfer time inside the process; mbsync and fetch: the whole "
        "process, start-up included; CPU: the whole process, from wait4; server ms: Dovecot's "
        "CPU per mail while the client ran; peak RSS: its VmHWM)"
    )
    return lines


def _split(r: Report) -> list[str]:
    if not r.cpu_split_ms_per_mail:
        return []
    total = r.ingestion_cpu_ms_per_mail
    lines = [
        f"fetch CPU per mail: {total:.3f} ms, split by module (cProfile with a per-thread CPU "
        f"clock in a separate fetch run, {r.profiled_cpu_s:.1f} s CPU, "
        f"{r.worker_split_profiled_s.get('profiled workers', 0):.0f} workers profiled; "
        "its shares applied to this run's CPU of the process and of its workers):"
    ]
    for name, ms in r.cpu_split_ms_per_mail.items():
        share = f"{100 * ms / total:5.1f} %" if total else ""
        if "of which" in name:
            share = ""
        lines.append(f"  {name:<54}{ms:>8.3f} ms  {share}")
    return lines


def print_report(r: Report) -> None:
    total_mb = r.total_bytes / MB
    avg_kb = r.total_bytes / max(r.messages, 1) / 1024
    imports = " + ".join(f"{s:.1f} s" for s in r.import_seconds.values())
    runs = ", ".join(f"{s:.2f} s" for s in r.baseline_runs_seconds)
    s = r.fetch_summary
    vs_mbsync = f"{r.fetch_vs_mbsync:.2f} x mbsync" if r.fetch_vs_mbsync is not None else ""
    lines = [
        "invoice-inbox ingestion benchmark",
        f"machine    : {r.nproc} CPUs (nproc), Python {r.python}, {r.platform}",
        f"mailbox    : {r.messages} messages, {total_mb:.1f} MB (avg {avg_kb:.1f} KB as served), "
        f"{r.transport} on 127.0.0.1; PDF attachments: {r.pdf}",
        f"generation : {r.corpus_seconds:.1f} s"
        + (" (reused cache)" if r.corpus_cached else " (written to benchmarks/.cache)"),
        f"import     : {imports} (doveadm import into users {', '.join(r.import_seconds)}); "
        f"dovecot start {r.dovecot_start_seconds:.1f} s",
        f"baseline   : {r.baseline_msg_per_s:,.0f} msg/s, {r.baseline_mb_per_s:.1f} MB/s "
        f"(imaplib UID FETCH x100 BODY.PEEK[]; best of {len(r.baseline_runs_seconds)}"
        f" runs: {runs}; warm cache)",
        f"ingestion  : {r.ingestion_msg_per_s:,.0f} msg/s, {r.ingestion_mb_per_s:.1f} MB/s "
        f"({r.ingestion_seconds:.2f} s wall incl. start-up, CPU {r.ingestion_cpu_seconds:.1f} s"
        f" = {r.ingestion_cpu_ms_per_mail:.2f} ms/mail)",
        f"fetch      : seen {s.get('messages_seen')}, imported {s.get('imported')}, "
        f"not imported {s.get('not_imported')}, quarantined {s.get('quarantined')}, "
        f"documents {s.get('documents_created')}, status {s.get('status')}",
        f"server     : Imported {r.server_imported}, INBOX {r.server_inbox}; "
        f"data dir {r.data_dir_mb:.1f} MB",
        f"ratio      : ingestion = {r.ratio_percent:.1f} % of raw download"
        + (f"; {vs_mbsync}" if vs_mbsync else ""),
        f"peak RSS   : {r.ingestion_peak_rss_mb:.1f} MB (ingestion process)",
        *_processes(r),
        *_file_cost(r),
        *_pairs(r),
        *_budget(r),
        "",
        *_table(r),
        "",
        *_split(r),
    ]
    if r.profile:
        lines.append(f"profile    : {r.profile} (cProfile stats of the profiled fetch run)")
    lines += [
        f"target: ingestion >= {r.target_ratio:g}% of raw download: {_yes(r.target_ratio_met)}",
        f"target: peak RSS < {r.target_rss_mb:g} MB: {_yes(r.target_rss_met)}",
    ]
    if r.fetch_vs_mbsync is not None:
        lines.append(f"target: fetch >= mbsync (FSync yes): {_yes(r.fetch_vs_mbsync >= 1)}")
    if r.pairs_median_vs_mbsync is not None:
        median = r.pairs_median_vs_mbsync
        lines.append(f"target, median of the pairs: {median:.2f} x mbsync: {_yes(median >= 1)}")
    lines += [f"FAILED: {f}" for f in r.failures]
    print("\n".join(lines), flush=True)
