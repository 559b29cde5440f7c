"""Bursts of HTTP errors (404, 500) from the origin."""

from __future__ import annotations

from tools.faults.lab import CaseResult, Lab
from tools.faults.runner import _fault_case, _http_error, _targets_no_loss


def case_404_burst(lab: Lab, short: bool) -> CaseResult:
    duration = 4.0 if short else 10.0
    result, stopped = _fault_case(
        lab,
        short,
        case="404-burst",
        title=f"404 burst {duration:.0f} s",
        fault_window_s=duration,
        inject=_http_error(404, duration),
    )
    _targets_no_loss(result, stopped, restarts=True)
    return result


def case_500_burst(lab: Lab, short: bool) -> CaseResult:
    duration = 4.0 if short else 10.0
    result, stopped = _fault_case(
        lab,
        short,
        case="500-burst",
        title=f"500 burst {duration:.0f} s",
        fault_window_s=duration,
        inject=_http_error(500, duration),
    )
    _targets_no_loss(result, stopped, restarts=False)
    return result
