"""A playlist that freezes."""

from __future__ import annotations

from tools.faults.lab import CaseResult, Lab
from tools.faults.runner import Target, _fault_case, _targets_no_loss


def case_playlist_stall(lab: Lab, short: bool) -> CaseResult:
    duration = 10.0 if short else 30.0

    def inject(t: Target) -> None:
        t.stream.set_fault("stall", duration=duration)

    result, stopped = _fault_case(
        lab,
        short,
        case="playlist-stall",
        title=f"playlist stall {duration:.0f} s",
        fault_window_s=duration,
        inject=inject,
        window=40,
    )
    _targets_no_loss(result, stopped, restarts=True)
    result.check("STALLED emitted", result.events.get("STALLED", 0) >= 1)
    return result
