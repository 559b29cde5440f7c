"""When the watchdog looks at a session's files again, and when it calls ffmpeg stalled."""

from __future__ import annotations

FIRST_BYTES_POLL_S = 0.05
STALL_POLL_S = 0.5


def is_stalled(now: float, advanced_at: float, stall_timeout: float) -> bool:
    """No media time and no bytes since ``advanced_at`` for longer than the stall timeout."""
    return now - advanced_at > stall_timeout


def watch_delay(
    *,
    starting: bool,
    now: float,
    progress_at: float,
    advanced_at: float,
    progress_interval: float,
    stall_timeout: float,
) -> float:
    """How long the watchdog sleeps: 50 ms while it waits for the first bytes; but while
    ffmpeg reports progress (each report notes any advance, media time or bytes) nothing can
    be noticed before the stall deadline, so it sleeps until then (or until the reports would
    be overdue), at least the file poll interval. One wakeup per stall timeout instead of two
    a second per session. ``progress_at``: the last report (0: none yet)."""
    if starting:
        return FIRST_BYTES_POLL_S
    overdue = progress_at + 2 * progress_interval + STALL_POLL_S
    if now >= overdue:
        return STALL_POLL_S
    return max(STALL_POLL_S, min(advanced_at + stall_timeout, overdue) - now)
