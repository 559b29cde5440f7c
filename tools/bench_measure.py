"""Measurement helpers for ``tools.bench``: CPU and memory of process trees from ``/proc``,
system CPU, percentiles, the machine description and the result table.

Everything here is a small pure function over ``/proc`` text (unit-tested in
``tests/tools/test_bench.py``) or a thin reader around one.
"""

from __future__ import annotations

import math
import os
import platform
import re
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")
MIB = 1024 * 1024


# -- /proc/<pid>/stat ------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcStat:
    """The fields of ``/proc/<pid>/stat`` the bench uses (times in clock ticks)."""

    pid: int
    comm: str
    state: str
    ppid: int
    utime: int
    stime: int
    num_threads: int
    rss_pages: int

    @property
    def ticks(self) -> int:
        """User + system CPU time in clock ticks."""
        return self.utime + self.stime


def parse_stat(text: str) -> ProcStat:
    """Parse one ``/proc/<pid>/stat`` (or ``/proc/<pid>/task/<tid>/stat``) line.

    ``comm`` sits in parentheses and may itself hold spaces and parentheses, so the fields are
    counted from the last ``)``.
    """
    head, sep, tail = text.rpartition(")")
    if not sep:
        raise ValueError(f"not a /proc stat line: {text[:80]!r}")
    pid_text, _, comm = head.partition(" (")
    fields = tail.split()
    # fields[0] is field 3 (state) of proc(5); utime is field 14, stime 15, num_threads 20,
    # rss 24.
    return ProcStat(
        pid=int(pid_text),
        comm=comm,
        state=fields[0],
        ppid=int(fields[1]),
        utime=int(fields[11]),
        stime=int(fields[12]),
        num_threads=int(fields[17]),
        rss_pages=int(fields[21]),
    )


def read_stat(pid: int) -> ProcStat | None:
    """The process's stat, or None when it is gone."""
    try:
        return parse_stat((PROC / str(pid) / "stat").read_text())
    except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
        return None


def parse_schedstat(text: str) -> int:
    """Nanoseconds on a CPU, the first field of ``/proc/<pid>/task/<tid>/schedstat``."""
    return int(text.split()[0])


@dataclass(frozen=True)
class CpuTime:
    """A process's CPU time two ways: ``ticks`` (utime + stime from ``stat``: every thread that
    ever ran, in 10 ms ticks) and ``ns`` (the sum of its live threads' ``schedstat``: exact,
    but blind to threads that have exited)."""

    ticks: int
    ns: int


def cpu_time(pid: int) -> CpuTime | None:
    stat = read_stat(pid)
    if stat is None:
        return None
    ns = 0
    for task in (PROC / str(pid) / "task").glob("*"):
        try:
            ns += parse_schedstat((task / "schedstat").read_text())
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            continue
    return CpuTime(stat.ticks, ns)


def cpu_times(pids: Iterable[int]) -> dict[int, CpuTime]:
    """``cpu_time`` of each pid still alive."""
    out = {}
    for pid in pids:
        sample = cpu_time(pid)
        if sample is not None:
            out[pid] = sample
    return out


def cpu_ticks(pids: Iterable[int]) -> dict[int, int]:
    """utime + stime (ticks) of each pid still alive."""
    return {pid: t.ticks for pid, t in cpu_times(pids).items()}


def cpu_delta_seconds(
    before: Mapping[int, CpuTime | int], after: Mapping[int, CpuTime | int]
) -> float:
    """CPU seconds the processes used between two samples. A pid absent from ``before``
    started in between: all of its time counts. A pid gone by ``after`` is lost (the bench
    measures steady states, where no process ends). Per process the exact ``schedstat`` time
    is used, unless the ticks say more went by (a thread that ran then exited in between)."""
    total = 0.0
    for pid, end in after.items():
        start = before.get(pid)
        if isinstance(end, int):
            total += (end - (start if isinstance(start, int) else 0)) / CLK_TCK
            continue
        t0 = start if isinstance(start, CpuTime) else CpuTime(0, 0)
        by_ticks = (end.ticks - t0.ticks) / CLK_TCK
        by_ns = (end.ns - t0.ns) / 1e9
        total += by_ns if by_ticks <= by_ns + 2 / CLK_TCK else by_ticks
    return total


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread of a live process (``schedstat``), keyed by thread name; the
    main thread (the recorder's event loop) is ``main``, threads of one name are summed."""
    out: dict[str, float] = {}
    for task in (PROC / str(pid) / "task").glob("*"):
        try:
            name = parse_stat((task / "stat").read_text()).comm
            seconds = parse_schedstat((task / "schedstat").read_text()) / 1e9
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            continue
        key = "main" if task.name == str(pid) else name
        out[key] = out.get(key, 0.0) + seconds
    return out


# -- memory ------------------------------------------------------------------------------------


def parse_smaps_rollup(text: str) -> dict[str, int]:
    """``/proc/<pid>/smaps_rollup`` as {field: bytes} (``Rss``, ``Pss``, ``Pss_Anon``...)."""
    out = {}
    for line in text.splitlines():
        m = re.match(r"^(\w+):\s+(\d+) kB$", line.strip())
        if m:
            out[m[1]] = int(m[2]) * 1024
    return out


def memory(pid: int) -> dict[str, int]:
    """The process's ``smaps_rollup`` in bytes ({} when it is gone)."""
    try:
        return parse_smaps_rollup((PROC / str(pid) / "smaps_rollup").read_text())
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return {}


def pss_sum(pids: Iterable[int]) -> int:
    """Proportional set size of the processes together, in bytes: shared pages (the ffmpeg
    binary, libraries) are split among the processes that map them, so the sum over a set of
    processes is what that set costs in RAM."""
    return sum(memory(pid).get("Pss", 0) for pid in pids)


# -- process trees -----------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """Direct children of ``pid``, whichever of its threads forked them."""
    found: list[int] = []
    for task in (PROC / str(pid) / "task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return found


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (ffmpegs behind their setsid/setpriv wrapper too)."""
    found: list[int] = []
    todo = children(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        todo += children(child)
    return found


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants."""
    return [pid, *descendants(pid)]


def comm(pid: int) -> str:
    stat = read_stat(pid)
    return stat.comm if stat is not None else ""


# -- the whole machine -------------------------------------------------------------------------


@dataclass(frozen=True)
class SystemCpu:
    """Cumulative CPU ticks of the machine, from the first line of ``/proc/stat``."""

    user: int
    nice: int
    system: int
    idle: int
    iowait: int
    irq: int
    softirq: int
    steal: int

    @property
    def total(self) -> int:
        return (
            self.user
            + self.nice
            + self.system
            + self.idle
            + self.iowait
            + self.irq
            + self.softirq
            + self.steal
        )


def parse_proc_stat(text: str) -> SystemCpu:
    """The aggregate ``cpu`` line of ``/proc/stat``."""
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            values = [int(v) for v in parts[1:9]] + [0] * (8 - len(parts[1:9]))
            return SystemCpu(*values)
    raise ValueError("no aggregate cpu line in /proc/stat")


def system_cpu() -> SystemCpu:
    return parse_proc_stat((PROC / "stat").read_text())


@dataclass(frozen=True)
class CpuShare:
    """Where the machine's time went between two samples (fractions of all cores)."""

    busy: float
    iowait: float
    steal: float


def cpu_share(before: SystemCpu, after: SystemCpu) -> CpuShare:
    total = after.total - before.total
    if total <= 0:
        return CpuShare(0.0, 0.0, 0.0)
    idle = (after.idle - before.idle) + (after.iowait - before.iowait)
    return CpuShare(
        busy=1 - idle / total,
        iowait=(after.iowait - before.iowait) / total,
        steal=(after.steal - before.steal) / total,
    )


def loadavg() -> tuple[float, float, float]:
    parts = (PROC / "loadavg").read_text().split()
    return float(parts[0]), float(parts[1]), float(parts[2])


def parse_diskstats_written(text: str) -> int:
    """Bytes written to whole disks (``sd*``, ``vd*``, ``nvme*n*``, ``xvd*``; partitions
    skipped), from ``/proc/diskstats`` (sectors are 512 bytes there whatever the device)."""
    total = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 10:
            continue
        name = parts[2]
        whole = re.fullmatch(r"(sd[a-z]+|vd[a-z]+|xvd[a-z]+|nvme\d+n\d+)", name)
        if whole:
            total += int(parts[9]) * 512
    return total


def disk_written() -> int:
    return parse_diskstats_written((PROC / "diskstats").read_text())


# -- statistics --------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0-100) with linear interpolation between closest ranks (as
    numpy's default); NaN for no values."""
    if not values:
        return math.nan
    if not 0 <= p <= 100:
        raise ValueError("p must be within [0, 100]")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# -- the table ---------------------------------------------------------------------------------


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table with padded columns (readable as plain text too)."""
    widths = [len(h) for h in headers]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row has {len(row)} cells, expected {len(headers)}: {row}")
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(row) for row in rows]
    return "\n".join(out) + "\n"


def fmt(value: float | None, digits: int = 2, unit: str = "") -> str:
    """A number for the table; ``n/a`` for None or NaN."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}{unit}"


# -- the machine -------------------------------------------------------------------------------


def cpu_model(cpuinfo: str) -> str:
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return platform.processor() or "unknown"


def ffmpeg_version(ffmpeg: str) -> str:
    """The first line of ``ffmpeg -version``."""
    try:
        proc = subprocess.run(
            [ffmpeg, "-hide_banner", "-version"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError as exc:
        return f"unavailable ({exc})"
    return proc.stdout.splitlines()[0] if proc.stdout else "unknown"


def machine(ffmpeg: str) -> dict[str, str]:
    """What the numbers were measured on."""
    mem_kib = 0
    for line in (PROC / "meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    uname = platform.uname()
    return {
        "CPU": cpu_model((PROC / "cpuinfo").read_text()),
        "cores": str(os.cpu_count()),
        "RAM": f"{mem_kib / MIB:.1f} GiB",
        "kernel": f"{uname.system} {uname.release} ({uname.machine})",
        "ffmpeg": f"{ffmpeg} ({ffmpeg_version(ffmpeg)})",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
    }


class Stopwatch:
    """Seconds since it was made (monotonic)."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() - self.t0
