"""Where a restarted ffmpeg picks up, and what the restart lost.

The runner knows the last segment ffmpeg opened; after a restart it reads the live window
(``hls_window.fetch_window``) and hands both here. While the window still lists that segment,
ffmpeg starts on it (``-live_start_index``; see ``plan_resume``) and nothing is lost; once the
window has moved past it, ffmpeg starts at the window's first segment and the media published
during the outage that the window no longer holds is a RESTART gap.
"""

from __future__ import annotations

from dataclasses import dataclass

from recorder_service.hls_window import Window
from recorder_service.resume_check import ResumePlan

LOST_DETAIL = "the live window moved past the last recorded segment during the outage"


@dataclass(frozen=True)
class ResumeAt:
    """``-live_start_index`` for the video and the separate audio (None: ffmpeg's default),
    the plan the new ffmpeg's first segment is checked against (None: nothing to check), and
    the seconds lost across the restart (None: nothing known lost)."""

    video: int | None
    audio: int | None
    plan: ResumePlan | None
    lost_s: float | None = None


def plan_resume(
    window: Window | None,
    last: str,
    *,
    has_audio: bool,
    outage_s: float,
    segment_seconds: float,
) -> ResumeAt:
    """Where to resume after ``last`` (the last recorded segment's path) in ``window`` (None:
    the playlist could not be read). ``outage_s``: since media last advanced; the audio index
    counts from the live edge (the renditions' windows differ in length, not in their edge)."""
    if window is None:
        # Mid-outage (a 404 burst) the read fails, and the outage may end before ffmpeg's own
        # read: started at its default (three segments from the live edge) it would skip what
        # was published meanwhile. From the window's start it repeats a few segments at the
        # start of the new part instead of losing them.
        return ResumeAt(0, 0 if has_audio else None, ResumePlan.blind(last))
    index = window.resume_index(last)
    plan: ResumePlan | None = None
    lost: float | None = None
    if index is not None:
        # Start on the last recorded segment itself: ffmpeg loads the playlist again a moment
        # later, and if a segment was published in between the window's start has moved and
        # its index points one segment further on (a silent loss). One segment of overlap, at
        # the start of a new part, is the safe side of that race; a window that slid further
        # is caught at the first segment the new ffmpeg opens.
        index = max(0, index - 1)
        plan = ResumePlan(window, index)
    else:
        lost = max(segment_seconds, outage_s - window.seconds)
        index = 0
    audio = index - len(window.paths) if has_audio else None
    return ResumeAt(index, audio, plan, lost)
