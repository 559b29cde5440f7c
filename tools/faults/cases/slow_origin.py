"""A slow origin."""

from __future__ import annotations

from tools.faults.lab import CaseResult, Lab
from tools.faults.runner import Target, _fault_case


def case_slow_origin(lab: Lab, short: bool) -> CaseResult:
    duration, delay = (6.0, 1.5) if short else (15.0, 1.5)

    def inject(t: Target) -> None:
        t.stream.set_fault("slow", delay=delay, duration=duration)

    result, stopped = _fault_case(
        lab,
        short,
        case="slow-origin",
        title=f"slow origin ({delay} s per request for {duration:.0f} s)",
        fault_window_s=duration,
        inject=inject,
    )
    lost = result.media_lost_s or 0.0
    result.check("session STOPPED by the stop request", stopped["state"] == "STOPPED")
    result.check(
        "no silent loss (0 s lost, or the ledger accounts for it)",
        lost == 0 or (bool(result.ledger) and abs(result.ledger_s - lost) <= max(1.5, 0.3 * lost)),
    )
    return result
