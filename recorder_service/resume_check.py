"""Did a restarted ffmpeg really start where it was told to?

After a restart ffmpeg gets ``-live_start_index`` aimed at the last recorded segment, an index
into the playlist as the watchdog read it. ffmpeg reads the playlist again itself; if the window
slid by more than one segment in between, the index lands later and the segments in between are
never fetched, silently. The first media segment the new ffmpeg opens tells: anything after
the segment that follows the last recorded one was skipped. The same holds when the playlist
could not be read at all (ffmpeg then starts at its default, near the live edge, and may find
the playlist readable again a moment later).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from recorder_service.hls_window import Window

_NUMBER = re.compile(r"(\d+)(\D*)$")


@dataclass(frozen=True)
class ResumePlan:
    """The playlist read before the restart and the index in it of the last recorded
    segment."""

    window: Window
    last: int

    @classmethod
    def blind(cls, last_path: str) -> ResumePlan:
        """The plan when the playlist could not be read before the restart: ffmpeg starts at
        its default (near the live edge), and only segment numbers can tell what it skipped."""
        return cls(Window((last_path,), (0.0,), False), 0)

    def is_media(self, path: str) -> bool:
        """False for an initialization section (#EXT-X-MAP), which ffmpeg opens first."""
        return path not in self.window.init_paths


@dataclass(frozen=True)
class Skipped:
    """Segments a restarted ffmpeg skipped: how many, their seconds, and what was seen."""

    count: int
    seconds: float
    detail: str


def _numbered(path: str) -> tuple[str, int, str] | None:
    """A segment path as (before, number, after) by the last run of digits of its name
    without the extension (the 4 of ".m4s" is no sequence number)."""
    folder, _, name = path.rpartition("/")
    stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
    m = _NUMBER.search(stem)
    if m is None:
        return None
    return f"{folder}/{stem[: m.start()]}", int(m[1]), f"{m[2]}{dot}{ext}"


def _count_between(last: str, first: str) -> int | None:
    """Segments between ``last`` and ``first`` by their numbers, when both are numbered
    alike (None when they are not)."""
    a, b = _numbered(last), _numbered(first)
    if a is None or b is None or (a[0], a[2]) != (b[0], b[2]) or b[1] <= a[1]:
        return None
    return b[1] - a[1] - 1


def check_resume(plan: ResumePlan, first: str, segment_seconds: float) -> Skipped | None:
    """The segments skipped when ``first`` is the first media segment the restarted ffmpeg
    opened (None: nothing skipped, or nothing can be told). Durations come from the playlist;
    ``segment_seconds`` (the runner's estimate) stands in for segments it does not list."""
    window = plan.window
    paths = window.paths
    last = paths[plan.last]
    name = first.rsplit("/", 1)[-1]
    after = list(range(plan.last + 1, len(paths)))
    if first in paths:
        at = paths.index(first)
        if at <= plan.last + 1:
            return None
        gone = after[: at - plan.last - 1]
        extra = 0
    else:
        count = _count_between(last, first)
        if count is None or count <= 0:
            return None
        gone = after[:count]
        extra = count - len(gone)
    seconds = sum(window.durations[i] or segment_seconds for i in gone) + extra * segment_seconds
    count = len(gone) + extra
    return Skipped(
        count,
        seconds,
        f"resumed at {name} instead of the segment after {last.rsplit('/', 1)[-1]}: "
        f"{count} segment(s) left the live window before ffmpeg read the playlist",
    )
