"""A SessionRunner around a stand-in for ffmpeg (a shell script), for tests of the watchdog's
decisions that need a process but not real media: what it prints is exactly what the test
wants ffmpeg to have said."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from recorder_service.events import EventBus
from recorder_service.ffmpeg_cmd import RecordJob
from recorder_service.model import EventType, Session, SessionEvent
from recorder_service.ports import ResolvedStream
from recorder_service.runner import SessionRunner, Watchdog
from recorder_service.store import GapRecord

MEDIA_URL = "http://127.0.0.1:9/live/x/v0/index.m3u8"


def opening(path: str, demuxer: str = "in#0") -> str:
    """ffmpeg's info line for opening a segment of the stream."""
    return f"[{demuxer} @ 0x1] [info] Opening 'http://127.0.0.1:9{path}?token=t' for reading"


def script(tmp_path: Path, first: list[str], restarted: list[str] | None = None) -> str:
    """A fake ffmpeg: the first run (part 0) prints ``first`` on stderr and exits 1; a restart
    (a later part) prints ``restarted`` and waits for q (EOF), or without ``restarted`` does
    as the first run did."""

    def say(lines: list[str]) -> str:
        return "".join(f'echo "{line}" >&2\n' for line in lines)

    body = "#!/bin/sh\n"
    if restarted is not None:
        body += 'case " $* " in *"/x_0.ts "*) ;; *)\n'
        body += say(restarted) + "read -r _\nexit 0;;\nesac\n"
    body += say(first) + "exit 1\n"
    path = tmp_path / "fake-ffmpeg"
    path.write_text(body)
    path.chmod(0o755)
    return str(path)


def waiting_script(tmp_path: Path, lines: list[str]) -> str:
    """A fake ffmpeg that prints ``lines`` on stderr, then waits for q (EOF) and exits 0."""
    body = "#!/bin/sh\n" + "".join(f'echo "{line}" >&2\n' for line in lines)
    path = tmp_path / "fake-ffmpeg"
    path.write_text(body + "read -r _\nexit 0\n")
    path.chmod(0o755)
    return str(path)


class Harness:
    """One session of a fake ffmpeg: its runner, its events and its ledger."""

    def __init__(self, tmp_path: Path, ffmpeg: str, watchdog: Watchdog, *, proxy: str = "") -> None:
        self.proxy = proxy
        self.bus = EventBus()
        self.gaps: list[GapRecord] = []
        self.ended = asyncio.Event()
        self.session = Session(
            session_id="s1",
            person="x",
            name="x",
            target=MEDIA_URL,
            source_type="hls",
            start_time=datetime.now(UTC),
            correlation_id="c1",
            preview_path="",
        )
        self._tmp = tmp_path
        self.runner = SessionRunner(
            self.session,
            self._job(0, None),
            ffmpeg=ffmpeg,
            bus=self.bus,
            stop_timeout=1.0,
            on_ended=lambda _: self.ended.set(),
            watchdog=watchdog,
            reresolve=self._reresolve,
            next_job=lambda _stream, part, video, _audio: self._job(part, video),
            on_gap=self.gaps.append,
        )

    def _job(self, part: int, live_start_index: int | None) -> RecordJob:
        return RecordJob(
            media_url=MEDIA_URL,
            record_path=self._tmp / "records" / "x" / f"x_{part}.ts",
            preview_dir=self._tmp / "preview",
            live_start_index=live_start_index,
            http_proxy=self.proxy,
        )

    async def _reresolve(self) -> ResolvedStream:
        return ResolvedStream(source_type="hls", media_url=MEDIA_URL, cdn_proxy=self.proxy)

    def events(self, kind: EventType) -> list[SessionEvent]:
        return [e for e in self.bus._ring if e.type is kind]

    async def until(self, kind: EventType, count: int = 1, within: float = 10.0) -> None:
        """Wait until ``count`` events of ``kind`` were published."""
        await eventually(lambda: len(self.events(kind)) >= count, within)


async def eventually(check: Callable[[], bool], within: float = 10.0) -> None:
    """Wait until ``check()`` holds (TimeoutError after ``within`` seconds)."""
    async with asyncio.timeout(within):
        while True:
            if check():
                return
            await asyncio.sleep(0.02)
