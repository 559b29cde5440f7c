"""The fault suite's cases, one module per case (or per family sharing one function), registered
in one ordered table: the order and names of the report."""

from __future__ import annotations

from tools.faults.cases.disk_low import case_disk_low
from tools.faults.cases.ffmpeg_sigkill import case_ffmpeg_sigkill
from tools.faults.cases.gateway_restart import case_gateway_restart
from tools.faults.cases.http_burst import case_404_burst, case_500_burst
from tools.faults.cases.playlist_stall import case_playlist_stall
from tools.faults.cases.recorder_kill import case_recorder_sigkill, case_recorder_sigterm
from tools.faults.cases.resolver_restart import case_resolver_restart
from tools.faults.cases.slow_origin import case_slow_origin
from tools.faults.cases.token_expiry import case_token_expiry
from tools.faults.cases.window_jump import case_window_jump
from tools.faults.runner import Case

CASES: dict[str, Case] = {
    c.name: c
    for c in (
        Case(
            "playlist-stall",
            "playlist stall",
            case_playlist_stall,
            False,
            "The media playlist freezes for 30 s (newer segments 404) while the live clock runs "
            "on; the window is 40 segments so it still holds everything published meanwhile. "
            "Checked: STALLED after STALL_TIMEOUT (5 s), ffmpeg stopped and restarted, then "
            "resumed where the recording stopped (`-live_start_index`): 0 s lost (every "
            "segment fetched), no gap in the ledger, every part decodes.",
        ),
        Case(
            "404-burst",
            "404 burst",
            case_404_burst,
            True,
            "Every request of the stream answers 404 for 10 s (window 15). ffmpeg exits (with "
            "code 0); the watchdog asks the resolver, treats a 'not found' shorter than "
            "STREAM_END_GRACE as a burst, and restarts with -live_start_index where the "
            "recording stopped. Target: 0 s lost, no ledger gap, files decode.",
        ),
        Case(
            "500-burst",
            "500 burst",
            case_500_burst,
            True,
            "Every request answers 500 for 10 s (window 15). Same checks as the 404 burst: "
            "0 s lost, no ledger gap, files decode (ffmpeg may or may not exit on a 5xx).",
        ),
        Case(
            "window-jump",
            "window jump",
            case_window_jump,
            True,
            "The live edge jumps 20 segments ahead at once with a window of 6, so segments "
            "expire before ffmpeg can read them. Loss is expected here: the check is that it is "
            "not silent: a GAP event and a ledger entry whose duration is within max(1.5 s, "
            "30 %) of the media actually lost (from the origin's log).",
        ),
        Case(
            "token-expiry-403",
            "403 on token expiry",
            case_token_expiry,
            False,
            "A Chaturbate username target: the fake site hands out the CDN URL with token t1. "
            "Mid-stream the CDN stops accepting t1 (every request 403) and the site hands out "
            "t2. The watchdog re-resolves through the site, gets t2 and resumes. Fault window "
            "here = from the expiry to recording again. Target: 0 s lost, files decode.",
        ),
        Case(
            "slow-origin",
            "slow origin",
            case_slow_origin,
            False,
            "Every response of the stream waits 1.5 s for 15 s (1 s segments: the origin "
            "serves slower than real time). Checked: the session survives and any loss is "
            "accounted for in the ledger (no silent loss); files decode.",
        ),
        Case(
            "ffmpeg-sigkill",
            "ffmpeg SIGKILL",
            case_ffmpeg_sigkill,
            True,
            "The session's ffmpeg (found by PID among the recorder's descendants) is killed "
            "with SIGKILL. The watchdog sees the exit, the resolver says live, ffmpeg is "
            "restarted into a new part resuming where the recording stopped. Target: "
            "restarts >= 1, 0 s lost, every part (the killed one included) decodes.",
        ),
        Case(
            "recorder-sigterm",
            "recorder SIGTERM",
            case_recorder_sigterm,
            False,
            "A watch-list channel (fake Chaturbate site, AUTORECORD_INTERVAL=2) is recorded by "
            "auto-record; the recorder gets SIGTERM and is started again at once. Checked: exit "
            "0 within the grace, no ffmpeg left, the session STOPPED with 'recorder shutting "
            "down', its file COMPLETE and decodable, and auto-record records the channel again. "
            "Media lost is measured across the restart (fault window = recorder down time).",
        ),
        Case(
            "recorder-sigkill",
            "recorder SIGKILL",
            case_recorder_sigkill,
            False,
            "The same with SIGKILL: the orphaned ffmpeg gets one SIGTERM (parent-death signal) "
            "and finishes its file; on restart the session is INTERRUPTED, its file recovered "
            "(INTERRUPTED) and decodable to its end, and auto-record resumes the channel.",
        ),
        Case(
            "resolver-restart",
            "resolver killed and restarted",
            case_resolver_restart,
            False,
            "The resolver is SIGKILLed while recording, then a 10 s 404 burst makes ffmpeg exit "
            "so the watchdog needs the resolver; it is started again after 8 s. Checked: the "
            "watchdog logs failed re-resolves and keeps trying with the last URL, the recording "
            "continues, 0 s lost (the outage is shorter than the window), files decode.",
        ),
        Case(
            "gateway-restart-sse",
            "gateway restarted, SSE client",
            case_gateway_restart,
            False,
            "A client follows /api/events; the gateway is restarted (SIGTERM, ~2 s down). The "
            "client reconnects with Last-Event-ID. Checked: event ids contiguous from the first "
            "snapshot to the end (no event missed, no second snapshot), and the recording is "
            "not affected (0 s lost, no restart).",
        ),
        Case(
            "disk-low",
            "disk below the watermark",
            case_disk_low,
            False,
            "MIN_FREE_BYTES is set 1 GiB below the free space (DISK_CHECK_INTERVAL=1), then a "
            "2 GiB ballast file is allocated. Checked: the running session is stopped with the "
            "low-disk reason, its file finalized and decodable, and a new start gets 507 "
            "LOW_DISK_SPACE. Fault window = ballast written to session stopped.",
        ),
    )
}
SHORT_CASES = [name for name, case in CASES.items() if case.short]
