"""The stream's token expires."""

from __future__ import annotations

import time

import httpx

from tools.faults.lab import SEGMENT_S, WINDOW, CaseResult, EventFollower, Lab
from tools.faults.measure import collect, describe, recovered_after
from tools.faults.rest import start_recording, stop_recording, wait_media, wait_recovered
from tools.faults.runner import FULL, SHORT, _targets_no_loss


def case_token_expiry(lab: Lab, short: bool) -> CaseResult:
    """A Chaturbate target: the site hands out the CDN URL with its token; at the fault the CDN
    refuses the old token (403 on every request) and the site hands out a new one."""
    timing = SHORT if short else FULL
    case = "token-expiry-403"
    result = CaseResult(case, "403 on token expiry mid-stream", 0.0)
    name = lab.unique(case)
    stream = lab.origin.add_stream(name, segment_duration=SEGMENT_S, window=WINDOW, token="t1")
    lab.site.add_room(name, room_status="public", hls_url=lab.origin.url(name))
    stack = lab.shared_stack()
    follower = EventFollower(stack.base_url).start()
    try:
        with httpx.Client(base_url=stack.base_url, timeout=60) as client:
            session = start_recording(client, name, name)
            sid, person = session["session_id"], session["person"]
            wait_media(client, sid, 1.0)
            time.sleep(timing.before_s)
            injected = time.monotonic()
            # The token expires: from now on only a fresh token works (`token_expire` would
            # refuse every token until `rotate_token`, which also clears it; a CDN whose tokens
            # expire refuses the old one and accepts the site's new one).
            stream.rotate_token("t2")
            lab.site.set_room(name, hls_url=lab.origin.url(name))
            recovered = wait_recovered(client, sid)
            result.fault_window_s = round(recovered - injected, 1)
            result.recovered_after_s = recovered_after(follower, person, injected)
            time.sleep(timing.after_s)
            published = int(stream.state()["published"])
            stopped = stop_recording(client, sid)
            result.outcome = describe(stopped)
            collect(result, lab, stack, client, follower, name, person, [stopped], published)
    finally:
        follower.stop()
    refused = [r for r in lab.origin.requests(name) if r.status == 403]
    result.notes.append(f"{len(refused)} requests refused with 403 before the new token was used")
    result.check("the old token was refused (403s seen)", bool(refused))
    _targets_no_loss(result, stopped, restarts=True)
    return result
