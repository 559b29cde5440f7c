"""One ffmpeg log line to what it tells the runner: a table."""

from __future__ import annotations

import logging

import pytest

from recorder_service.discontinuity import TimestampJump
from recorder_service.session.ffmpeg_log import (
    Observation,
    Quiet,
    Said,
    SegmentFailed,
    SegmentOpened,
    SegmentsSkipped,
    TimestampJumped,
    input_of,
    is_warning,
    parse,
)

W, E, INF = logging.WARNING, logging.ERROR, logging.INFO

LINES: list[tuple[str, Observation]] = [
    # Segments opened (info lines), by path without the CDN token.
    (
        "[hls @ 0x1] [info] Opening 'https://cdn/live/v0/seg_12.ts?token=t' for reading",
        SegmentOpened("/live/v0/seg_12.ts"),
    ),
    (
        "[hls @ 0x1] [verbose] Opening 'https://cdn/live/v0/init.mp4' for reading",
        SegmentOpened("/live/v0/init.mp4"),
    ),
    # Playlists opened, and other info lines: nothing to act on.
    ("[hls @ 0x1] [info] Opening 'https://cdn/live/v0/index.m3u8?t=1' for reading", Quiet()),
    ("[hls @ 0x1] [info] Opening 'https://cdn/live/index.m3u' for reading", Quiet()),
    ("[hls @ 0x1] [debug] Skip ('#EXT-X-VERSION:3')", Quiet()),
    # Warnings the runner acts on.
    (
        "[in#0/hls @ 0x1] [warning] skipping 15 segments ahead, expired from playlists",
        SegmentsSkipped(W, 15),
    ),
    (
        "[in#0/hls @ 0x1] [warning] skipping 1 segment ahead, expired from playlists",
        SegmentsSkipped(W, 1),
    ),
    (
        "[hls @ 0x1] [warning] Failed to open segment 1234 of playlist 0",
        SegmentFailed(W, "1234", "0"),
    ),
    (
        "[vist#0:0/h264 @ 0x5561] [warning] timestamp discontinuity (stream id=0): -12000000, "
        "new offset= 12000000",
        TimestampJumped(W, TimestampJump(0, -12.0)),
    ),
    (
        "[aist#1:0/aac @ 0x55f5] [warning] timestamp discontinuity (stream id=0): 15000000, "
        "new offset= -15000000",
        TimestampJumped(W, TimestampJump(1, 15.0)),
    ),
    # Everything else is only logged, at its level.
    ("[https @ 0x1] [error] HTTP error 404 Not Found", Said(E)),
    ("[in#0 @ 0x1] [fatal] Error opening input files: Input/output error", Said(E)),
    ("[q] command received. Exiting.", Said(INF)),
    ("Exiting normally, received signal 2.", Said(INF)),
    ("[hls @ 0x1] [warning] skipping 15 segments ahead", Said(W)),
    ("no level at all", Said(W)),
    # An "Opening" line that is not an info line is just a warning.
    ("[hls @ 0x1] [warning] Opening 'https://cdn/a.ts' for reading", Said(W)),
]


@pytest.mark.parametrize(("line", "expected"), LINES)
def test_parse(line: str, expected: Observation) -> None:
    assert parse(line) == expected


@pytest.mark.parametrize(
    ("observation", "warning"),
    [
        (Quiet(), False),
        (SegmentOpened("/a.ts"), False),
        (Said(INF), False),
        (Said(W), True),
        (Said(E), True),
        (SegmentsSkipped(W, 2), True),
    ],
)
def test_is_warning(observation: Observation, warning: bool) -> None:
    assert is_warning(observation) is warning


V = "https://cdn/live/v0/index.m3u8?t=1"


@pytest.mark.parametrize(
    ("path", "media_url", "audio_url", "expected"),
    [
        # No separate audio: always the video input.
        ("/live/a0/seg_1.ts", V, None, 0),
        ("/live/a0/seg_1.ts", V, "", 0),
        # Separate folders: by folder.
        ("/live/a0/seg_1.aac", V, "https://cdn/live/a0/index.m3u8", 1),
        ("/live/v0/seg_1.ts", V, "https://cdn/live/a0/index.m3u8", 0),
        # One folder: by "audio" in the file name.
        ("/live/v0/seg_audio_1.aac", V, "https://cdn/live/v0/audio.m3u8", 1),
        ("/live/v0/seg_Audio_1.aac", V, "https://cdn/live/v0/audio.m3u8", 1),
        ("/live/v0/seg_video_1.ts", V, "https://cdn/live/v0/audio.m3u8", 0),
    ],
)
def test_input_of(path: str, media_url: str, audio_url: str | None, expected: int) -> None:
    assert input_of(path, media_url, audio_url) == expected
