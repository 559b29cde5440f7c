"""Measuring and remuxing recordings with the real ffmpeg, on small media made with lavfi."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from recorder_service.media import (
    MediaError,
    MediaNotFound,
    MediaTimeout,
    allowed_drift,
    mp4_name,
    probe_media_seconds,
    remux_to_mp4,
)
from servicekit.errors import ErrorKind, InvalidArgument
from servicekit.ffmpeg import find_ffmpeg
from simlab.media_check import decode, stream_kinds

FFMPEG = find_ffmpeg(None)
SECONDS = 6.0
# AAC priming and the last frame's duration make the span a little longer than requested.
CLOSE = 0.15

VIDEO = ["-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=25:duration={SECONDS}"]
AUDIO = ["-f", "lavfi", "-i", f"sine=frequency=440:duration={SECONDS}"]
# B-frames and a start far from zero, like a live encoder's stream copied by the recorder.
H264 = ["-c:v", "libx264", "-preset", "ultrafast", "-x264-params", "bframes=2:keyint=50"]
AAC = ["-c:a", "aac", "-b:a", "64k"]
TS = ["-output_ts_offset", "36000", "-f", "mpegts", "-mpegts_flags", "+resend_headers"]


def ffmpeg(*args: str) -> None:
    subprocess.run(
        [FFMPEG, "-nostdin", "-hide_banner", "-v", "error", "-y", *args],
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Source files made once per module; tests copy the ones they change or remux."""
    d = tmp_path_factory.mktemp("media")
    ffmpeg(*VIDEO, *AUDIO, *H264, *AAC, *TS, str(d / "av.ts"))
    ffmpeg(*AUDIO, *AAC, *TS, str(d / "audio.ts"))
    ffmpeg(*VIDEO, *H264, *TS, str(d / "video.ts"))
    ffmpeg("-i", str(d / "av.ts"), "-c", "copy", "-f", "mp4", str(d / "av.mp4"))
    ffmpeg("-i", str(d / "av.ts"), "-t", "2", "-c", "copy", "-f", "mp4", str(d / "short.mp4"))
    return {p.name: p for p in d.iterdir()}


@pytest.fixture
def recording(media: dict[str, Path], tmp_path: Path) -> Path:
    """A fresh copy of the audio+video TS, as the recorder leaves it."""
    path = tmp_path / "rec_2024-01-01_00-00-00.ts"
    shutil.copyfile(media["av.ts"], path)
    return path


WRAPPER = """#!{python}
import os, sys
real, mode, pids = {real!r}, {mode!r}, {pids!r}
args = sys.argv[1:]
part = args[-1] if args[-1].endswith(".mp4.part") else None  # the MP4 is being written
if part is not None or mode == "slow-probe":
    with open(pids, "a") as f:
        f.write(f"{{os.getpid()}}\\n")
if part is not None and mode == "fail":
    with open(part.removeprefix("file:"), "wb") as f:
        f.write(b"half an mp4")
    sys.exit(1)
if part is not None and mode == "short":
    args[args.index(part) : args.index(part)] = ["-t", "2"]
if (part is not None and mode == "slow") or mode == "slow-probe":
    args.insert(0, "-re")  # read at the native rate: the run lasts about 6 s
os.execv(real, [real, *args])
"""


@pytest.fixture
def wrapped(tmp_path: Path) -> Callable[[str], tuple[str, Path]]:
    """An "ffmpeg" that runs the real one, but bends the MP4 run (or every run, in
    "slow-probe" mode) as ``mode`` says and records its pid (execv keeps it) in a file."""

    def make(mode: str) -> tuple[str, Path]:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        script, pids = bin_dir / f"ffmpeg-{mode}", bin_dir / f"pids-{mode}"
        text = WRAPPER.format(python=sys.executable, real=FFMPEG, mode=mode, pids=str(pids))
        script.write_text(text)
        script.chmod(0o755)
        return str(script), pids

    return make


def alive(pid: int) -> bool:
    """True for a running process and for an exited one nobody has reaped yet."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def until(check: Callable[[], bool], within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not check():
        assert loop.time() < end, "condition never became true"
        await asyncio.sleep(0.02)


def leftovers(source: Path) -> list[str]:
    """Files next to ``source`` other than itself."""
    return sorted(p.name for p in source.parent.iterdir() if p != source and p.is_file())


def mp4_of(source: Path) -> Path:
    return source.with_suffix(".mp4")


# -- names and tolerance ------------------------------------------------------------------


def test_mp4_name_swaps_the_suffix():
    assert mp4_name("alice_2024-01-01_10-00-00.ts") == "alice_2024-01-01_10-00-00.mp4"
    assert mp4_name("a.b.TS") == "a.b.mp4"


def test_the_tolerance_grows_with_long_recordings():
    assert allowed_drift(10, 1.0) == 1.0
    assert allowed_drift(3600, 1.0) == pytest.approx(18.0)


# -- probe ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["av.ts", "audio.ts", "video.ts", "av.mp4"])
async def test_probe_measures_the_media_time(media, name):
    seconds = await probe_media_seconds(FFMPEG, media[name])
    assert seconds == pytest.approx(SECONDS, abs=CLOSE)


async def test_probe_of_a_file_cut_in_the_middle_gives_about_half(media, tmp_path):
    data = media["av.ts"].read_bytes()
    cut = tmp_path / "cut.ts"
    cut.write_bytes(data[: len(data) // 2])  # not on a 188-byte packet boundary
    seconds = await probe_media_seconds(FFMPEG, cut)
    assert SECONDS * 0.35 < seconds < SECONDS * 0.65


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, I am not a video\n", os.urandom(64 * 1024)],
    ids=["empty", "text", "random"],
)
async def test_probe_refuses_what_is_not_media(tmp_path, content):
    path = tmp_path / "bad.ts"
    path.write_bytes(content)
    with pytest.raises(MediaError) as err:
        await probe_media_seconds(FFMPEG, path)
    assert err.value.reason == "PROBE_FAILED"
    assert err.value.kind is ErrorKind.INTERNAL


async def test_probe_of_a_missing_file_is_not_found(tmp_path):
    with pytest.raises(MediaNotFound) as err:
        await probe_media_seconds(FFMPEG, tmp_path / "gone.ts")
    assert err.value.kind is ErrorKind.NOT_FOUND


async def test_probe_reads_no_playlist(media, tmp_path):
    # Without the demuxer whitelist ffmpeg reads this as HLS and measures av.ts through it.
    shutil.copyfile(media["av.ts"], tmp_path / "av.ts")
    playlist = tmp_path / "playlist.m3u8"
    playlist.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\nav.ts\n#EXT-X-ENDLIST\n")
    with pytest.raises(MediaError) as err:
        await probe_media_seconds(FFMPEG, playlist)
    assert err.value.reason == "PROBE_FAILED"


async def test_probe_timeout_kills_ffmpeg(media, wrapped):
    fake, pids = wrapped("slow-probe")
    with pytest.raises(MediaTimeout) as err:
        await probe_media_seconds(fake, media["av.ts"], timeout=0.5)
    assert err.value.reason == "PROBE_TIMEOUT"
    assert err.value.kind is ErrorKind.DEADLINE_EXCEEDED
    (pid,) = map(int, pids.read_text().split())
    assert not alive(pid)


# -- remux ---------------------------------------------------------------------------------


async def test_remux_writes_a_verified_faststart_mp4_and_removes_the_source(recording, caplog):
    caplog.set_level(logging.INFO, logger="recorder_service.media")
    result = await remux_to_mp4(FFMPEG, recording, keep_source=False)

    mp4 = mp4_of(recording)
    assert result.mp4_path == mp4 and result.source_removed and not result.reused
    assert not recording.exists()
    assert leftovers(recording) == [mp4.name]
    assert result.size_bytes == mp4.stat().st_size > 0
    assert result.source_seconds == pytest.approx(SECONDS, abs=CLOSE)
    assert result.mp4_seconds == pytest.approx(result.source_seconds, abs=0.1)

    data = mp4.read_bytes()
    assert 0 <= data.find(b"moov") < data.find(b"mdat")
    check = await asyncio.to_thread(decode, mp4)
    assert check.ok, check.errors
    assert check.seconds == pytest.approx(SECONDS, abs=CLOSE)
    assert await asyncio.to_thread(stream_kinds, mp4) == ["video", "audio"]

    (record,) = [r for r in caplog.records if getattr(r, "event.action", "") == "recording.remux"]
    assert getattr(record, "event.outcome") == "success"
    assert getattr(record, "file.path") == str(mp4)
    assert isinstance(getattr(record, "event.duration"), int)


async def test_remux_keeps_the_source_when_asked(recording):
    before = recording.read_bytes()
    result = await remux_to_mp4(FFMPEG, recording, keep_source=True)
    assert not result.source_removed
    assert recording.read_bytes() == before
    assert result.mp4_path.is_file()


@pytest.mark.parametrize("name", ["audio", "video"])
async def test_remux_of_a_single_stream_recording(media, tmp_path, name):
    source = tmp_path / f"{name}.ts"
    shutil.copyfile(media[f"{name}.ts"], source)
    result = await remux_to_mp4(FFMPEG, source, keep_source=False)
    assert result.mp4_seconds == pytest.approx(SECONDS, abs=CLOSE)
    assert await asyncio.to_thread(stream_kinds, result.mp4_path) == [name]


async def test_remux_of_a_recording_cut_by_a_kill(recording):
    data = recording.read_bytes()
    recording.write_bytes(data[: len(data) * 2 // 3])
    result = await remux_to_mp4(FFMPEG, recording, keep_source=False)
    assert SECONDS * 0.5 < result.mp4_seconds < SECONDS * 0.8
    # The frame cut in half stays broken (as in the TS), but everything up to it plays.
    check = await asyncio.to_thread(decode, result.mp4_path)
    assert check.seconds == pytest.approx(result.mp4_seconds, abs=0.1)


async def test_remux_of_something_that_is_not_media_leaves_it_alone(tmp_path):
    source = tmp_path / "broken.ts"
    source.write_bytes(b"\x47" + os.urandom(10_000))
    before = source.read_bytes()
    with pytest.raises(MediaError) as err:
        await remux_to_mp4(FFMPEG, source, keep_source=False)
    assert err.value.reason == "PROBE_FAILED"
    assert source.read_bytes() == before
    assert leftovers(source) == []


async def test_remux_refuses_an_mp4_source(media):
    with pytest.raises(InvalidArgument):
        await remux_to_mp4(FFMPEG, media["av.mp4"], keep_source=True)


async def test_a_failing_ffmpeg_leaves_the_source_and_no_part(recording, wrapped):
    fake, pids = wrapped("fail")
    with pytest.raises(MediaError) as err:
        await remux_to_mp4(fake, recording, keep_source=False)
    assert err.value.reason == "REMUX_FAILED"
    assert pids.exists()  # the MP4 run did happen and did write a .part
    assert recording.is_file()
    assert leftovers(recording) == []


async def test_a_short_mp4_is_rejected(recording, wrapped):
    fake, _ = wrapped("short")
    with pytest.raises(MediaError) as err:
        await remux_to_mp4(fake, recording, keep_source=False)
    assert err.value.reason == "REMUX_DURATION_MISMATCH"
    assert recording.is_file()
    assert leftovers(recording) == []


async def test_an_mp4_from_a_crashed_run_is_verified_and_reused(recording, media, wrapped):
    mp4 = mp4_of(recording)
    shutil.copyfile(media["av.mp4"], mp4)
    before = mp4.stat()
    fake, pids = wrapped("passthrough")
    result = await remux_to_mp4(fake, recording, keep_source=False)
    assert result.reused and result.source_removed
    assert not pids.exists()  # no second remux
    assert not recording.exists()
    after = mp4.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert leftovers(recording) == [mp4.name]


@pytest.mark.parametrize("existing", ["short", "junk"])
async def test_an_mp4_that_does_not_match_is_left_alone(recording, media, existing):
    mp4 = mp4_of(recording)
    if existing == "short":
        shutil.copyfile(media["short.mp4"], mp4)
    else:
        mp4.write_bytes(b"not an mp4")
    before = mp4.read_bytes()
    with pytest.raises(MediaError) as err:
        await remux_to_mp4(FFMPEG, recording, keep_source=False)
    assert err.value.reason == "MP4_EXISTS_MISMATCH"
    assert mp4.read_bytes() == before
    assert recording.is_file()


async def test_a_stray_part_is_replaced(recording):
    part = recording.with_name(mp4_of(recording).name + ".part")
    part.write_bytes(b"left by a crash" * 1000)
    result = await remux_to_mp4(FFMPEG, recording, keep_source=False)
    assert not part.exists()
    assert (await asyncio.to_thread(decode, result.mp4_path)).ok


async def test_a_cancelled_remux_kills_ffmpeg_and_cleans_up(recording, wrapped):
    fake, pids = wrapped("slow")
    part = recording.with_name(mp4_of(recording).name + ".part")
    task = asyncio.create_task(remux_to_mp4(fake, recording, keep_source=False))
    await until(lambda: part.exists() and part.stat().st_size > 0)
    (pid,) = map(int, pids.read_text().split())
    assert alive(pid)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not alive(pid)
    assert recording.is_file()
    assert leftovers(recording) == []


async def test_a_remux_that_takes_too_long_is_killed(recording, wrapped):
    fake, pids = wrapped("slow")
    with pytest.raises(MediaTimeout) as err:
        await remux_to_mp4(fake, recording, keep_source=False, timeout=1.0)
    assert err.value.reason == "REMUX_TIMEOUT"
    (pid,) = map(int, pids.read_text().split())
    assert not alive(pid)
    assert recording.is_file()
    assert leftovers(recording) == []


async def test_a_source_that_cannot_be_deleted_is_reported_not_raised(recording, monkeypatch):
    real_unlink = Path.unlink

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if self == recording:
            raise PermissionError(13, "Permission denied", str(self))
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    result = await remux_to_mp4(FFMPEG, recording, keep_source=False)
    assert not result.source_removed
    assert recording.is_file() and result.mp4_path.is_file()
