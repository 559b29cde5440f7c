"""Finished recordings: measure a file's media time and remux an MPEG-TS file into MP4.

Only ffmpeg is used (imageio-ffmpeg ships no ffprobe): a file is measured by reading it through
with stream copy into the null muxer, which also works on files cut anywhere.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recorder_service.progress import Progress, ProgressParser
from servicekit.errors import DomainError, ErrorKind, InvalidArgument
from servicekit.proc import die_with_parent

log = logging.getLogger(__name__)

# Video and audio only: a timed-ID3 data stream has no place in an MP4 and is not media time.
_MAPS = ("-map", "0:v?", "-map", "0:a?")
# Only local files, and only the demuxers of our own outputs: a text file that looks like a
# playlist must not make ffmpeg open URLs or other files.
_INPUT_GUARDS = ("-protocol_whitelist", "file", "-format_whitelist", "mpegts,mov")
# Relative slack allowed between the source and the MP4 on top of ``tolerance_s``.
_RELATIVE_TOLERANCE = 0.005
_STDERR_TAIL = 10
_LINE_LIMIT = 1 << 20


class MediaError(DomainError):
    """A media file could not be measured or converted."""

    kind = ErrorKind.INTERNAL
    default_reason = "MEDIA_ERROR"


class MediaNotFound(MediaError):
    """The file to measure or convert does not exist."""

    kind = ErrorKind.NOT_FOUND
    default_reason = "MEDIA_NOT_FOUND"


class MediaTimeout(MediaError):
    """ffmpeg did not finish in time (it has been killed)."""

    kind = ErrorKind.DEADLINE_EXCEEDED
    default_reason = "MEDIA_TIMEOUT"


@dataclass(frozen=True)
class RemuxResult:
    """A verified MP4 next to its source."""

    mp4_path: Path
    source_seconds: float
    mp4_seconds: float
    source_removed: bool
    size_bytes: int
    reused: bool = False  # an MP4 left by an earlier run was verified and kept


@dataclass(frozen=True)
class _Run:
    returncode: int
    seconds: float | None  # out_time of ffmpeg's final progress block; None without one
    stderr_tail: tuple[str, ...]

    def describe(self) -> str:
        return " | ".join(self.stderr_tail[-3:]) or "no output"


def mp4_name(file_name: str) -> str:
    """The MP4's file name for a recording: ``a.ts`` -> ``a.mp4`` (other suffixes too)."""
    return f"{Path(file_name).stem}.mp4"


def allowed_drift(source_seconds: float, tolerance_s: float) -> float:
    """How far the MP4's media time may be from the source's: the larger of ``tolerance_s``
    and 0.5% of the source."""
    return max(tolerance_s, _RELATIVE_TOLERANCE * source_seconds)


def _ffmpeg_input(path: Path) -> list[str]:
    # "file:" so names like "concat:x" or "pipe:1" are never taken for protocols.
    return [*_INPUT_GUARDS, "-i", f"file:{path}"]


def _ffmpeg_argv(ffmpeg: str, source: Path, *output: str) -> list[str]:
    return [
        ffmpeg,
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-v",
        "error",
        "-progress",
        "pipe:1",
        *_ffmpeg_input(source),
        *_MAPS,
        "-c",
        "copy",
        *output,
    ]


async def _run_ffmpeg(argv: list[str]) -> _Run:
    """Run ffmpeg to completion, collecting its final progress and a stderr tail. Whatever
    ends the wait (cancellation, a timeout around the call, an error), ffmpeg has been killed
    and reaped when this returns or raises."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        limit=_LINE_LIMIT,
        # A SIGKILLed recorder must not leave an ffmpeg running on its own.
        preexec_fn=die_with_parent,
    )
    assert proc.stdout is not None and proc.stderr is not None
    stdout, stderr = proc.stdout, proc.stderr
    parser = ProgressParser()
    last: Progress | None = None
    tail: collections.deque[str] = collections.deque(maxlen=_STDERR_TAIL)

    async def read_progress() -> None:
        nonlocal last
        async for raw in stdout:
            progress = parser.feed(raw.decode("utf-8", "replace"))
            if progress is not None:
                last = progress

    async def read_stderr() -> None:
        async for raw in stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                tail.append(line)

    try:
        await asyncio.gather(read_progress(), read_stderr(), proc.wait())
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    code = proc.returncode
    assert code is not None
    seconds = last.out_time_s if last is not None and last.ended else None
    return _Run(code, seconds, tuple(tail))


async def _probe(ffmpeg: str, path: Path) -> float:
    if not await asyncio.to_thread(path.is_file):
        raise MediaNotFound(f"no media file at {path}", metadata={"path": str(path)})
    started = time.monotonic()
    run = await _run_ffmpeg(_ffmpeg_argv(ffmpeg, path, "-f", "null", "-"))
    if run.returncode != 0 or run.seconds is None:
        raise MediaError(
            f"cannot read media from {path.name}: ffmpeg exited with code {run.returncode}: "
            f"{run.describe()}",
            reason="PROBE_FAILED",
            metadata={"path": str(path)},
        )
    if run.seconds <= 0:
        raise MediaError(
            f"{path.name} holds no media time", reason="PROBE_FAILED", metadata={"path": str(path)}
        )
    log.debug(
        "%s: %.3fs of media",
        path.name,
        run.seconds,
        extra={
            "event.action": "recording.probe",
            "event.duration": int((time.monotonic() - started) * 1e9),
            "file.path": str(path),
            "media_seconds": round(run.seconds, 3),
        },
    )
    return run.seconds


async def probe_media_seconds(
    ffmpeg: str,
    path: Path,
    *,
    timeout: float = 600,  # noqa: ASYNC109 - a default bound, raised as MediaTimeout
) -> float:
    """The media duration of ``path`` (MPEG-TS, possibly cut anywhere, or MP4) in seconds: the
    span of its video and audio timestamps, as a player shows it, found by reading the whole
    file. Raises MediaNotFound for a missing file, MediaError(PROBE_FAILED) for one that holds
    no media, MediaTimeout(PROBE_TIMEOUT) after ``timeout`` seconds (ffmpeg is killed)."""
    try:
        async with asyncio.timeout(timeout):
            return await _probe(ffmpeg, path)
    except TimeoutError as exc:
        raise MediaTimeout(
            f"reading {path.name} took more than {timeout:g}s",
            reason="PROBE_TIMEOUT",
            metadata={"path": str(path)},
        ) from exc


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    # Makes a rename durable before the source goes; some filesystems refuse it on a directory.
    with contextlib.suppress(OSError):
        _fsync(path)


def _discard(path: Path) -> None:
    # A plain function: cleanup on cancellation calls it directly, so it is done when the
    # exception leaves rather than in a thread that may outlive it.
    path.unlink(missing_ok=True)


def _within(source_seconds: float, mp4_seconds: float, tolerance_s: float) -> bool:
    return abs(mp4_seconds - source_seconds) <= allowed_drift(source_seconds, tolerance_s)


async def _verify_existing(
    ffmpeg: str, mp4: Path, source_seconds: float, tolerance_s: float
) -> float:
    """The media time of an MP4 left by an earlier run, if it matches the source. Ours are only
    renamed into place once verified, so one that does not match is not ours and is left be."""
    try:
        seconds = await _probe(ffmpeg, mp4)
    except MediaError as exc:
        raise MediaError(
            f"{mp4.name} already exists and is not readable media: {exc.message}",
            reason="MP4_EXISTS_MISMATCH",
            metadata={"path": str(mp4)},
        ) from exc
    if not _within(source_seconds, seconds, tolerance_s):
        raise MediaError(
            f"{mp4.name} already exists with {seconds:.3f}s of media, the source has "
            f"{source_seconds:.3f}s",
            reason="MP4_EXISTS_MISMATCH",
            metadata={"path": str(mp4)},
        )
    return seconds


async def _remux_verified(
    ffmpeg: str, source: Path, mp4: Path, source_seconds: float, tolerance_s: float
) -> float:
    """Write ``<mp4>.part``, check its media time against the source, fsync it and rename it
    to ``mp4``. Returns the MP4's media time; on any failure the ``.part`` is gone."""
    part = mp4.with_name(f"{mp4.name}.part")
    output = (
        # moov first: the MP4 plays while it downloads and seeks without extra range requests.
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        "-y",  # a .part left by a crashed run is ours to overwrite
        f"file:{part}",
    )
    try:
        run = await _run_ffmpeg(_ffmpeg_argv(ffmpeg, source, *output))
        if run.returncode != 0:
            raise MediaError(
                f"remux of {source.name} failed: ffmpeg exited with code {run.returncode}: "
                f"{run.describe()}",
                reason="REMUX_FAILED",
                metadata={"path": str(source)},
            )
        try:
            mp4_seconds = await _probe(ffmpeg, part)
        except MediaError as exc:
            raise MediaError(
                f"remux of {source.name} wrote no readable MP4: {exc.message}",
                reason="REMUX_FAILED",
                metadata={"path": str(source)},
            ) from exc
        if not _within(source_seconds, mp4_seconds, tolerance_s):
            raise MediaError(
                f"remux of {source.name} has {mp4_seconds:.3f}s of media, the source has "
                f"{source_seconds:.3f}s",
                reason="REMUX_DURATION_MISMATCH",
                metadata={"path": str(source)},
            )
        await asyncio.to_thread(_fsync, part)
        # Synchronous, so a cancellation cannot land between the rename and the cleanup below.
        os.replace(part, mp4)
    except BaseException:
        _discard(part)
        raise
    return mp4_seconds


async def remux_to_mp4(
    ffmpeg: str,
    source: Path,
    *,
    keep_source: bool,
    tolerance_s: float = 1.0,
    timeout: float = 3600,  # noqa: ASYNC109 - bounds the whole job, ffmpeg is killed on expiry
) -> RemuxResult:
    """Stream-copy the video and audio of ``source`` into ``<stem>.mp4`` in the same folder.

    The MP4 is written as ``<stem>.mp4.part`` and renamed into place only once its media time
    matches the source's (within :func:`allowed_drift`); then, unless ``keep_source``, the
    source is deleted. An MP4 already at the final name (a run that crashed before deleting the
    source) is verified the same way and reused. On failure the source is kept, no ``.part``
    is left behind, and a MediaError is raised: reasons PROBE_FAILED, REMUX_FAILED,
    REMUX_DURATION_MISMATCH, MP4_EXISTS_MISMATCH; MediaTimeout (REMUX_TIMEOUT) when the whole
    job takes longer than ``timeout``; MediaNotFound. Not safe to run twice at once on a file.
    """
    if source.suffix.lower() == ".mp4":
        raise InvalidArgument(f"{source.name} is already an MP4", reason="SOURCE_IS_MP4")
    mp4 = source.with_name(mp4_name(source.name))
    started = time.monotonic()
    extra: dict[str, Any] = {"event.action": "recording.remux", "file.path": str(mp4)}
    reused = False
    try:
        try:
            async with asyncio.timeout(timeout):
                source_seconds = await _probe(ffmpeg, source)
                extra["source_seconds"] = round(source_seconds, 3)
                if await asyncio.to_thread(mp4.exists):
                    mp4_seconds = await _verify_existing(ffmpeg, mp4, source_seconds, tolerance_s)
                    reused = True
                    await asyncio.to_thread(_discard, mp4.with_name(f"{mp4.name}.part"))
                else:
                    mp4_seconds = await _remux_verified(
                        ffmpeg, source, mp4, source_seconds, tolerance_s
                    )
                await asyncio.to_thread(_fsync_dir, mp4.parent)
        except TimeoutError as exc:
            raise MediaTimeout(
                f"remux of {source.name} took more than {timeout:g}s",
                reason="REMUX_TIMEOUT",
                metadata={"path": str(source)},
            ) from exc
    except MediaError as exc:
        log.warning(
            "remux failed: %s",
            exc.message,
            extra={
                **extra,
                "event.outcome": "failure",
                "error.code": exc.reason,
                "event.duration": int((time.monotonic() - started) * 1e9),
            },
        )
        raise
    source_removed = False
    if not keep_source:
        try:
            # In a thread: unlinking a multi-gigabyte file can take a while on some filesystems.
            await asyncio.to_thread(source.unlink, missing_ok=True)
            source_removed = True
        except OSError as exc:
            # The MP4 is good; the caller learns from source_removed that the TS is still there.
            log.warning(
                "cannot delete %s after its remux: %s",
                source.name,
                exc,
                extra={"event.action": "recording.remux", "file.path": str(source)},
            )
    size = (await asyncio.to_thread(mp4.stat)).st_size
    log.info(
        "remuxed %s to %s (%.3fs of media, %d bytes)%s",
        source.name,
        mp4.name,
        mp4_seconds,
        size,
        ", reusing the MP4 of an earlier run" if reused else "",
        extra={
            **extra,
            "event.outcome": "success",
            "event.duration": int((time.monotonic() - started) * 1e9),
            "file.size": size,
            "media_seconds": round(mp4_seconds, 3),
            "source_removed": source_removed,
        },
    )
    return RemuxResult(
        mp4_path=mp4,
        source_seconds=source_seconds,
        mp4_seconds=mp4_seconds,
        source_removed=source_removed,
        size_bytes=size,
        reused=reused,
    )
