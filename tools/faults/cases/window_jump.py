"""The live window jumps ahead."""

from __future__ import annotations

from tools.faults.lab import SEGMENT_S, CaseResult, Lab
from tools.faults.runner import Target, _fault_case


def case_window_jump(lab: Lab, short: bool) -> CaseResult:
    window, jump = (6, 10) if short else (6, 20)

    def inject(t: Target) -> None:
        t.stream.set_fault("window_jump", segments=jump)

    result, stopped = _fault_case(
        lab,
        short,
        case="window-jump",
        title=f"window jump {jump} segments (window {window})",
        fault_window_s=jump * SEGMENT_S,
        inject=inject,
        window=window,
        wait_s=1.0,
    )
    result.notes.append(
        f"the live edge jumped {jump} s at once; with a window of {window} the segments between "
        "the recorder's position and the new window expired unread"
    )
    lost = result.media_lost_s or 0.0
    result.check("session STOPPED by the stop request", stopped["state"] == "STOPPED")
    result.check("segments expired (media lost > 0)", lost > 0)
    result.check("the loss is in the ledger", bool(result.ledger))
    result.check("a GAP event per ledger entry", result.gap_events == len(result.ledger))
    result.check(
        "the ledger's length matches the loss (±max(1.5 s, 30 %))",
        abs(result.ledger_s - lost) <= max(1.5, 0.3 * lost),
    )
    return result
