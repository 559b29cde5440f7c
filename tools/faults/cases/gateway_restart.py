"""The gateway restarted."""

from __future__ import annotations

import itertools
import time

import httpx

from tools.faults.lab import SEGMENT_S, WINDOW, CaseResult, EventFollower, Lab
from tools.faults.measure import collect, describe
from tools.faults.rest import start_recording, stop_recording, wait_for, wait_media
from tools.faults.runner import FULL, SHORT, _targets_no_loss


def case_gateway_restart(lab: Lab, short: bool) -> CaseResult:
    """The gateway is restarted (SIGTERM, start) while a client follows /api/events; the client
    reconnects with Last-Event-ID and must miss no event."""
    timing = SHORT if short else FULL
    case = "gateway-restart-sse"
    result = CaseResult(case, "gateway restarted while a client follows /api/events", 0.0)
    name = lab.unique(case)
    lab.origin.add_stream(name, segment_duration=SEGMENT_S, window=WINDOW)
    with (
        lab.own_stack(case) as stack,
        httpx.Client(base_url=stack.base_url, timeout=60) as client,
    ):
        follower = EventFollower(stack.base_url).start()
        try:
            session = start_recording(client, lab.origin.url(name), name)
            sid, person = session["session_id"], session["person"]
            wait_media(client, sid, 1.0)
            time.sleep(timing.before_s)
            down = time.monotonic()
            code = stack.services["gateway"].stop()
            result.notes.append(f"the gateway took {time.monotonic() - down:.1f} s to stop")
            time.sleep(2.0)  # events keep coming while the gateway is away
            stack.start_service("gateway")
            stack.wait_http_ready()
            result.fault_window_s = round(time.monotonic() - down, 1)
            result.notes.append(f"gateway exited with code {code}")
            wait_for("the client to reconnect", lambda: follower.connects >= 2, 20, 0.1)
            result.notes.append(
                f"the client followed again {time.monotonic() - down:.1f} s after the stop began"
            )
            time.sleep(timing.after_s)
            published = int(lab.origin.stream(name).state()["published"])
            stopped = stop_recording(client, sid)
            result.outcome = describe(stopped)
            collect(result, lab, stack, client, follower, name, person, [stopped], published)
        finally:
            follower.stop()
    ids = [e.id for e in follower.events if e.id is not None]
    snapshots = [e for e in follower.events if e.type == "SNAPSHOT"]
    holes = [b for a, b in itertools.pairwise(ids) if b != a + 1]
    result.notes.append(
        f"the client saw events {ids[0] if ids else '-'}..{ids[-1] if ids else '-'} over "
        f"{follower.connects} connections ({len(snapshots)} snapshot(s))"
    )
    result.check("the client reconnected", follower.connects >= 2)
    result.check("event ids contiguous across the restart", not holes and len(snapshots) == 1)
    _targets_no_loss(result, stopped, restarts=False)
    return result
