"""ffmpeg killed with SIGKILL."""

from __future__ import annotations

import os
import signal

from simlab.harness import Service
from tools.faults.lab import CaseResult, Lab, _argv, is_ffmpeg
from tools.faults.runner import Target, _fault_case, _targets_no_loss


def _ffmpeg_pids(service: Service, person: str) -> list[int]:
    """The ffmpeg processes (not their wrappers) below ``service`` that record ``person``."""
    found = []
    for pid in service.descendants():
        argv = _argv(pid)
        if argv and is_ffmpeg(argv[:1]) and any(f"/records/{person}/" in a for a in argv):
            found.append(pid)
    return found


def case_ffmpeg_sigkill(lab: Lab, short: bool) -> CaseResult:
    killed: list[int] = []

    def inject(t: Target) -> None:
        pids = _ffmpeg_pids(t.stack.services["recorder_service"], t.person)
        if not pids:
            raise RuntimeError("no ffmpeg to kill")
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        killed.extend(pids)

    result, stopped = _fault_case(
        lab,
        short,
        case="ffmpeg-sigkill",
        title="ffmpeg SIGKILL",
        fault_window_s=0.0,
        inject=inject,
    )
    result.notes.append(f"killed ffmpeg PID {', '.join(map(str, killed))}")
    _targets_no_loss(result, stopped, restarts=True)
    result.check("RECONNECTING emitted", result.events.get("RECONNECTING", 0) >= 1)
    return result
