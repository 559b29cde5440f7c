"""One supervised ffmpeg process: spawn, read its progress and warnings, stop it cleanly."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Sequence
from typing import Any

from recorder_service.progress import Progress, ProgressParser
from servicekit.proc import child_pids, die_with_parent, single_parent_argv

log = logging.getLogger(__name__)


class FfmpegProcess:
    """Runs one ffmpeg command. Progress blocks go to ``on_progress``; stderr lines (warnings,
    errors) go to ``on_stderr`` and into a short tail kept for error messages."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        on_progress: Callable[[Progress], None],
        on_stderr: Callable[[str], None] | None = None,
        log_extra: dict[str, Any] | None = None,
    ) -> None:
        self.argv = list(argv)
        self._on_progress = on_progress
        self._on_stderr = on_stderr
        self._extra = log_extra or {}
        self._proc: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._wrapped = False
        self._ffmpeg_pid: int | None = None
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=20)

    @property
    def pid(self) -> int | None:
        """The ffmpeg process's pid (behind the wrapper, when there is one), if known."""
        if self._proc is None:
            return None
        if not self._wrapped:
            return self._proc.pid
        if self._ffmpeg_pid is None and self._proc.returncode is None:
            kids = child_pids(self._proc.pid)
            self._ffmpeg_pid = kids[0] if kids else None
        return self._ffmpeg_pid

    @property
    def stdin(self) -> asyncio.StreamWriter | None:
        """ffmpeg's stdin (the media itself for an ffmpeg reading ``pipe:0``)."""
        return self._proc.stdin if self._proc else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc else None

    async def start(self) -> None:
        """Spawn ffmpeg in its own process group (a Ctrl-C meant for the recorder must not
        reach it before the recorder asks it to finish the file)."""
        spawn, self._wrapped = single_parent_argv(self.argv)
        self._proc = await asyncio.create_subprocess_exec(
            *spawn,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            # If the recorder is SIGKILLed, ffmpeg gets SIGTERM (once: see single_parent_argv)
            # and finalizes its MPEG-TS file instead of running on as an orphan.
            preexec_fn=die_with_parent,
        )
        assert self._proc.stdout is not None and self._proc.stderr is not None
        if self._wrapped:
            # The wrapper forks ffmpeg at once; learn its pid for logs and for escalation.
            for _ in range(100):
                if self.pid is not None or self._proc.returncode is not None:
                    break
                await asyncio.sleep(0.005)
        self._readers = [
            asyncio.create_task(self._read_progress(self._proc.stdout)),
            asyncio.create_task(self._read_stderr(self._proc.stderr)),
        ]

    async def _read_progress(self, stream: asyncio.StreamReader) -> None:
        parser = ProgressParser()
        async for raw in stream:
            progress = parser.feed(raw.decode("utf-8", "replace"))
            if progress is not None:
                try:
                    self._on_progress(progress)
                except Exception:
                    log.exception("progress handler failed", extra=self._extra)

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        async for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip()
            if not line:
                continue
            self.stderr_tail.append(line)
            if self._on_stderr is not None:
                try:
                    self._on_stderr(line)
                except Exception:
                    log.exception("stderr handler failed", extra=self._extra)

    async def wait(self) -> int:
        """Wait for ffmpeg to exit and for its output to be fully read; return the exit code."""
        assert self._proc is not None
        code = await self._proc.wait()
        if self._readers:
            await asyncio.gather(*self._readers, return_exceptions=True)
        return code

    async def _exited_within(self, seconds: float) -> bool:
        assert self._proc is not None
        try:
            await asyncio.wait_for(asyncio.shield(self._proc.wait()), seconds)
        except TimeoutError:
            return False
        return True

    def _escalate(self, sig: signal.Signals, after: str) -> None:
        assert self._proc is not None
        log.warning(
            "ffmpeg did not quit after %s; sending %s",
            after,
            sig.name,
            extra={**self._extra, "event.action": "ffmpeg.escalate", "process.pid": self.pid},
        )
        target = self.pid
        with contextlib.suppress(ProcessLookupError):
            if target is not None and target != self._proc.pid:
                # Signal ffmpeg itself: the wrapper would only pass on a SIGTERM.
                os.kill(target, sig)
            if target is None or sig is signal.SIGKILL:
                self._proc.send_signal(sig)

    async def stop(self, grace: float) -> int:
        """Ask ffmpeg to finish the file: ``q`` on stdin, then SIGINT, then SIGKILL, each
        given ``grace`` seconds. Returns the exit code."""
        proc = self._proc
        if proc is None:
            return 0
        if proc.returncode is None and proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, RuntimeError):
                proc.stdin.write(b"q")
                await proc.stdin.drain()
                proc.stdin.close()
        if not await self._exited_within(grace):
            self._escalate(signal.SIGINT, "q")
            if not await self._exited_within(grace):
                self._escalate(signal.SIGKILL, "SIGINT")
        return await self.wait()
