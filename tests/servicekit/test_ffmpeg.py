import os
import stat

import pytest

from servicekit import ffmpeg
from servicekit.ffmpeg import FfmpegNotFoundError, find_ffmpeg


@pytest.fixture(autouse=True)
def fresh_cache():
    ffmpeg._locate.cache_clear()
    yield
    ffmpeg._locate.cache_clear()


def test_ffmpeg_path_wins(tmp_path, monkeypatch):
    exe = tmp_path / "my-ffmpeg"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("FFMPEG_PATH", str(exe))
    assert find_ffmpeg() == str(exe)


def test_a_bad_ffmpeg_path_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FFMPEG_PATH", str(tmp_path / "missing"))
    with pytest.raises(FfmpegNotFoundError, match="FFMPEG_PATH"):
        find_ffmpeg()


def test_ffmpeg_on_path_comes_next(tmp_path, monkeypatch):
    exe = tmp_path / "ffmpeg"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    monkeypatch.delenv("FFMPEG_PATH", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_ffmpeg() == str(exe)


def test_the_wheel_binary_is_the_fallback(tmp_path, monkeypatch):
    monkeypatch.delenv("FFMPEG_PATH", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no ffmpeg here
    path = find_ffmpeg()
    assert "imageio_ffmpeg" in path and os.access(path, os.X_OK)
