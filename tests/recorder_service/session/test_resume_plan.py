"""Where a restarted ffmpeg picks up, and the gap the restart implies: a table."""

from __future__ import annotations

import pytest

from recorder_service.hls_window import Window
from recorder_service.resume_check import ResumePlan
from recorder_service.session.resume_plan import ResumeAt, plan_resume


def _window(first: int, count: int, *, ended: bool = False) -> Window:
    return Window(
        tuple(f"/live/v0/seg_{n}.ts" for n in range(first, first + count)), (2.0,) * count, ended
    )


LAST = "/live/v0/seg_10.ts"
W = _window(8, 5)  # seg_8 .. seg_12: holds seg_10 at 2, the next at 3
MOVED = _window(20, 5)  # seg_20 .. seg_24: 10 s listed
EMPTY = Window((), (), False)
ENDED = _window(8, 5, ended=True)

ROWS: list[tuple[str, Window | None, bool, float, ResumeAt]] = [
    # The window still holds the last recorded segment: start on it (one segment of overlap),
    # nothing lost; the audio index counts from the live edge.
    ("holds the next", W, False, 30.0, ResumeAt(2, None, ResumePlan(W, 2))),
    ("holds the next, audio", W, True, 30.0, ResumeAt(2, -3, ResumePlan(W, 2))),
    # The last recorded segment is the window's newest: start on it still.
    ("at the edge", _window(6, 5), False, 5.0, ResumeAt(4, None, ResumePlan(_window(6, 5), 4))),
    # It is the window's oldest: index 0, never below.
    ("at the start", _window(10, 5), False, 5.0, ResumeAt(0, None, ResumePlan(_window(10, 5), 0))),
    # The window moved past it: from the window's start; the outage less what the window
    # still holds is lost.
    ("moved past", MOVED, False, 30.0, ResumeAt(0, None, None, 20.0)),
    ("moved past, audio", MOVED, True, 30.0, ResumeAt(0, -5, None, 20.0)),
    # A short outage the window does not cover: at least one segment lost.
    ("moved past, short", MOVED, False, 4.0, ResumeAt(0, None, None, 6.0)),
    # An empty window lists nothing: all of the outage is lost.
    ("empty window", EMPTY, False, 30.0, ResumeAt(0, None, None, 30.0)),
    ("empty window, audio", EMPTY, True, 30.0, ResumeAt(0, 0, None, 30.0)),
    # An ended playlist is planned like a live one (the new ffmpeg reads it to its end).
    ("ended, holds it", ENDED, False, 30.0, ResumeAt(2, None, ResumePlan(ENDED, 2))),
    ("ended, moved past", _window(20, 5, ended=True), False, 30.0, ResumeAt(0, None, None, 20.0)),
    # The playlist could not be read: from the window's start, checked by segment numbers.
    ("unreadable", None, False, 30.0, ResumeAt(0, None, ResumePlan.blind(LAST))),
    ("unreadable, audio", None, True, 30.0, ResumeAt(0, 0, ResumePlan.blind(LAST))),
]


@pytest.mark.parametrize(
    ("window", "has_audio", "outage", "expected"),
    [r[1:] for r in ROWS],
    ids=[r[0] for r in ROWS],
)
def test_plan_resume(
    window: Window | None, has_audio: bool, outage: float, expected: ResumeAt
) -> None:
    at = plan_resume(window, LAST, has_audio=has_audio, outage_s=outage, segment_seconds=6.0)
    assert at == expected
