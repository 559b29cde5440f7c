"""Child-process helpers."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import sys
from collections.abc import Sequence

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """``preexec_fn`` for children that must not outlive their parent: if the parent dies
    (even by SIGKILL) the child gets SIGTERM, which ffmpeg and our services handle cleanly."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _tool(name: str) -> str | None:
    return shutil.which(name) if sys.platform.startswith("linux") else None


def single_parent_argv(argv: Sequence[str]) -> tuple[list[str], bool]:
    """``argv`` behind a single-threaded parent, and whether the wrapper is in use.

    The parent-death signal fires each time a thread of the parent's thread group exits, so
    a child of a multi-threaded process (gRPC) killed with SIGKILL gets SIGTERM several times;
    ffmpeg takes a second signal as "abort now" and leaves its file torn. Behind util-linux's
    ``setsid -f -w`` (one thread: one signal when the recorder dies, which makes it exit) the
    program gets exactly one SIGTERM from ``setpriv --pdeathsig`` and finishes cleanly;
    ``setsid -w`` passes its exit status back. Without those tools, ``argv`` is run as is.
    """
    setsid, setpriv = _tool("setsid"), _tool("setpriv")
    if setsid is None or setpriv is None:
        return list(argv), False
    return [setsid, "-f", "-w", setpriv, "--pdeathsig", "TERM", "--", *argv], True


def child_pids(pid: int) -> list[int]:
    """The direct children of ``pid`` (Linux /proc), empty when unknown."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return []


def process_stats(pid: int) -> tuple[float, float, int] | None:
    """``(seconds since it started, CPU seconds used, resident bytes)`` of a process (Linux
    /proc), None when it is gone or unreadable."""

    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    # Fields after the command name: state is [0], utime [11], stime [12], starttime [19],
    # rss (pages) [21].
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    age = max(0.0, uptime - int(fields[19]) / ticks)
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return age, cpu, rss
