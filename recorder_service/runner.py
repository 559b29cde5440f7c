"""Supervises one session's ffmpeg: first bytes, progress, stop, and how the session ends."""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from recorder_service.events import EventBus
from recorder_service.ffmpeg_cmd import RecordJob, build_command
from recorder_service.ffmpeg_process import FfmpegProcess
from recorder_service.model import EventType, Session, SessionState
from recorder_service.progress import Progress

log = logging.getLogger(__name__)

_FIRST_BYTES_POLL_S = 0.05


class SessionRunner:
    """Owns the ffmpeg of one session from spawn to exit and keeps the session up to date."""

    def __init__(
        self,
        session: Session,
        job: RecordJob,
        *,
        ffmpeg: str,
        bus: EventBus,
        stop_timeout: float,
        on_ended: Callable[[Session], None],
    ) -> None:
        self.session = session
        self.job = job
        self._bus = bus
        self._stop_timeout = stop_timeout
        self._on_ended = on_ended
        self._extra = {"session_id": session.session_id, "channel": session.person}
        self.process = FfmpegProcess(
            build_command(ffmpeg, job),
            on_progress=self._on_progress,
            on_stderr=self._on_stderr,
            log_extra=self._extra,
        )
        self._stop_reason: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._started_at = 0.0

    @property
    def record_path(self) -> Path:
        return self.job.record_path

    async def start(self) -> None:
        """Spawn ffmpeg and supervise it in a background task (in the caller's context, so the
        session's logs and events carry the correlation id of the request that started it)."""
        self.job.record_path.parent.mkdir(parents=True, exist_ok=True)
        self.job.preview_dir.mkdir(parents=True, exist_ok=True)
        self._started_at = time.monotonic()
        await self.process.start()
        log.info(
            "ffmpeg started for %s",
            self.session.person,
            extra={
                **self._extra,
                "event.action": "ffmpeg.start",
                "process.pid": self.process.pid,
                "file.path": str(self.job.record_path),
                "url.original": self.job.media_url,
            },
        )
        self._task = asyncio.create_task(
            self._supervise(), name=f"session-{self.session.session_id}"
        )

    async def _watch_first_bytes(self) -> None:
        while self.session.state is SessionState.STARTING:
            size = self._scan_parts()
            if size > 0:
                self._set_recording(size)
                return
            await asyncio.sleep(_FIRST_BYTES_POLL_S)

    def _scan_parts(self) -> int:
        """Bytes on disk across the session's parts; a part that appeared since the last scan
        joins ``record_paths`` (with a FILE_ROTATED event when it follows another)."""
        total = 0
        known = set(self.session.record_paths)
        for path in self.job.part_files():
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                continue
            rel = f"records/{self.session.person}/{path.name}"
            if rel not in known:
                known.add(rel)
                self.session.record_paths = (*self.session.record_paths, rel)
                if len(self.session.record_paths) > 1:
                    log.info(
                        "new part %s",
                        path.name,
                        extra={**self._extra, "event.action": "session.rotate", "file.path": rel},
                    )
                    self._bus.publish(EventType.FILE_ROTATED, self.session, f"new part {rel}")
        return total

    def _set_recording(self, size: int) -> None:
        if self.session.state is not SessionState.STARTING:
            return
        self.session.state = SessionState.RECORDING
        self.session.bytes_written = size
        elapsed = time.monotonic() - self._started_at
        log.info(
            "recording: first bytes on disk after %.2fs",
            elapsed,
            extra={
                **self._extra,
                "event.action": "session.recording",
                "event.duration": int(elapsed * 1e9),
            },
        )
        self._bus.publish(EventType.RECORDING, self.session, "first bytes written")

    def _on_progress(self, progress: Progress) -> None:
        s = self.session
        size = self._scan_parts()
        if size > 0 and s.state is SessionState.STARTING:
            self._set_recording(size)
        s.bytes_written = size
        s.media_seconds = progress.out_time_s
        s.bitrate_kbps = progress.bitrate_kbps
        s.speed = progress.speed
        s.last_progress_time = datetime.now(UTC)
        if s.state is SessionState.RECORDING and not progress.ended:
            self._bus.publish(EventType.PROGRESS, s)

    def _on_stderr(self, line: str) -> None:
        level = logging.ERROR if "[error]" in line or "[fatal]" in line else logging.WARNING
        log.log(level, "ffmpeg: %s", line, extra={**self._extra, "event.action": "ffmpeg.output"})

    async def _supervise(self) -> None:
        watcher = asyncio.create_task(self._watch_first_bytes())
        try:
            code = await self.process.wait()
        finally:
            watcher.cancel()
        self._finish(code)

    def _finish(self, code: int) -> None:
        s = self.session
        s.bytes_written = self._scan_parts()
        s.end_time = datetime.now(UTC)
        if self._stop_reason is not None:
            s.state, s.end_reason, event = (
                SessionState.STOPPED,
                self._stop_reason,
                EventType.STOPPED,
            )
        elif code == 0:
            s.state, s.end_reason, event = SessionState.STOPPED, "stream ended", EventType.STOPPED
        else:
            tail = " | ".join(list(self.process.stderr_tail)[-3:]) or "no output"
            s.state, event = SessionState.FAILED, EventType.FAILED
            s.end_reason = f"ffmpeg exited with code {code}: {tail}"
        shutil.rmtree(self.job.preview_dir, ignore_errors=True)
        log.info(
            "session %s: %s",
            s.state.value.lower(),
            s.end_reason,
            extra={
                **self._extra,
                "event.action": "ffmpeg.stop",
                "process.exit_code": code,
                "file.size": s.bytes_written,
                "media_seconds": round(s.media_seconds, 3),
                "event.duration": int((time.monotonic() - self._started_at) * 1e9),
            },
        )
        self._bus.publish(event, s, s.end_reason)
        self._on_ended(s)

    async def stop(self, reason: str) -> Session:
        """Ask ffmpeg to finalize the file and wait until the session has ended."""
        if self._stop_reason is None and not self.session.state.ended:
            self._stop_reason = reason
            self.session.state = SessionState.STOPPING
            self._bus.publish(EventType.STOPPING, self.session, reason)
            await self.process.stop(self._stop_timeout)
        if self._task is not None:
            await asyncio.shield(self._task)
        return self.session
