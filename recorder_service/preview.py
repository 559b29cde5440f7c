"""Live previews on demand (``PREVIEW=on_demand``, the default).

A preview written all the time by the recording ffmpeg (a second HLS output, ``PREVIEW=always``)
muxes and writes every byte twice: about 60 % more CPU per session than the recording alone
(docs/PERFORMANCE.md), for a preview nobody watches most of the time. Here a session's preview
exists only while someone plays it: the first request for its playlist starts a separate
ffmpeg that turns the recording itself (its last few segments' worth of bytes, then every byte
as it is written) into a rolling HLS playlist in ``OUTPUT_DIR/sessions/{id}/``; it is stopped
after ``PREVIEW_IDLE`` seconds without a playlist request, and when the session ends.

The recorder feeds the preview ffmpeg on stdin from the file (a read every ``poll_s`` while
the file grows; ffmpeg's own ``-follow`` mode polls every millisecond, twenty times the CPU of
the recording it previews) and follows the session onto its next part file after a restart or
a split.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from recorder_service.ffmpeg_cmd import build_preview_command
from recorder_service.ffmpeg_process import FfmpegProcess
from recorder_service.model import EventType, Session, SessionEvent
from servicekit.errors import FailedPrecondition, NotFound, Unavailable

log = logging.getLogger(__name__)

PLAYLIST = "stream.m3u8"
_SEGMENT_NUMBER = re.compile(rb"seg_(\d+)\.ts")
_TS_PACKET = 188
_READ_CHUNK = 256 * 1024
_ENDED = (EventType.STOPPED, EventType.FAILED)


@dataclass
class _Preview:
    session_id: str
    directory: Path
    process: FfmpegProcess
    last_access: float
    source: Path
    feeder: asyncio.Task[None] | None = None
    stopping: bool = False
    fed_bytes: int = 0

    @property
    def alive(self) -> bool:
        return not self.stopping and self.process.returncode is None


class PreviewManager:
    """Starts, feeds and stops on-demand preview ffmpegs; see the module docstring."""

    def __init__(
        self,
        *,
        ffmpeg: str,
        output_dir: Path,
        mode: str,
        sessions: Callable[[str], Session],
        hls_time: int = 4,
        hls_list_size: int = 6,
        idle_s: float = 30.0,
        ready_timeout_s: float | None = None,
        poll_s: float = 0.25,
    ) -> None:
        self._ffmpeg = ffmpeg
        self._out = output_dir
        self.mode = mode
        self._sessions = sessions
        self._hls_time = hls_time
        self._list_size = hls_list_size
        self.idle_s = idle_s
        # The first segment needs a keyframe after hls_time seconds of media.
        self._ready_timeout = ready_timeout_s or 3.0 * hls_time + 5.0
        self._poll_s = poll_s
        self._previews: dict[str, _Preview] = {}
        self._next_number: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._reaper: asyncio.Task[None] | None = None

    # -- the RPC -----------------------------------------------------------------------------

    async def open(self, session_id: str) -> tuple[str, bool]:
        """The playlist of ``session_id``'s live preview (relative to OUTPUT_DIR), and whether
        this call started it. Waits for its first segment when it was not running."""
        if self.mode == "off":
            raise FailedPrecondition("live previews are off (PREVIEW=off)", reason="PREVIEW_OFF")
        session = self._sessions(session_id)  # NotFound for an unknown id
        if session.state.ended:
            raise NotFound(
                f"session {session_id!r} has ended: there is no live preview",
                reason="PREVIEW_NOT_AVAILABLE",
            )
        directory = self._out / Path(session.preview_path).parent
        playlist = directory / PLAYLIST
        relative = str(Path(session.preview_path).parent / PLAYLIST)
        if self.mode == "always":
            if not playlist.exists():
                raise Unavailable(
                    "the preview has no segment yet; retry in a few seconds",
                    reason="PREVIEW_NOT_READY",
                )
            return relative, False
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        async with lock:
            preview = self._previews.get(session_id)
            started = preview is None or not preview.alive
            if preview is None or not preview.alive:
                if preview is not None:
                    await self._stop(preview, "it had exited")
                preview = await self._start(session, directory)
            preview.last_access = time.monotonic()
        await self._wait_ready(preview, playlist)
        return relative, started

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the idle reaper (call from the running loop)."""
        if self.mode == "on_demand" and self._reaper is None:
            self._reaper = asyncio.create_task(self._reap())

    def on_event(self, event: SessionEvent) -> None:
        """Bus listener: a session that ended takes its preview with it."""
        if event.type in _ENDED:
            preview = self._previews.get(event.session.session_id)
            self._next_number.pop(event.session.session_id, None)
            self._locks.pop(event.session.session_id, None)
            if preview is not None:
                self._spawn(self._stop(preview, "the session ended", remove=True))

    async def close(self) -> None:
        """Stop every preview (recorder shutdown)."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        await asyncio.gather(
            *(self._stop(p, "the recorder is stopping") for p in list(self._previews.values()))
        )
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def running(self) -> int:
        return sum(1 for p in self._previews.values() if p.alive)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(min(5.0, self.idle_s / 3))
            now = time.monotonic()
            for preview in list(self._previews.values()):
                if preview.stopping:
                    continue
                if now - preview.last_access > self.idle_s:
                    await self._stop(preview, f"nobody asked for it in {self.idle_s:g}s")
                elif preview.process.returncode is not None:
                    await self._stop(preview, "it had exited")

    # -- one preview -------------------------------------------------------------------------

    def _current_part(self, session_id: str) -> Path | None:
        try:
            session = self._sessions(session_id)
        except NotFound:
            return None
        if not session.record_paths:
            return None
        return self._out / session.record_paths[-1]

    def _backlog_offset(self, session: Session, path: Path) -> int:
        """Where to start reading ``path``: about three segments before its end (the playlist
        fills at once), on a TS packet boundary."""
        size = path.stat().st_size
        media = session.media_seconds
        if media <= 0 or session.bytes_written <= 0:
            return 0
        rate = session.bytes_written / media
        backlog = int(rate * self._hls_time * 3)
        return max(0, size - backlog) // _TS_PACKET * _TS_PACKET

    async def _start(self, session: Session, directory: Path) -> _Preview:
        source = self._current_part(session.session_id)
        if source is None or _size(source) <= 0:
            raise Unavailable(
                "nothing recorded yet to preview; retry in a few seconds",
                reason="PREVIEW_NOT_READY",
            )
        _fresh_directory(directory)
        number = self._next_number.get(session.session_id, 0)
        argv = build_preview_command(
            self._ffmpeg, directory, self._hls_time, self._list_size, number
        )
        extra = {
            "session_id": session.session_id,
            "person": session.person,
            "correlation_id": session.correlation_id,
        }
        process = FfmpegProcess(argv, on_progress=lambda _: None, log_extra=extra)
        await process.start()
        preview = _Preview(session.session_id, directory, process, time.monotonic(), source)
        offset = self._backlog_offset(session, source)
        preview.feeder = asyncio.create_task(self._feed(preview, offset))
        self._previews[session.session_id] = preview
        log.info(
            "live preview started",
            extra={
                **extra,
                "event.action": "preview.start",
                "process.pid": process.pid,
                "file.path": str(source.relative_to(self._out)),
                "offset": offset,
            },
        )
        return preview

    async def _wait_ready(self, preview: _Preview, playlist: Path) -> None:
        deadline = time.monotonic() + self._ready_timeout
        while not _is_file(playlist):
            if preview.process.returncode is not None:
                tail = " | ".join(preview.process.stderr_tail) or "no output"
                raise Unavailable(
                    f"the preview could not start: {tail}"[:500], reason="PREVIEW_FAILED"
                )
            if time.monotonic() > deadline:
                raise Unavailable(
                    "the preview has no segment yet; retry in a few seconds",
                    reason="PREVIEW_NOT_READY",
                )
            await asyncio.sleep(0.05)

    async def _feed(self, preview: _Preview, offset: int) -> None:
        """Copy the recording into the preview ffmpeg as it grows, part after part."""
        stdin = preview.process.stdin
        assert stdin is not None
        path = preview.source
        handle: IO[bytes] | None = None
        try:
            handle = _open_at(path, offset)
            while True:
                chunk = handle.read(_READ_CHUNK)
                if chunk:
                    stdin.write(chunk)
                    await stdin.drain()
                    preview.fed_bytes += len(chunk)
                    continue
                current = self._current_part(preview.session_id)
                if current is not None and current != path and _is_file(current):
                    # The session moved on to a new part (a restart or a split): its first
                    # bytes follow the last ones of the old part.
                    handle.close()
                    path, handle = current, _open_at(current, 0)
                    preview.source = path
                    continue
                await asyncio.sleep(self._poll_s)
        except (BrokenPipeError, ConnectionResetError):
            pass  # ffmpeg exited; the reaper or the next request notices
        except OSError as exc:
            log.warning(
                "live preview feed stopped: %s",
                exc,
                extra={"session_id": preview.session_id, "event.action": "preview.feed_error"},
            )
        finally:
            if handle is not None:
                handle.close()

    async def _stop(self, preview: _Preview, why: str, *, remove: bool = False) -> None:
        if preview.stopping:
            return
        preview.stopping = True
        if self._previews.get(preview.session_id) is preview:
            del self._previews[preview.session_id]
        if preview.feeder is not None:
            preview.feeder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await preview.feeder
        stdin = preview.process.stdin
        if stdin is not None:
            with contextlib.suppress(OSError, RuntimeError):
                stdin.close()
        # The preview's file is throwaway: a short grace, then a kill.
        code = await preview.process.stop(1.0)
        if remove:
            shutil.rmtree(preview.directory, ignore_errors=True)
        else:
            self._remember_number(preview)
        log.info(
            "live preview stopped: %s",
            why,
            extra={
                "session_id": preview.session_id,
                "event.action": "preview.stop",
                "process.exit_code": code,
                "bytes": preview.fed_bytes,
            },
        )

    def _remember_number(self, preview: _Preview) -> None:
        """The next preview of this session numbers its segments on from the last one (a
        player or a cache must never get an old segment under a reused name)."""
        try:
            text = (preview.directory / PLAYLIST).read_bytes()
        except OSError:
            text = b""
        numbers = [int(n) for n in _SEGMENT_NUMBER.findall(text)]
        numbers += [
            int(m.group(1))
            for p in preview.directory.glob("seg_*.ts")
            if (m := _SEGMENT_NUMBER.fullmatch(p.name.encode()))
        ]
        if numbers:
            self._next_number[preview.session_id] = max(numbers) + 1


# Quick filesystem calls (local metadata, page-cache reads), kept out of the coroutines.


def _fresh_directory(directory: Path) -> None:
    """``directory`` without any earlier preview's playlist or segments (nothing stale may be
    served), keeping what else is there (SPLIT_SIZE's ``record.m3u8``)."""
    directory.mkdir(parents=True, exist_ok=True)
    for old in [*directory.glob("seg_*.ts"), *directory.glob(PLAYLIST + "*")]:
        old.unlink(missing_ok=True)


def _is_file(path: Path) -> bool:
    return path.is_file()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size if path.is_file() else -1
    except OSError:
        return -1


def _open_at(path: Path, offset: int) -> IO[bytes]:
    handle = path.open("rb")
    handle.seek(offset)
    return handle
