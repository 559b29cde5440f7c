"""A .ts recording as an HLS playlist of byte ranges: cut at video keyframes, durations from
the timestamps, the whole file covered, and a growing file indexed incrementally."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from gateway.ts_playlist import PACKET, _is_keyframe, index_file, pes_pts, playlist, video_pid
from servicekit.ffmpeg import find_ffmpeg

SECONDS = 20


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 s of video (a keyframe every second) and audio, as ffmpeg's recorder writes it."""
    out = tmp_path_factory.mktemp("ts") / "rec.ts"
    subprocess.run(
        [
            find_ffmpeg(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size=320x180:rate=25:duration={SECONDS}",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:duration={SECONDS}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "25",
            "-b:v",
            "600k",
            "-c:a",
            "aac",
            "-f",
            "mpegts",
            str(out),
        ],
        check=True,
        timeout=60,
    )
    return out


def segments(text: str) -> list[tuple[float, int, int]]:
    found = re.findall(r"#EXTINF:([\d.]+),\n#EXT-X-BYTERANGE:(\d+)@(\d+)\n", text)
    return [(float(d), int(length), int(start)) for d, length, start in found]


def test_a_finished_file_is_covered_by_keyframe_cuts_whose_durations_add_up(
    recording: Path,
) -> None:
    index = index_file(recording)
    assert index is not None
    text = playlist(index, recording, "/streams/records/p/rec.ts", growing=False)
    assert text.startswith("#EXTM3U\n") and text.rstrip().endswith("#EXT-X-ENDLIST")
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text
    spans = segments(text)
    assert len(spans) >= 3
    # Contiguous, from the first byte to the last whole packet.
    position = 0
    for _, length, start in spans:
        assert start == position
        position += length
    assert position == recording.stat().st_size - recording.stat().st_size % PACKET
    # Every segment after the first starts at a keyframe of the video stream.
    data = recording.read_bytes()
    pid = video_pid(data[: 1 << 20])
    assert pid is not None
    for _, _, start in spans[1:]:
        assert _is_keyframe(data[start : start + PACKET], pid)
        assert pes_pts(data[start : start + PACKET]) is not None
    total = sum(d for d, _, _ in spans)
    assert abs(total - SECONDS) < 0.5, total
    # Whole keyframe intervals (1 s here) of about six seconds of bytes each, never more than
    # the target duration says.
    target = int(re.search(r"#EXT-X-TARGETDURATION:(\d+)", text).group(1))  # type: ignore[union-attr]
    assert all(d <= target for d, _, _ in spans)
    assert all(4.9 <= d <= 9.1 and abs(d - round(d)) < 0.01 for d, _, _ in spans[:-1])


def test_a_growing_file_is_indexed_incrementally_and_has_no_end_yet(
    recording: Path, tmp_path: Path
) -> None:
    growing = tmp_path / "growing.ts"
    data = recording.read_bytes()
    growing.write_bytes(data[: len(data) // 2])
    index = index_file(growing)
    assert index is not None
    first = playlist(index, growing, "/x.ts", growing=True)
    assert "#EXT-X-ENDLIST" not in first and "#EXT-X-PLAYLIST-TYPE:EVENT" in first
    half = segments(first)
    # The unfinished tail is left out while the file grows.
    assert sum(length for _, length, _ in half) < len(data) // 2
    with growing.open("ab") as f:
        f.write(data[len(data) // 2 :])
    continued = index_file(growing, index)
    fresh = index_file(recording)
    assert continued is not None and fresh is not None
    assert [c.offset for c in continued.cuts] == [c.offset for c in fresh.cuts]
    assert segments(playlist(continued, growing, "/x.ts", growing=True))[: len(half)] == half


def test_a_file_without_video_has_no_index(tmp_path: Path) -> None:
    audio = tmp_path / "audio.ts"
    subprocess.run(
        [
            find_ffmpeg(),
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=2",
            "-c:a",
            "aac",
            "-f",
            "mpegts",
            str(audio),
        ],
        check=True,
        timeout=30,
    )
    assert index_file(audio) is None
    junk = tmp_path / "junk.ts"
    junk.write_bytes(b"\x47" + b"\0" * 5000)
    assert index_file(junk) is None
