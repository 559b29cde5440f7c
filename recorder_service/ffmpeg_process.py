"""One supervised ffmpeg process: spawn, read its progress and warnings, stop it cleanly."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import logging
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from recorder_service.progress import Progress, ProgressParser
from servicekit.proc import child_pids, die_with_parent, single_parent_argv

log = logging.getLogger(__name__)
_STDERR_PIPE_SIZE = 1 << 20


class FfmpegProcess:
    """Runs one ffmpeg command. Progress blocks go to ``on_progress``; stderr lines (warnings,
    errors) go to ``on_stderr`` and into a short tail kept for error messages.

    With ``stderr_batch_s``, stderr is read in batches instead of line by line: before every
    progress block, every ``stderr_batch_s`` seconds when no progress comes, and at the exit.
    ffmpeg writes each log line on its own (at the info level an "Opening" line per playlist
    reload and per segment), and waking the event loop for each cost more than everything else
    the recorder does per session (docs/PERFORMANCE.md). The lines are handled in order, only
    later; their handler must not rely on when it is called."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        on_progress: Callable[[Progress], None],
        on_stderr: Callable[[str], None] | None = None,
        log_extra: dict[str, Any] | None = None,
        stderr_batch_s: float | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.argv = list(argv)
        self._env = None if env is None else dict(env)
        self._on_progress = on_progress
        self._on_stderr = on_stderr
        self._extra = log_extra or {}
        self._stderr_batch_s = stderr_batch_s
        self._stderr_fd: int | None = None
        self._stderr_rest = b""
        self._proc: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._drainer: asyncio.Task[None] | None = None
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
        stderr, write_end = asyncio.subprocess.PIPE, None
        if self._stderr_batch_s is not None:
            # A pipe the event loop does not watch: drained by drain_stderr().
            self._stderr_fd, write_end = os.pipe()
            os.set_blocking(self._stderr_fd, False)
            with contextlib.suppress(OSError):  # room for minutes of warnings between drains
                fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, _STDERR_PIPE_SIZE)
            stderr = write_end
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *spawn,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,
                env=self._env,
                # If the recorder is SIGKILLed, ffmpeg gets SIGTERM (once: see
                # single_parent_argv) and finalizes its MPEG-TS file instead of running on as
                # an orphan.
                preexec_fn=die_with_parent,
            )
        except BaseException:
            self._close_stderr()
            raise
        finally:
            if write_end is not None:
                os.close(write_end)
        assert self._proc.stdout is not None
        if self._wrapped:
            # The wrapper forks ffmpeg at once; learn its pid for logs and for escalation.
            for _ in range(100):
                if self.pid is not None or self._proc.returncode is not None:
                    break
                await asyncio.sleep(0.005)
        self._readers = [asyncio.create_task(self._read_progress(self._proc.stdout))]
        if self._proc.stderr is not None:
            self._readers.append(asyncio.create_task(self._read_stderr(self._proc.stderr)))
        self._drainer = (
            asyncio.create_task(self._drain_every(self._stderr_batch_s))
            if self._stderr_batch_s is not None
            else None
        )

    async def _read_progress(self, stream: asyncio.StreamReader) -> None:
        parser = ProgressParser()
        while True:
            # A block at a time (its dozen lines arrive in one write): two reads, not twelve.
            try:
                raw = await stream.readuntil(b"progress=")
                raw += await stream.readline()
            except asyncio.IncompleteReadError as exc:
                raw = exc.partial
            except asyncio.LimitOverrunError as exc:  # no block end in 64 KiB: not -progress
                raw = await stream.readexactly(exc.consumed)
            if not raw:
                return
            for line in raw.decode("utf-8", "replace").splitlines():
                progress = parser.feed(line)
                if progress is None:
                    continue
                # The warnings written before this block come first.
                self.drain_stderr()
                try:
                    self._on_progress(progress)
                except Exception:
                    log.exception("progress handler failed", extra=self._extra)

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        async for raw in stream:
            self._stderr_line(raw)

    def _stderr_line(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").rstrip()
        if not line:
            return
        self.stderr_tail.append(line)
        if self._on_stderr is not None:
            try:
                self._on_stderr(line)
            except Exception:
                log.exception("stderr handler failed", extra=self._extra)

    async def _drain_every(self, seconds: float) -> None:
        while True:
            await asyncio.sleep(seconds)
            self.drain_stderr()

    def drain_stderr(self) -> None:
        """Handle the stderr lines written so far (batched stderr only; see the class)."""
        fd = self._stderr_fd
        if fd is None:
            return
        chunks = []
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                break
            if not data:  # every writer has exited
                self._close_stderr()
                chunks.append(b"\n")  # the last line, even without its newline
                break
            chunks.append(data)
        if not chunks:
            return
        *lines, self._stderr_rest = (self._stderr_rest + b"".join(chunks)).split(b"\n")
        for raw in lines:
            self._stderr_line(raw)

    def _close_stderr(self) -> None:
        if self._stderr_fd is not None:
            os.close(self._stderr_fd)
            self._stderr_fd = None

    async def wait(self) -> int:
        """Wait for ffmpeg to exit and for its output to be fully read; return the exit code."""
        assert self._proc is not None
        code = await self._proc.wait()
        if self._readers:
            await asyncio.gather(*self._readers, return_exceptions=True)
        if self._drainer is not None:
            self._drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drainer
        # ffmpeg has exited: what it wrote is all in the pipe.
        self.drain_stderr()
        self._close_stderr()
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
                code = await self.wait()
                # Killed, whichever of ffmpeg and its wrapper the kill reached first: a
                # wrapper that sees its child killed exits with the signal's number.
                return -signal.SIGKILL if code == signal.SIGKILL else code
        return await self.wait()
