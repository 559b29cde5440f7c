"""The resolver restarted."""

from __future__ import annotations

import time

from simlab.harness import wait_grpc_serving
from tools.faults.lab import CaseResult, Lab
from tools.faults.runner import Target, _fault_case, _targets_no_loss


def case_resolver_restart(lab: Lab, short: bool) -> CaseResult:
    """The resolver is killed; a 404 burst then makes the watchdog need it; it comes back
    after ~8 s."""
    burst, back_after = (6.0, 5.0) if short else (10.0, 8.0)

    def inject(t: Target) -> None:
        t.stack.services["resolver_service"].kill()
        t.stream.set_fault("http_error", status=404, duration=burst)
        time.sleep(back_after)
        t.stack.start_service("resolver_service")
        wait_grpc_serving(f"127.0.0.1:{t.stack.resolver_port}")

    with lab.own_stack("resolver-restart") as stack:
        result, stopped = _fault_case(
            lab,
            short,
            case="resolver-restart",
            title=f"resolver killed; 404 burst {burst:.0f} s, back after {back_after:.0f} s",
            fault_window_s=burst,
            inject=inject,
            stack=stack,
        )
        records = stack.services["recorder_service"].log_records()
    failed = [r for r in records if r.get("event.action") == "session.reresolve_failed"]
    result.notes.append(f"{len(failed)} re-resolve attempt(s) failed while the resolver was down")
    result.check("the watchdog met the resolver down", bool(failed))
    _targets_no_loss(result, stopped, restarts=True)
    return result
