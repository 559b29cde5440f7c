"""Discontinuities (an encoder restart, ``#EXT-X-DISCONTINUITY``) from what ffmpeg already says.

ffmpeg does not log the playlist tag, but when the timestamps of an input jump back (or more
than 10 s ahead: its ``-dts_delta_threshold``) it re-bases them so the recording stays
continuous and warns once per input: ``[vist#0:0/h264 @ ...] timestamp discontinuity (stream
id=0): -12000000, new offset= 12000000`` (microseconds). That line costs nothing to watch for;
only when it appears is the playlist read, once, to measure the wall-clock time the break
skipped from the program date-times around the tagged segment.

Not every such line is a new gap: segments that expired unread make the timestamps jump ahead
too, and those are in the ledger already (SKIPPED_SEGMENT, FAILED_FETCH); with a separate audio
rendition both inputs report the same break.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from recorder_service.hls_window import Window

_JUMP = re.compile(
    r"\[[av]ist#(\d+):\d+[^\]]*\].*timestamp discontinuity \(stream id=\d+\): (-?\d+), new offset"
)
# Measured differences below this are rounding (EXTINF, millisecond date-times), not a gap.
_NOISE_S = 0.1


@dataclass(frozen=True)
class TimestampJump:
    """One "timestamp discontinuity" warning: the input (0 video, 1 a separate audio
    rendition) and how far its timestamps jumped (seconds; negative: back)."""

    input_index: int
    seconds: float


def parse_jump(line: str) -> TimestampJump | None:
    """The jump an ffmpeg stderr line reports, if it is a "timestamp discontinuity" warning."""
    m = _JUMP.search(line)
    if m is None:
        return None
    return TimestampJump(int(m[1]), int(m[2]) / 1e6)


class JumpFilter:
    """Decides which jumps are discontinuities of their own (see the module docs)."""

    def __init__(self) -> None:
        self._noted_at: float | None = None
        self._skipped_at: float | None = None

    def skipped(self, now: float) -> None:
        """ffmpeg reported segments it skipped or could not read (a gap already noted)."""
        self._skipped_at = now

    def accept(self, jump: TimestampJump, now: float, segment_seconds: float) -> bool:
        """True when ``jump`` (seen at ``now``, monotonic seconds) is a new discontinuity."""
        within = max(1.0, 2 * segment_seconds)
        if jump.seconds > 0 and self._skipped_at is not None and now - self._skipped_at < within:
            return False
        if self._noted_at is not None and now - self._noted_at < within:
            return False
        self._noted_at = now
        return True


@dataclass(frozen=True)
class Measure:
    """Media missing across a discontinuity: seconds (0 when unknown) and how it was found."""

    seconds: float
    how: str


def measure(window: Window, segment: str) -> Measure:
    """What the playlist says of the break ffmpeg met at (or just around) ``segment``: the
    tagged segment's program date-time against the end of the one before it."""
    name = segment.rsplit("/", 1)[-1]
    try:
        at = window.paths.index(segment)
    except ValueError:
        return Measure(0.0, f"{name} has left the playlist: media lost across it unknown")
    tagged = [i for i in (at, at + 1, at - 1) if 0 < i < len(window.discontinuities)]
    tagged = [i for i in tagged if window.discontinuities[i]]
    if not tagged:
        return Measure(0.0, f"no #EXT-X-DISCONTINUITY around {name}: media lost across it unknown")
    index = tagged[0]
    gap = window.wallclock_gap_before(index)
    name = window.paths[index].rsplit("/", 1)[-1]
    if gap is None:
        return Measure(
            0.0,
            f"#EXT-X-DISCONTINUITY before {name}, without PROGRAM-DATE-TIME: "
            "media lost across it unknown",
        )
    seconds = gap if gap >= _NOISE_S else 0.0
    return Measure(
        seconds,
        f"#EXT-X-DISCONTINUITY before {name}; PROGRAM-DATE-TIME shows {seconds:.1f}s "
        "of wall clock without media",
    )


def describe(jump: TimestampJump, found: Measure) -> str:
    """The ledger's detail for a discontinuity."""
    way = "back" if jump.seconds < 0 else "ahead"
    return f"timestamps jumped {way} {abs(jump.seconds):.1f}s ({found.how})"
