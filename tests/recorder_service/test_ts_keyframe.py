"""Taking the last H.264 keyframe out of an MPEG-TS file, and decoding many of them with one
ffmpeg (real files written by ffmpeg's muxer, as the recorder's are)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from recorder_service.pictures import CANVAS, keyframes_command, split_jpegs
from recorder_service.ts_keyframe import H264, keyframe_of, nal_types, video_stream
from servicekit.ffmpeg import find_ffmpeg
from servicekit.images import jpeg_size
from simlab.fakes.chaturbate_pages import THUMBNAIL

FFMPEG = find_ffmpeg()


def _make(path: Path, *args: str) -> Path:
    subprocess.run(
        [FFMPEG, "-nostdin", "-hide_banner", "-v", "error", "-y", *args, str(path)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("ts")
    video = ("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=4")
    audio = ("-f", "lavfi", "-i", "sine=frequency=440:duration=4")
    h264 = ("-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac")
    ts = ("-f", "mpegts", "-mpegts_flags", "+resend_headers")
    upright = ("-f", "lavfi", "-i", "testsrc2=size=180x320:rate=25:duration=2")
    return {
        "h264": _make(d / "h264.ts", *video, *audio, *h264, "-output_ts_offset", "36000", *ts),
        "upright": _make(d / "upright.ts", *upright, "-c:v", "libx264", "-g", "25", *ts),
        "mpeg2": _make(d / "mpeg2.ts", *video, "-c:v", "mpeg2video", "-g", "25", *ts),
    }


def test_the_video_stream_is_read_from_the_pat_and_pmt(files: dict[str, Path]) -> None:
    head = files["h264"].read_bytes()[: 188 * 16]
    found = video_stream(head)
    assert found is not None and found[1] == H264
    assert video_stream(b"\x47" + bytes(187)) is None


def test_the_last_keyframe_is_whole_and_decodes_on_its_own(files: dict[str, Path]) -> None:
    unit = keyframe_of(files["h264"], 2_000_000)
    assert unit is not None and {5, 7, 8} <= nal_types(unit)
    frames = split_jpegs(_decode(unit))
    assert len(frames) == 1 and jpeg_size(frames[0]) == (320, 180)


def test_a_keyframe_cut_off_by_the_end_of_a_growing_file_is_passed_over(
    files: dict[str, Path], tmp_path: Path
) -> None:
    data = files["h264"].read_bytes()
    last = keyframe_of(files["h264"], len(data))
    assert last is not None
    # The file as it was while the last keyframe was being written: cut inside it.
    at = data.rfind(last[:64]) if last[:64] in data else -1
    cut = tmp_path / "growing.ts"
    cut.write_bytes(data[: (at if at > 0 else len(data) - 4000) + 2000 + 7])
    earlier = keyframe_of(cut, len(data))
    assert earlier is not None and earlier != last


def test_no_keyframe_when_there_is_none_to_take(files: dict[str, Path], tmp_path: Path) -> None:
    assert keyframe_of(files["mpeg2"], 2_000_000) is None  # not H.264: ffmpeg reads the file
    assert keyframe_of(files["h264"], 188 * 3) is None  # a window with no whole keyframe
    assert keyframe_of(tmp_path / "gone.ts", 1000) is None
    junk = tmp_path / "junk.ts"
    junk.write_bytes(THUMBNAIL * 100)
    assert keyframe_of(junk, 100_000) is None


def _decode(*units: bytes, canvas: tuple[int, int] = CANVAS["landscape"]) -> bytes:
    return subprocess.run(
        keyframes_command(FFMPEG, canvas),
        input=b"".join(units),
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout


def test_keyframes_of_several_files_and_sizes_decode_in_one_ffmpeg_in_order(
    files: dict[str, Path],
) -> None:
    wide = keyframe_of(files["h264"], 2_000_000)
    upright = keyframe_of(files["upright"], 2_000_000)
    assert wide is not None and upright is not None
    frames = split_jpegs(_decode(wide, upright, wide))
    assert [jpeg_size(f) for f in frames] == [(320, 180)] * 3
    # In order: the upright video is the pillarboxed one (black at the sides), between two
    # wide ones (testsrc2 fills the frame).
    assert [_left_edge(f) < 20 for f in frames] == [False, True, False]
    portrait = split_jpegs(_decode(upright, canvas=CANVAS["portrait"]))
    assert [jpeg_size(f) for f in portrait] == [(180, 320)]


def _left_edge(jpeg: bytes) -> float:
    """The mean brightness of the leftmost 40 columns of a 320x180 JPEG."""
    gray = subprocess.run(
        [FFMPEG, "-v", "error", "-i", "pipe:0", "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1"],
        input=jpeg,
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    edge = [gray[y * 320 + x] for y in range(180) for x in range(40)]
    return sum(edge) / len(edge)


def test_split_jpegs() -> None:
    assert split_jpegs(THUMBNAIL * 3) == [THUMBNAIL] * 3
    assert split_jpegs(b"") == [] and split_jpegs(b"<html>") == []
