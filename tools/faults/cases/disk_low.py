"""Low disk space."""

from __future__ import annotations

import os
import shutil
import time

import httpx

from tools.faults.lab import SEGMENT_S, WINDOW, CaseResult, EventFollower, Lab
from tools.faults.measure import collect, describe
from tools.faults.rest import get_session, start_recording, wait_for, wait_media
from tools.faults.runner import FULL, SHORT


def case_disk_low(lab: Lab, short: bool) -> CaseResult:
    """MIN_FREE_BYTES is set 1 GiB below the free space; a 2 GiB ballast file then takes the
    disk below the watermark while a session records."""
    timing = SHORT if short else FULL
    case = "disk-low"
    result = CaseResult(case, "disk below the watermark", 0.0)
    name = lab.unique(case)
    lab.origin.add_stream(name, segment_duration=SEGMENT_S, window=WINDOW)
    lab.origin.add_stream(f"{name}_b", segment_duration=SEGMENT_S, window=WINDOW)
    free = shutil.disk_usage(lab.workdir).free
    watermark = free - (1 << 30)
    ballast = lab.workdir / "ballast.bin"
    env = {"MIN_FREE_BYTES": str(watermark), "DISK_CHECK_INTERVAL": "1"}
    with (
        lab.own_stack(case, **env) as stack,
        httpx.Client(base_url=stack.base_url, timeout=60) as client,
    ):
        follower = EventFollower(stack.base_url).start()
        try:
            session = start_recording(client, lab.origin.url(name), name)
            sid, person = session["session_id"], session["person"]
            wait_media(client, sid, 1.0)
            time.sleep(timing.before_s)
            down = time.monotonic()
            with ballast.open("wb") as f:
                os.posix_fallocate(f.fileno(), 0, 2 << 30)
            try:
                ended = wait_for(
                    "the session to be stopped",
                    lambda: (s := get_session(client, sid))["state"] in ("STOPPED", "FAILED") and s,
                    30,
                )
                result.fault_window_s = round(time.monotonic() - down, 1)
                refused = client.post("/api/start", json={"target": lab.origin.url(f"{name}_b")})
            finally:
                ballast.unlink(missing_ok=True)
            published = int(lab.origin.stream(name).state()["published"])
            result.outcome = describe(ended)
            collect(result, lab, stack, client, follower, name, person, [ended], published)
        finally:
            follower.stop()
    code = (
        refused.json().get("code")
        if refused.headers.get("content-type", "").startswith("application/json")
        else None
    )
    result.notes.append(f"a new start got HTTP {refused.status_code} {code}")
    result.notes.append(
        f"watermark {watermark / 2**30:.1f} GiB; the session was stopped "
        f"{result.fault_window_s:.1f} s after the ballast was written"
    )
    # Media after the stop is not expected: only what was published while it recorded counts.
    result.check(
        "a new start is refused: 507 LOW_DISK_SPACE",
        (refused.status_code, code) == (507, "LOW_DISK_SPACE"),
    )
    result.check(
        "the running session was stopped for low disk",
        ended["state"] == "STOPPED" and "watermark" in ended["end_reason"],
    )
    result.check("its file finalized (COMPLETE)", all(f.state == "COMPLETE" for f in result.files))
    return result
