"""The runner of the fault suite: what a case is, the common shape of a fault case, and running
one case."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from simlab.fakes.live_stream import Stream
from simlab.harness import Stack
from tools.faults.lab import SEGMENT_S, WINDOW, CaseResult, EventFollower, Lab
from tools.faults.measure import collect, describe, recovered_after
from tools.faults.rest import start_recording, stop_recording, wait_media, wait_recovered

log = logging.getLogger("faults")


@dataclass(frozen=True)
class Timing:
    before_s: float  # recording before the fault
    after_s: float  # recording after the recovery


FULL = Timing(5.0, 5.0)
SHORT = Timing(3.0, 3.0)


@dataclass(frozen=True)
class Target:
    """What a fault is injected into: the stream, and the stack recording it as ``person``."""

    lab: Lab
    stack: Stack
    name: str
    person: str

    @property
    def stream(self) -> Stream:
        return self.lab.origin.stream(self.name)


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    run: Callable[[Lab, bool], CaseResult]
    short: bool
    checks: str


def _fault_case(
    lab: Lab,
    short: bool,
    *,
    case: str,
    title: str,
    fault_window_s: float,
    inject: Callable[[Target], None],
    window: int = WINDOW,
    wait_s: float | None = None,
    stack: Stack | None = None,
) -> tuple[CaseResult, dict[str, Any]]:
    """The common shape: record, inject, wait ``wait_s`` (default: the fault window), wait for
    the recovery, record on, stop, measure. Returns the result and the stopped session."""
    timing = SHORT if short else FULL
    result = CaseResult(case, title, fault_window_s)
    name = lab.unique(case)
    lab.origin.add_stream(name, segment_duration=SEGMENT_S, window=window)
    stack = stack or lab.shared_stack()
    follower = EventFollower(stack.base_url).start()
    try:
        with httpx.Client(base_url=stack.base_url, timeout=60) as client:
            session = start_recording(client, lab.origin.url(name), name)
            sid, person = session["session_id"], session["person"]
            wait_media(client, sid, 1.0)
            time.sleep(timing.before_s)
            injected = time.monotonic()
            inject(Target(lab, stack, name, person))
            rest = (fault_window_s if wait_s is None else wait_s) - (time.monotonic() - injected)
            time.sleep(max(0.0, rest))
            wait_recovered(client, sid)
            result.recovered_after_s = recovered_after(follower, person, injected)
            time.sleep(timing.after_s)
            published = int(lab.origin.stream(name).state()["published"])
            stopped = stop_recording(client, sid)
            result.outcome, result.restarts = describe(stopped), stopped["restarts"]
            collect(result, lab, stack, client, follower, name, person, [stopped], published)
            return result, stopped
    finally:
        follower.stop()


def _targets_no_loss(result: CaseResult, stopped: dict[str, Any], *, restarts: bool) -> None:
    result.check("session STOPPED by the stop request", stopped["state"] == "STOPPED")
    if restarts:
        result.check("the watchdog restarted ffmpeg", stopped["restarts"] >= 1)
    result.check("0 s of media lost", result.media_lost_s == 0)
    result.check("no gap in the ledger", not result.ledger)


def _http_error(status: int, duration: float) -> Callable[[Target], None]:
    def inject(t: Target) -> None:
        t.stream.set_fault("http_error", status=status, duration=duration)

    return inject


def run_case(lab: Lab, name: str, short: bool) -> CaseResult:
    """Run one case; an exception becomes a failed result (the run goes on)."""
    from tools.faults.cases import CASES  # the cases import this module

    case = CASES[name]
    started = time.monotonic()
    log.info("case %s: starting", name)
    try:
        result = case.run(lab, short)
    except Exception as exc:
        log.exception("case %s: error", name)
        result = CaseResult(name, case.title, 0.0, error=f"{type(exc).__name__}: {exc}")
        lab.reap(f"after {name}")
    result.wall_s = round(time.monotonic() - started, 1)
    log.info(
        "case %s: %s in %.1fs (lost %s s, failed: %s)",
        name,
        "PASS" if result.passed else "FAIL",
        result.wall_s,
        result.media_lost_s,
        result.failed_checks or result.error or "-",
    )
    return result
