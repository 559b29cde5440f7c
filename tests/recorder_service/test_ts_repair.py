"""A TS file cut mid-write (its ffmpeg was killed) gets its torn last frame cut off, and then
decodes to its end; a file ffmpeg finished is left alone."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from recorder_service.ts_repair import TS_PACKET, trim_torn_tail
from servicekit.ffmpeg import find_ffmpeg
from simlab.media_check import decode


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ts") / "clip.ts"
    subprocess.run(
        [
            find_ffmpeg(), "-hide_banner", "-v", "error",
            "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25",
            "-f", "lavfi", "-i", "sine=frequency=440",
            "-t", "4", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac",
            "-f", "mpegts", str(path),
        ],
        check=True,
        timeout=60,
    )  # fmt: skip
    return path


@pytest.mark.parametrize("fraction", [0.37, 0.61, 0.93])
def test_a_torn_file_is_cut_back_to_its_last_whole_frame(
    clip: Path, tmp_path: Path, fraction: float
) -> None:
    data = clip.read_bytes()
    cut = int(len(data) * fraction)
    if cut % TS_PACKET == 0:
        cut += 77
    torn = tmp_path / "torn.ts"
    torn.write_bytes(data[:cut])
    assert not decode(torn).ok  # the last frame is incomplete
    removed = trim_torn_tail(torn)
    assert 0 < removed < 64 * 1024
    assert torn.stat().st_size == cut - removed and torn.stat().st_size % TS_PACKET == 0
    result = decode(torn)
    assert result.ok, result.errors
    assert result.seconds > 4 * fraction - 0.5


def test_a_finished_file_and_other_files_are_left_alone(clip: Path, tmp_path: Path) -> None:
    assert trim_torn_tail(clip) == 0
    other = tmp_path / "notes.mp4"
    other.write_bytes(b"x" * 1001)
    assert trim_torn_tail(other) == 0 and other.stat().st_size == 1001
    assert trim_torn_tail(tmp_path / "missing.ts") == 0
