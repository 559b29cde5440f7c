"""How long a segment of the stream lasts, from the media time ffmpeg reports and the segments
it opened, not from when its log lines are read.

The runner reads ffmpeg's stderr in batches (``FfmpegProcess(stderr_batch_s=...)``), so the
times at which "Opening" lines are handled say nothing about the stream's cadence. Media time
over segments opened does, whatever the batching: over a window of several progress reports
(``window``), media seconds advanced / segments opened. ffmpeg opens a segment before it muxes
it, so one report's ratio is off by up to a segment; over a window of several it is not.

Early in a recording the window is short and the estimate can be far off (CI saw 0.6 s for 1 s
segments, which made a gap of 5 expired segments 3 s long). The length the playlist itself
declares (``declare``: its #EXTINF durations) therefore wins once the runner has read it."""

from __future__ import annotations

import collections

DEFAULT_SEGMENT_S = 2.0
_MIN_SEGMENTS = 3


class SegmentClock:
    def __init__(self, default_s: float = DEFAULT_SEGMENT_S, window: int = 24) -> None:
        self._opened = 0
        self._marks: collections.deque[tuple[int, float]] = collections.deque(maxlen=window)
        self._estimate = default_s
        self.declared: float | None = None

    @property
    def seconds(self) -> float:
        """The segment length the playlist declares once known, else the estimate."""
        return self.declared if self.declared is not None else self._estimate

    def declare(self, seconds: float) -> None:
        """The playlist's own segment length (the mean #EXTINF of its window)."""
        if seconds > 0:
            self.declared = seconds

    def opened(self) -> None:
        """ffmpeg opened a media segment."""
        self._opened += 1

    def progress(self, out_time_s: float) -> None:
        """ffmpeg reported its media time (of the current process)."""
        self._marks.append((self._opened, out_time_s))
        first_count, first_time = self._marks[0]
        segments = self._opened - first_count
        media = out_time_s - first_time
        if segments >= _MIN_SEGMENTS and media > 0:
            self._estimate = media / segments

    def restart(self) -> None:
        """A new ffmpeg: its media time starts again; the estimate so far is kept."""
        self._marks.clear()
