"""The recorder stopped (SIGTERM) or killed (SIGKILL) during an auto-recording."""

from __future__ import annotations

import time

import httpx

from tools.faults.cases.ffmpeg_sigkill import _ffmpeg_pids
from tools.faults.lab import SEGMENT_S, WINDOW, CaseResult, EventFollower, Lab, _alive
from tools.faults.measure import collect, describe
from tools.faults.rest import get_session, session_of, stop_recording, wait_for, wait_media
from tools.faults.runner import FULL, SHORT


def _autorecord_case(lab: Lab, short: bool, *, case: str, title: str, kill: bool) -> CaseResult:
    """A watch-list channel (manual sessions are not restarted after a recorder restart) is
    recorded by auto-record; the recorder is stopped (SIGTERM) or killed (SIGKILL), started
    again at once, and auto-record resumes the channel."""
    timing = SHORT if short else FULL
    result = CaseResult(case, title, 0.0)
    name = lab.unique(case)
    lab.origin.add_stream(name, segment_duration=SEGMENT_S, window=WINDOW)
    lab.site.add_room(name, room_status="public", hls_url=lab.origin.url(name))
    with (
        lab.own_stack(case) as stack,
        httpx.Client(base_url=stack.base_url, timeout=60) as client,
    ):
        follower = EventFollower(stack.base_url).start()
        try:
            created = client.post("/api/models", json={"username": name})
            if created.status_code != 201:
                raise RuntimeError(f"watch failed: HTTP {created.status_code} {created.text}")
            first = wait_for("an automatic start", lambda: session_of(client, name), 20)
            person = first["person"]
            wait_media(client, first["session_id"], 1.0)
            time.sleep(timing.before_s)
            recorder = stack.services["recorder_service"]
            ffmpegs = _ffmpeg_pids(recorder, person)
            down = time.monotonic()
            if kill:
                code = recorder.kill()
            else:
                code = recorder.stop(timeout=40)
                stopped_in = time.monotonic() - down
                result.notes.append(f"recorder exited with code {code} in {stopped_in:.1f} s")
                result.check("the recorder exits 0 within SHUTDOWN_GRACE (25 s)", code == 0)
                result.check(
                    "its ffmpeg exited with it",
                    not [p for p in ffmpegs if _alive(p)],
                )
            stack.restart_recorder()
            back = time.monotonic()
            result.fault_window_s = round(back - down, 1)
            if kill:
                # The killed recorder's ffmpeg got one SIGTERM and finishes its file by itself.
                wait_for(
                    "the orphaned ffmpeg to exit",
                    lambda: not [p for p in ffmpegs if _alive(p)],
                    20,
                )
            second = wait_for(
                "auto-record to resume",
                lambda: (
                    (s := session_of(client, name)) and s["session_id"] != first["session_id"] and s
                ),
                30,
            )
            result.recovered_after_s = round(time.monotonic() - down, 1)
            wait_media(client, second["session_id"], 1.0)
            time.sleep(timing.after_s)
            client.delete(f"/api/models/{name}")
            published = int(lab.origin.stream(name).state()["published"])
            stopped_second = stop_recording(client, second["session_id"])
            old = get_session(client, first["session_id"])
            result.outcome = f"old: {describe(old)}; new: {describe(stopped_second)}"
            rows = collect(
                result,
                lab,
                stack,
                client,
                follower,
                name,
                person,
                [old, stopped_second],
                published,
            )
        finally:
            follower.stop()
    old_rows = [r for r in rows if r["sessionId"] == first["session_id"]]
    snapshots = [e for e in follower.events if e.type == "SNAPSHOT"]
    if len(snapshots) > 1:
        result.notes.append(
            f"the /api/events client got {len(snapshots)} snapshots: the restarted recorder "
            "numbers its events above every id of the old run (from its start time in "
            "microseconds), so the gateway's resume after the old last id gets a snapshot, "
            "which carries the new session, instead of its first events"
        )
    if result.media_lost_s == 0:
        result.notes.append(
            "media lost is measured across the restart (both sessions): the new session "
            f"starts 3 segments behind the live edge, which covered the {result.fault_window_s:g}"
            " s the recorder was down"
        )
    else:
        result.notes.append(
            "media lost is measured across the restart (both sessions): a new session starts "
            "3 segments behind the live edge and does not resume the old one's media sequence"
        )
    if kill:
        result.check("old session INTERRUPTED", old["state"] == "INTERRUPTED")
        result.check(
            "its file recovered as INTERRUPTED",
            bool(old_rows) and all(r["state"] == "INTERRUPTED" for r in old_rows),
        )
    else:
        result.check(
            "old session STOPPED: recorder shutting down",
            old["state"] == "STOPPED" and old["end_reason"] == "recorder shutting down",
        )
        result.check(
            "its file finalized (COMPLETE)",
            bool(old_rows) and all(r["state"] == "COMPLETE" for r in old_rows),
        )
    result.check("auto-record resumed the channel", second["session_id"] != first["session_id"])
    return result


def case_recorder_sigterm(lab: Lab, short: bool) -> CaseResult:
    return _autorecord_case(
        lab, short, case="recorder-sigterm", title="recorder SIGTERM", kill=False
    )


def case_recorder_sigkill(lab: Lab, short: bool) -> CaseResult:
    return _autorecord_case(
        lab, short, case="recorder-sigkill", title="recorder SIGKILL", kill=True
    )
