"""Supervises one session's ffmpeg: first bytes, progress, gaps, stalls, restarts, stop, and
how the session ends.

An ffmpeg exit is never taken as "the stream ended" on its exit code alone (ffmpeg exits 0 on
a playlist 404): the resolver is asked. While the channel is live, the watchdog restarts ffmpeg
on a freshly resolved URL into a new part, resuming at the first segment not yet recorded when
the live window still holds it (``-live_start_index``; checked against the first segment the
new ffmpeg opens), with capped exponential backoff (tenacity) and a budget of restarts without
media in between. A stall (no media time and no bytes for STALL_TIMEOUT) is handled the same
way once ffmpeg has been made to quit.

Gaps go to the ledger from ffmpeg's own log: segments it skipped or could not fetch,
discontinuities (timestamp jumps, measured against the playlist once seen), and media lost
across a restart.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import shutil
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from recorder_service.backoff import restart_backoff
from recorder_service.discontinuity import (
    JumpFilter,
    Measure,
    TimestampJump,
    describe,
    measure,
)
from recorder_service.events import EventBus
from recorder_service.ffmpeg_cmd import RecordJob, build_command, ffmpeg_env, hide_proxy
from recorder_service.ffmpeg_process import FfmpegProcess
from recorder_service.hls_window import Window, fetch_window
from recorder_service.model import EventType, Session, SessionState
from recorder_service.paths import output_dir_of, record_rel
from recorder_service.ports import ResolvedStream
from recorder_service.progress import Progress
from recorder_service.resume_check import ResumePlan, check_resume
from recorder_service.segment_clock import SegmentClock
from recorder_service.session import ffmpeg_log, restart, stall
from recorder_service.session.restart import Watchdog as Watchdog  # re-exported
from recorder_service.session.resume_plan import LOST_DETAIL, plan_resume
from recorder_service.store import GapRecord
from servicekit.errors import DomainError

log = logging.getLogger(__name__)

_STALLED_STOP_STEP_S = 1.0
# Budget for reading the playlist to measure a discontinuity (and for it to land in the ledger
# when the session ends meanwhile).
_MEASURE_S = 3.0


Reresolve = Callable[[], Awaitable[ResolvedStream]]
# (resolved stream, part number, video live_start_index, audio live_start_index) -> the job
NextJob = Callable[[ResolvedStream, int, int | None, int | None], RecordJob]


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
        watchdog: Watchdog,
        reresolve: Reresolve,
        next_job: NextJob,
        on_gap: Callable[[GapRecord], None] | None = None,
    ) -> None:
        self.session = session
        self.job = job
        self._ffmpeg = ffmpeg
        self._bus = bus
        self._stop_timeout = stop_timeout
        self._on_ended = on_ended
        self._watchdog = watchdog
        self._reresolve = reresolve
        self._next_job = next_job
        self._on_gap = on_gap
        self._extra = {"session_id": session.session_id, "channel": session.person}
        self._stop_reason: str | None = None
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._started_at = 0.0
        # Media time of the attempts before the current one (ffmpeg counts from 0 each time).
        self._media_base = 0.0
        self._out_time = 0.0
        self._advanced_at = time.monotonic()
        # When the current ffmpeg last reported progress (0: not yet).
        self._progress_at = 0.0
        self._last_segment: dict[int, str] = {}
        # Segment length from media time over segments opened (stderr is read in batches:
        # when its lines are handled says nothing of the stream's cadence).
        self._clock = SegmentClock()
        self._warnings: collections.deque[str] = collections.deque(maxlen=5)
        self._jumps = JumpFilter()
        # Segments ffmpeg failed to fetch, not yet known lost: ffmpeg skips a failed segment
        # only if it goes on; if it exits instead, the restart resumes at it (or notes the
        # window's loss as a RESTART gap), so counting it would count it twice.
        self._failed_fetches: list[str] = []
        self._measuring: set[asyncio.Task[None]] = set()
        # Set on a restart: where the new ffmpeg should start, checked at its first segment.
        self._resume_plan: ResumePlan | None = None
        self._backoff = restart_backoff(
            watchdog.backoff_initial, watchdog.backoff_max, watchdog.backoff_jitter
        )
        self._part = 0
        self.process = self._process(job)

    @property
    def record_path(self) -> Path:
        return self.job.record_path

    @property
    def _segment_seconds(self) -> float:
        return self._clock.seconds

    def _process(self, job: RecordJob) -> FfmpegProcess:
        return FfmpegProcess(
            build_command(self._ffmpeg, job),
            env=ffmpeg_env(job),
            on_progress=self._on_progress,
            on_stderr=self._on_stderr,
            log_extra=self._extra,
            # ffmpeg's log lines are handled with each progress report, not one wakeup each
            # (docs/PERFORMANCE.md); without reports (a stall, the start), every two intervals.
            stderr_batch_s=2 * job.progress_interval,
        )

    async def start(self) -> None:
        """Spawn ffmpeg and supervise it in a background task (in the caller's context, so the
        session's logs and events carry the correlation id of the request that started it)."""
        self._started_at = time.monotonic()
        await self._spawn()
        self._task = asyncio.create_task(
            self._supervise(), name=f"session-{self.session.session_id}"
        )

    async def _spawn(self) -> None:
        self.job.record_path.parent.mkdir(parents=True, exist_ok=True)
        self.job.preview_dir.mkdir(parents=True, exist_ok=True)
        self._out_time = 0.0
        self._clock.restart()
        self._advanced_at = time.monotonic()
        self._progress_at = 0.0
        await self.process.start()
        if self._clock.declared is None:
            self._background(self._learn_segment_length(self.job.media_url, dict(self.job.headers)))
        log.info(
            "ffmpeg started for %s",
            self.session.person,
            extra={
                **self._extra,
                "event.action": "ffmpeg.start",
                "restarts": self.session.restarts,
                "process.pid": self.process.pid,
                "file.path": str(self.job.record_path),
                "url.original": self.job.media_url,
                "live_start_index": self.job.live_start_index,
            },
        )

    # -- what ffmpeg tells us --------------------------------------------------------------

    def _scan_parts(self) -> int:
        """Bytes on disk across the session's parts; a part that appeared since the last scan
        joins ``record_paths`` (with a FILE_ROTATED event when it follows another)."""
        known = set(self.session.record_paths)
        for path in self.job.part_files():
            rel = record_rel(self.session.person, path.name)
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
        root = output_dir_of(self.job.record_path)
        total = 0
        for rel in self.session.record_paths:
            try:
                total += (root / rel).stat().st_size
            except FileNotFoundError:
                continue
        return total

    def _set_recording(self, size: int) -> None:
        s = self.session
        if s.state not in (SessionState.STARTING, SessionState.RECONNECTING):
            return
        again = s.state is SessionState.RECONNECTING
        s.state = SessionState.RECORDING
        s.bytes_written = size
        elapsed = time.monotonic() - self._started_at
        log.info(
            "recording again after a restart" if again else "recording: first bytes after %.2fs",
            *(() if again else (elapsed,)),
            extra={
                **self._extra,
                "event.action": "session.recording",
                "event.duration": int(elapsed * 1e9),
            },
        )
        self._bus.publish(
            EventType.RECORDING,
            s,
            "recording again after a restart" if again else "first bytes written",
        )

    def _on_progress(self, progress: Progress) -> None:
        s = self.session
        self._progress_at = time.monotonic()
        size = self._scan_parts()
        if progress.out_time_s > self._out_time or size > s.bytes_written:
            self._advanced_at = time.monotonic()
        self._out_time = max(self._out_time, progress.out_time_s)
        self._clock.progress(self._out_time)
        if size > s.bytes_written and s.state in (SessionState.STARTING, SessionState.RECONNECTING):
            self._set_recording(size)
        s.bytes_written = size
        s.media_seconds = self._media_base + self._out_time
        s.bitrate_kbps = progress.bitrate_kbps
        s.speed = progress.speed
        s.last_progress_time = datetime.now(UTC)
        if s.state is SessionState.STALLED and not progress.ended:
            s.state = SessionState.RECORDING
        if s.state is SessionState.RECORDING and not progress.ended:
            self._bus.publish(EventType.PROGRESS, s)

    def _hide(self, text: str) -> str:
        """``text`` without the current CDN proxy's URL, address or credentials."""
        return hide_proxy(text, self.job.http_proxy)

    def _on_stderr(self, line: str) -> None:
        # ffmpeg may name its proxy (a refused connection, an auth failure): never pass it on.
        line = self._hide(line)
        seen = ffmpeg_log.parse(line)
        if isinstance(seen, ffmpeg_log.SegmentOpened):
            self._on_segment(seen.path)
            return
        if not isinstance(seen, ffmpeg_log.Said):
            return
        if ffmpeg_log.is_warning(seen):
            self._warnings.append(line)
        log.log(
            seen.level, "ffmpeg: %s", line, extra={**self._extra, "event.action": "ffmpeg.output"}
        )
        if isinstance(seen, ffmpeg_log.SegmentsSkipped):
            self._jumps.skipped(time.monotonic())
            self._gap(
                "SKIPPED_SEGMENT",
                seen.count * self._segment_seconds,
                f"{seen.count} segment(s) expired from the live window before ffmpeg read them",
            )
        elif isinstance(seen, ffmpeg_log.SegmentFailed):
            self._jumps.skipped(time.monotonic())
            self._failed_fetches.append(seen.number)
        elif isinstance(seen, ffmpeg_log.TimestampJumped):
            self._on_jump(seen.jump)

    def _on_segment(self, path: str) -> None:
        stream = ffmpeg_log.input_of(path, self.job.media_url, self.job.audio_url)
        self._last_segment[stream] = path
        if stream == 0 and self._failed_fetches:
            self._note_failed_fetches()  # ffmpeg went on past them: they are lost
        plan = self._resume_plan
        if plan is not None and stream == 0 and plan.is_media(path):
            self._resume_plan = None
            if skipped := check_resume(plan, path, self._segment_seconds):
                self._gap("RESTART", skipped.seconds, skipped.detail)
        if stream == 0:
            self._clock.opened()

    def _on_jump(self, jump: TimestampJump) -> None:
        """A discontinuity: measured against the playlist in the background, then a gap."""
        if not self._jumps.accept(jump, time.monotonic(), self._segment_seconds):
            return
        url = self.job.media_url
        if jump.input_index == 1 and self.job.audio_url:
            url = self.job.audio_url
        self._background(
            self._note_discontinuity(
                jump,
                url,
                dict(self.job.headers),
                self._last_segment.get(jump.input_index),
                datetime.now(UTC),
            )
        )

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run a playlist read in the background; the session's end waits for it (_settle)."""
        task = asyncio.create_task(work)
        self._measuring.add(task)
        task.add_done_callback(self._measuring.discard)

    async def _learn_segment_length(self, url: str, headers: dict[str, str]) -> None:
        """Take the segment length from the playlist (gaps counted in segments use it); the
        estimate from media time stays when it cannot be read."""
        try:
            self._declare(
                await fetch_window(
                    url,
                    headers,
                    within=_MEASURE_S,
                    proxy=self.job.http_proxy,
                    direct_hosts=self.job.direct_hosts,
                )
            )
        except (httpx.HTTPError, OSError) as exc:
            log.info(
                "could not read the playlist's segment length (%s); estimating it",
                self._hide(str(exc)),
                extra={**self._extra, "event.action": "session.segment_length"},
            )

    def _declare(self, window: Window) -> None:
        if window.durations:
            self._clock.declare(window.seconds / len(window.durations))

    async def _note_discontinuity(
        self,
        jump: TimestampJump,
        url: str,
        headers: dict[str, str],
        segment: str | None,
        seen: datetime,
    ) -> None:
        found = Measure(0.0, "no segment known: media lost across it unknown")
        try:
            if segment is not None:
                window = await fetch_window(
                    url,
                    headers,
                    within=_MEASURE_S,
                    proxy=self.job.http_proxy,
                    direct_hosts=self.job.direct_hosts,
                )
                found = measure(window, segment)
        except (httpx.HTTPError, OSError) as exc:
            found = Measure(
                0.0, f"playlist unreadable ({self._hide(str(exc))}): media lost across it unknown"
            )
        except asyncio.CancelledError:
            found = Measure(0.0, "not measured before the session ended")
            raise
        finally:
            self._gap("DISCONTINUITY", found.seconds, describe(jump, found), seen)

    async def _settle(self) -> None:
        """Let discontinuities being measured reach the ledger before the session ends."""
        if not self._measuring:
            return
        _, late = await asyncio.wait(set(self._measuring), timeout=_MEASURE_S)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    def _gap(self, cause: str, seconds: float, detail: str, end: datetime | None = None) -> None:
        """Note a gap in the ledger and emit a GAP event. A 0 s gap (a discontinuity whose
        cost is unknown or nil) is noted too: it takes nothing from completeness."""
        if not seconds >= 0:
            return
        s = self.session
        s.gap_seconds += seconds
        now = end or datetime.now(UTC)
        part = s.record_paths[-1] if s.record_paths else ""
        gap = GapRecord(
            session_id=s.session_id,
            path=part,
            start_time=now - timedelta(seconds=seconds),
            duration_s=round(seconds, 3),
            cause=cause,
            detail=detail,
        )
        log.warning(
            "gap of %.1fs (%s): %s",
            seconds,
            cause,
            detail,
            extra={**self._extra, "event.action": "session.gap", "gap.seconds": round(seconds, 3)},
        )
        # The ledger's row and what the event causes (its notifications) commit as one.
        with self._bus.atomic():
            if self._on_gap is not None:
                try:
                    self._on_gap(gap)
                except Exception:
                    log.exception("could not record a gap", extra=self._extra)
            self._bus.publish(
                EventType.GAP,
                s,
                f"{seconds:.1f}s missing: {detail}" if seconds else f"{cause}: {detail}",
                extra={
                    "cause": cause,
                    "duration_s": f"{seconds:.3f}",
                    "start_time": gap.start_time.isoformat(),
                    "detail": detail,
                },
            )

    # -- supervision -------------------------------------------------------------------------

    async def _watch(self) -> None:
        """Returns when ffmpeg has made no progress (no media time, no bytes) for the stall
        timeout. Also notices the first bytes of an attempt."""
        size = self.session.bytes_written
        wd = self._watchdog
        while True:
            starting = self.session.state in (SessionState.STARTING, SessionState.RECONNECTING)
            delay = stall.watch_delay(
                starting=starting,
                now=time.monotonic(),
                progress_at=self._progress_at,
                advanced_at=self._advanced_at,
                progress_interval=self.job.progress_interval,
                stall_timeout=wd.stall_timeout,
            )
            await asyncio.sleep(delay)
            now_size = self._scan_parts()
            if now_size > size:
                size = now_size
                self._advanced_at = time.monotonic()
                self._set_recording(now_size)
            if stall.is_stalled(time.monotonic(), self._advanced_at, wd.stall_timeout):
                return

    async def _attempt(self) -> tuple[str, int]:
        """Run the current ffmpeg until it exits or stalls: ("exit" | "stall", exit code)."""
        watcher = asyncio.create_task(self._watch())
        waiter = asyncio.create_task(self.process.wait())
        try:
            done, _ = await asyncio.wait({watcher, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
        if waiter in done:
            return "exit", waiter.result()
        if self._stop_reason is None:
            self.session.state = SessionState.STALLED
            message = f"no progress for {self._watchdog.stall_timeout:.0f}s"
            log.warning(
                "ffmpeg stalled: %s",
                message,
                extra={**self._extra, "event.action": "session.stall"},
            )
            self._bus.publish(EventType.STALLED, self.session, message)
        # A stalled ffmpeg sits in its playlist reload loop and ignores q and SIGINT; nothing
        # more can reach its file, so the steps are short (a kill's torn end is cut off at
        # finalization: ts_repair).
        code = await self.process.stop(min(self._stop_timeout, _STALLED_STOP_STEP_S))
        await waiter
        return "stall", code

    def _note_failed_fetches(self) -> None:
        for number in self._failed_fetches:
            self._gap("FAILED_FETCH", self._segment_seconds, f"segment {number} could not be read")
        self._failed_fetches.clear()

    async def _supervise(self) -> None:
        code, ending = await self._run()
        self._note_failed_fetches()  # no restart will fetch them again
        await self._settle()
        self._finish(code, ending)

    async def _run(self) -> tuple[int, restart.End]:
        """Attempts and restarts until the session ends: (last exit code, how it ended)."""
        in_a_row = 0
        not_found_since: float | None = None
        lost_at: float | None = None  # when media last advanced
        while True:
            why, code = await self._attempt()
            self._media_base = self.session.media_seconds
            ended: restart.Ended
            if self._stop_reason is not None:
                ended = restart.StopRequested(self._stop_reason, code)
            elif why == "stall":
                ended = restart.Stalled(code)
            else:
                ended = restart.Exited(code)
            if self._out_time > 0 or lost_at is None:
                # An attempt that got no media (a restart mid-outage) leaves it where it was.
                lost_at = self._advanced_at
            cause, answer = "", None
            if not isinstance(ended, restart.StopRequested):
                cause = restart.cause_of(ended, self._watchdog.stall_timeout)
                answer = await self._ask_resolver(cause)
            now = time.monotonic()
            decision = restart.decide(
                ended,
                answer,
                got_media=self._out_time > 0,
                in_a_row=in_a_row,
                not_found_since=not_found_since,
                now=now,
                watchdog=self._watchdog,
                backoff=self._backoff,
                last_words=restart.last_words(self._warnings),
            )
            in_a_row, not_found_since = decision.in_a_row, decision.not_found_since
            if decision.counted:
                self.session.restarts += 1
            outcome = decision.outcome
            if isinstance(outcome, restart.End):
                if isinstance(answer, restart.Missing) and outcome.reason == restart.STREAM_ENDED:
                    log.info(
                        "still not found after %.0fs (%s): the stream ended",
                        now - (not_found_since or now),
                        answer.message,
                        extra={**self._extra, "event.action": "session.ended_upstream"},
                    )
                return code, outcome
            if not await self._restart(outcome, cause, lost_at):
                return code, restart.End(SessionState.STOPPED, self._stop_reason or "stopped")

    async def _ask_resolver(self, cause: str) -> restart.Answer:
        """Is the channel still live? (the resolver's answer, logged)."""
        try:
            answer = restart.answer_of(await self._reresolve())
        except DomainError as exc:
            answer = restart.answer_of(exc)
        if isinstance(answer, restart.Offline):
            log.info(
                "the channel is no longer live (%s) after %s",
                answer.reason,
                cause,
                extra={**self._extra, "event.action": "session.ended_upstream"},
            )
        elif isinstance(answer, restart.NoAnswer):
            log.warning(
                "could not re-resolve after %s: %s",
                cause,
                answer.message,
                extra={**self._extra, "event.action": "session.reresolve_failed"},
            )
        return answer

    async def _restart(self, plan: restart.Restart, cause: str, lost_at: float) -> bool:
        """Back off, then spawn ffmpeg on a new part; False when a stop came first."""
        if self._failed_fetches:
            # The new ffmpeg resumes at the last segment opened, the failed one, or the
            # window has moved past it and the resume notes a RESTART gap for it.
            log.info(
                "segment(s) %s failed before the restart: fetched again or counted by it",
                ", ".join(self._failed_fetches),
                extra={**self._extra, "event.action": "session.resume"},
            )
            self._failed_fetches.clear()
        s = self.session
        s.state = SessionState.RECONNECTING
        delay = plan.after
        log.warning(
            "restarting ffmpeg in %.1fs (restart %d): %s",
            delay,
            s.restarts,
            cause,
            extra={**self._extra, "event.action": "session.restart"},
        )
        self._bus.publish(EventType.RECONNECTING, s, f"{cause}; restarting in {delay:.1f}s")
        try:
            await asyncio.wait_for(self._stopped.wait(), delay)
            return False
        except TimeoutError:
            pass
        stream = plan.stream or self._as_resolved()
        video_index, audio_index = await self._resume_at(stream, lost_at)
        if self._stop_reason is not None:
            return False
        self._part += 1
        self.job = self._next_job(stream, self._part, video_index, audio_index)
        self.process = self._process(self.job)
        await self._spawn()
        if self._stop_reason is not None:  # a stop came while spawning
            await self.process.stop(self._stop_timeout)
        return True

    async def _resume_at(
        self, stream: ResolvedStream, lost_at: float
    ) -> tuple[int | None, int | None]:
        """live_start_index values that resume after the last recorded segment; a RESTART gap
        when the window has moved past it. Leaves the plan the new ffmpeg is checked against."""
        self._resume_plan = None
        last = self._last_segment.get(0)
        if last is None:
            return None, None
        window: Window | None = None
        try:
            window = await fetch_window(
                stream.media_url,
                stream.headers,
                proxy=stream.cdn_proxy,
                direct_hosts=stream.direct_hosts,
            )
        except (httpx.HTTPError, OSError) as exc:  # the new ffmpeg will meet it and say so
            log.warning(
                "could not read the live window to resume (%s): the new part starts at the "
                "window's first segment",
                hide_proxy(str(exc), stream.cdn_proxy),
                extra={**self._extra, "event.action": "session.resume"},
            )
        if window is not None:
            self._declare(window)
        at = plan_resume(
            window,
            last,
            has_audio=bool(stream.audio_url),
            outage_s=time.monotonic() - lost_at,
            segment_seconds=self._segment_seconds,
        )
        self._resume_plan = at.plan
        if at.lost_s is not None:
            self._gap("RESTART", at.lost_s, LOST_DETAIL)
        if window is not None:
            log.info(
                "resuming at segment %d of %d in the live window",
                at.video,
                len(window.paths),
                extra={**self._extra, "event.action": "session.resume"},
            )
        return at.video, at.audio

    def _finish(self, code: int, ending: restart.End) -> None:
        s = self.session
        s.bytes_written = self._scan_parts()
        s.end_time = datetime.now(UTC)
        s.state, s.end_reason = ending.state, ending.reason
        event = EventType.STOPPED if ending.state is SessionState.STOPPED else EventType.FAILED
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
                "restarts": s.restarts,
                "event.duration": int((time.monotonic() - self._started_at) * 1e9),
            },
        )
        self._bus.publish(event, s, s.end_reason)
        self._on_ended(s)

    def _as_resolved(self) -> ResolvedStream:
        """The stream as last resolved (when the resolver cannot be asked right now)."""
        return ResolvedStream(
            source_type=self.session.source_type,
            media_url=self.job.media_url,
            audio_url=self.job.audio_url,
            headers=dict(self.job.headers),
            # The same way to the CDN: a restart the resolver could not answer must not read
            # it directly when the site's CDN is to be read through a proxy.
            cdn_proxy=self.job.http_proxy,
            direct_hosts=self.job.direct_hosts,
        )

    async def stop(self, reason: str, step_s: float | None = None) -> Session:
        """Ask ffmpeg to finalize the file and wait until the session has ended; ``step_s``
        (default STOP_TIMEOUT) is given to each of q, SIGINT and SIGKILL in turn."""
        if self._stop_reason is None and not self.session.state.ended:
            self._stop_reason = reason
            self._stopped.set()
            self.session.state = SessionState.STOPPING
            self._bus.publish(EventType.STOPPING, self.session, reason)
            await self.process.stop(self._stop_timeout if step_s is None else step_s)
        if self._task is not None:
            await asyncio.shield(self._task)
        return self.session
