"""What one ffmpeg stderr line tells the runner, as a typed observation.

ffmpeg runs at ``-loglevel repeat+level+info``: its info lines name every file it opens
(playlists and segments), its warnings name segments it skipped or could not fetch and
timestamp discontinuities. Anything else is only logged (at the level ``line_level`` gives),
and a warning or error is kept for the reason of a failed session.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from recorder_service.discontinuity import TimestampJump, parse_jump
from recorder_service.ffmpeg_output import is_info, line_level
from recorder_service.hls_window import segment_path

_OPENING = re.compile(r"Opening '([^']+)' for reading")
_SKIPPED = re.compile(r"skipping (\d+) segments? ahead, expired from playlists")
_FAILED_SEGMENT = re.compile(r"Failed to open segment (\d+) of playlist (\d+)")


@dataclass(frozen=True)
class Quiet:
    """An info line that says nothing the runner acts on (a playlist reload...): not logged."""


@dataclass(frozen=True)
class SegmentOpened:
    """ffmpeg opened a media segment (info line); ``path`` is its URL without the query."""

    path: str


@dataclass(frozen=True)
class Said:
    """A line ffmpeg logged at ``level`` (WARNING and above are kept for a failed session's
    reason). The other observations that come from such lines carry it too."""

    level: int


@dataclass(frozen=True)
class SegmentsSkipped(Said):
    """``count`` segments expired from the live window before ffmpeg read them."""

    count: int


@dataclass(frozen=True)
class SegmentFailed(Said):
    """ffmpeg could not fetch segment ``number`` of playlist ``playlist`` (it may go on past
    it, or exit)."""

    number: str
    playlist: str


@dataclass(frozen=True)
class TimestampJumped(Said):
    """A "timestamp discontinuity" warning (see ``recorder_service.discontinuity``)."""

    jump: TimestampJump


Observation = Quiet | SegmentOpened | Said


def parse(line: str) -> Observation:
    """What ``line`` (one ffmpeg stderr line, proxy already hidden) tells."""
    if is_info(line):
        m = _OPENING.search(line)
        if m is None:
            return Quiet()
        path = segment_path(m[1])
        if path.endswith((".m3u8", ".m3u")):
            return Quiet()
        return SegmentOpened(path)
    level = line_level(line)
    if m := _SKIPPED.search(line):
        return SegmentsSkipped(level, int(m[1]))
    if m := _FAILED_SEGMENT.search(line):
        return SegmentFailed(level, m[1], m[2])
    if jump := parse_jump(line):
        return TimestampJumped(level, jump)
    return Said(level)


def is_warning(observation: Observation) -> bool:
    """True for a line worth quoting when the session fails (a warning or an error)."""
    return isinstance(observation, Said) and observation.level >= logging.WARNING


def input_of(path: str, media_url: str, audio_url: str | None) -> int:
    """0 for the video input, 1 for a separate audio rendition (by the closest folder)."""
    if not audio_url:
        return 0
    video = segment_path(media_url).rsplit("/", 1)[0]
    audio = segment_path(audio_url).rsplit("/", 1)[0]
    if video != audio:
        return 1 if path.startswith(audio + "/") else 0
    return 1 if "audio" in path.rsplit("/", 1)[-1].lower() else 0
