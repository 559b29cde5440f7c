"""The auto-record scheduler: every cycle, one batch status call per source (each site is asked
under its own request budget, the sites side by side), then a start for each auto-record
channel that is online and not recording. A site whose batch fails costs its own channels
that cycle, never the other sites'.

Channels are known here by their key (``alice``, ``stripchat:alice``): the runtime state, the
availability listeners and a session's ``channel`` use it; ``is_busy`` asks by folder.

Each cycle has its own correlation id, and so does each start it makes (the start's log lines
name the cycle). A channel whose start fails backs off (one interval, then two, four... up to
AUTORECORD_BACKOFF_MAX) so a broken channel cannot eat the budget of the others. A resolver
outage costs a cycle, never the scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from recorder_service.manager import StartRequest
from recorder_service.metrics import (
    AUTORECORD_CYCLE_SECONDS,
    AUTORECORD_CYCLES,
    AUTORECORD_STARTS,
)
from recorder_service.model import EventType, Session, SessionEvent
from recorder_service.ports import ChannelCheck, StatusChecker
from recorder_service.site_text import site_text
from recorder_service.store import Channel
from recorder_service.watchlist import WatchList
from servicekit import correlation
from servicekit.errors import AlreadyExists, DomainError, FailedPrecondition

log = logging.getLogger(__name__)

# The resolver accepts up to 10,000 targets per batch call.
MAX_BATCH = 10_000
# A session ending sooner than this (or than one interval) counts as a failed start.
EARLY_END_S = 60.0


class Starter(Protocol):
    """What the scheduler needs from the session manager."""

    def is_busy(self, person: str) -> bool: ...

    async def start(self, req: StartRequest) -> Session: ...


@dataclass
class ChannelRuntime:
    """What the scheduler knows of one channel between cycles (not persisted).

    The ``last_*`` fields other than ``last_error`` describe one observation: the last status
    check, or the start after it that found the channel no longer online (``went``). Text from
    the site is kept cleaned (``site_text``), never interpreted."""

    last_availability: str = ""
    last_check_at: datetime | None = None
    last_title: str = ""
    last_viewers: int | None = None
    last_room_status: str = ""
    last_message: str = ""
    last_thumbnail_url: str = ""
    last_error: str = ""
    failures: int = 0
    retry_at: float = 0.0

    def saw(self, check: ChannelCheck) -> None:
        """Keep what a status check said of the room."""
        self.last_availability = check.availability
        self.last_check_at = check.checked_at or datetime.now(UTC)
        self.last_title = site_text(check.title)
        self.last_viewers = check.viewers
        self.last_room_status = site_text(check.room_status)
        self.last_message = site_text(check.message)
        self.last_thumbnail_url = check.thumbnail_url

    def went(self, availability: str, message: str) -> None:
        """The start that followed a check found the channel ``availability`` instead (offline,
        private...): the check's viewers and room status described the online room, so they go
        (unknown now); the title is the room's whatever its state, so it stays."""
        self.last_availability = availability
        self.last_check_at = datetime.now(UTC)
        self.last_viewers = None
        self.last_room_status = ""
        self.last_message = site_text(message)


@dataclass(frozen=True)
class BatchFailure:
    """Why one batch status call gave no answer."""

    reason: str
    message: str


@dataclass
class CycleStats:
    channels: int = 0
    auto: int = 0
    checked: int = 0
    online: int = 0
    started: int = 0
    already_recording: int = 0
    backing_off: int = 0
    failed: int = 0
    unknown: int = 0
    errors: list[str] = field(default_factory=list)
    #: Why each channel was or was not started, for one DEBUG line per channel: its reason
    #: (paused, recording, backing_off, an availability such as offline, status_unknown,
    #: started, start_failed) and fields that say more.
    decisions: dict[str, tuple[str, dict[str, object]]] = field(default_factory=dict)

    def decide(self, username: str, reason: str, **fields: object) -> None:
        self.decisions[username] = (reason, fields)

    def as_log_extra(self) -> dict[str, object]:
        return {
            f"autorecord.{k}": v
            for k, v in self.__dict__.items()
            if k != "decisions" and (k != "errors" or v)
        }


class AutoRecorder:
    def __init__(
        self,
        watchlist: WatchList,
        status: StatusChecker,
        starter: Starter,
        *,
        interval: float,
        jitter: float = 0.1,
        concurrency: int = 4,
        backoff_max: float = 1800.0,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._watchlist = watchlist
        self._status = status
        self._starter = starter
        self.interval = interval
        self._jitter = jitter
        self._concurrency = concurrency
        self._backoff_max = backoff_max
        self._clock = clock
        self._rng = rng
        self.runtime: dict[str, ChannelRuntime] = {}
        #: Called as ``listener(key, before, now, at)`` when what the site says of a
        #: channel changes (``before`` is "" at the first check since the recorder started).
        self.availability_listeners: list[Callable[[str, str, str, datetime], None]] = []
        #: The store's transaction, around the listeners of one change.
        self.atomic: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext

    def _observed(self, username: str, before: str, state: ChannelRuntime) -> None:
        now = state.last_availability
        if not now or now == before:
            return
        at = state.last_check_at or datetime.now(UTC)
        # One transaction for what the listeners write (the timeline's row, notifications).
        with self.atomic():
            for listener in self.availability_listeners:
                try:
                    listener(username, before, now, at)
                except Exception:
                    log.exception(
                        "availability listener failed",
                        extra={"event.action": "autorecord.error", "channel": username},
                    )

    def next_delay(self) -> float:
        """The interval, spread by +/- jitter so many recorders do not poll in step."""
        return max(0.0, self.interval * (1 + self._jitter * (2 * self._rng() - 1)))

    async def run(self, stop: asyncio.Event) -> None:
        """Cycle until ``stop`` is set: the first cycle right away (so recording resumes soon
        after a restart), then one every interval."""
        while not stop.is_set():
            try:
                await self.cycle()
            except Exception:
                log.exception(
                    "auto-record cycle failed", extra={"event.action": "autorecord.error"}
                )
            try:
                await asyncio.wait_for(stop.wait(), self.next_delay())
            except TimeoutError:
                pass

    async def cycle(self) -> CycleStats:
        """One pass over the watch list."""
        with correlation.bound(correlation.new_id("autorecord-")) as cycle_id:
            began = time.monotonic()
            stats = CycleStats()
            channels = self._watchlist.all()
            stats.channels = len(channels)
            known = {c.key for c in channels}
            for gone in set(self.runtime) - known:
                del self.runtime[gone]
            due = self._due(channels, stats)
            online = await self._check(due, stats)
            await self._start_all(online, stats, cycle_id or "")
            _log_decisions(stats)
            AUTORECORD_CYCLES.labels("status_error" if stats.errors else "ok").inc()
            AUTORECORD_CYCLE_SECONDS.observe(time.monotonic() - began)
            log.info(
                "auto-record cycle: %d online, %d started, %d failed",
                stats.online,
                stats.started,
                stats.failed,
                extra={
                    "event.action": "autorecord.cycle",
                    "event.duration": int((time.monotonic() - began) * 1e9),
                    **stats.as_log_extra(),
                },
            )
            return stats

    def _due(self, channels: list[Channel], stats: CycleStats) -> list[Channel]:
        now = self._clock()
        due = []
        for c in channels:
            if not c.auto_record:
                stats.decide(c.key, "paused")
                continue
            stats.auto += 1
            state = self.runtime.setdefault(c.key, ChannelRuntime())
            if self._starter.is_busy(c.person):
                stats.already_recording += 1
                stats.decide(c.key, "recording")
            elif state.retry_at > now:
                stats.backing_off += 1
                until = datetime.now(UTC) + timedelta(seconds=state.retry_at - now)
                stats.decide(
                    c.key,
                    "backing_off",
                    **{
                        "autorecord.retry_at": until.isoformat(timespec="seconds"),
                        "autorecord.failures": state.failures,
                        "error.message": state.last_error,
                    },
                )
            else:
                due.append(c)
        return due

    async def _check(self, channels: list[Channel], stats: CycleStats) -> list[Channel]:
        """Ask for every due channel's status: one batch call per source (pages of MAX_BATCH),
        the sources side by side; returns the channels that are online."""
        by_source: dict[str, list[Channel]] = {}
        for c in channels:
            by_source.setdefault(c.source, []).append(c)
        answers = await asyncio.gather(
            *(self._ask(source, group) for source, group in sorted(by_source.items()))
        )
        online = []
        for source, pages in zip(sorted(by_source), answers, strict=True):
            for page, checks in pages:
                if isinstance(checks, BatchFailure):
                    self._unknown(source, page, checks, stats)
                    continue
                online += self._saw(page, checks, stats)
        return online

    async def _ask(
        self, source: str, group: list[Channel]
    ) -> list[tuple[list[Channel], list[ChannelCheck] | BatchFailure]]:
        """One source's batch calls, page by page; a failure is kept as the page's answer."""
        out: list[tuple[list[Channel], list[ChannelCheck] | BatchFailure]] = []
        for first in range(0, len(group), MAX_BATCH):
            page = group[first : first + MAX_BATCH]
            try:
                checks = await self._status.batch_channel_status(
                    [c.record_target for c in page], source
                )
                if len(checks) != len(page):
                    raise DomainError(
                        f"{len(checks)} answers for {len(page)} channels",
                        reason="BAD_BATCH_ANSWER",
                    )
            except DomainError as exc:
                out.append((page, BatchFailure(exc.reason, exc.message)))
                continue
            except Exception as exc:  # one site's bug must not cost the others their cycle
                log.exception(
                    "channel status batch of %s failed",
                    source,
                    extra={"event.action": "autorecord.status_error", "autorecord.source": source},
                )
                out.append((page, BatchFailure(type(exc).__name__, str(exc))))
                continue
            out.append((page, checks))
        return out

    def _unknown(
        self, source: str, page: list[Channel], failure: BatchFailure, stats: CycleStats
    ) -> None:
        stats.unknown += len(page)
        stats.errors.append(f"{source}: {failure.reason}: {failure.message}")
        for c in page:
            stats.decide(c.key, "status_unknown", **{"error.type": failure.reason})
        log.warning(
            "channel status of %s unavailable for %d channel(s): %s",
            source,
            len(page),
            failure.message,
            extra={
                "event.action": "autorecord.status_error",
                "error.type": failure.reason,
                "autorecord.source": source,
            },
        )

    def _saw(
        self, page: list[Channel], checks: list[ChannelCheck], stats: CycleStats
    ) -> list[Channel]:
        online = []
        for channel, check in zip(page, checks, strict=True):
            state = self.runtime.setdefault(channel.key, ChannelRuntime())
            before = state.last_availability
            state.saw(check)
            self._observed(channel.key, before, state)
            stats.checked += 1
            if check.is_online:
                stats.online += 1
                online.append(channel)
                continue
            stats.decide(channel.key, check.availability.lower())
            if check.availability in ("RATE_LIMITED", "BLOCKED", "UPSTREAM_ERROR"):
                stats.unknown += 1
        return online

    async def _start_all(self, channels: list[Channel], stats: CycleStats, cycle_id: str) -> None:
        slots = asyncio.Semaphore(self._concurrency)

        async def start(channel: Channel) -> None:
            async with slots:
                await self._start(channel, stats, cycle_id)

        await asyncio.gather(*(start(c) for c in channels))

    async def _start(self, channel: Channel, stats: CycleStats, cycle_id: str) -> None:
        state = self.runtime.setdefault(channel.key, ChannelRuntime())
        extra = {"channel": channel.key, "autorecord.cycle_id": cycle_id}
        with correlation.bound(correlation.new_id("autostart-")):
            try:
                session = await self._starter.start(
                    StartRequest(
                        target=channel.record_target,
                        source_type=channel.source,
                        name=channel.display_name,
                        person=channel.person,
                        quality=channel.quality,
                        channel=channel.key,
                    )
                )
            except AlreadyExists:
                stats.already_recording += 1
                stats.decide(channel.key, "recording")
                return
            except FailedPrecondition as exc:
                if exc.reason.startswith("CHANNEL_"):
                    # Went offline (or private) between the status check and the resolve:
                    # not the channel's fault, no backoff.
                    before = state.last_availability
                    state.went(exc.reason.removeprefix("CHANNEL_"), exc.message)
                    self._observed(channel.key, before, state)
                    stats.decide(channel.key, state.last_availability.lower())
                    return
                self._failed(channel, state, stats, exc.message, extra)
                return
            except DomainError as exc:
                self._failed(channel, state, stats, f"{exc.reason}: {exc.message}", extra)
                return
            except Exception as exc:
                log.exception("auto-record start crashed", extra=extra)
                self._failed(channel, state, stats, f"{type(exc).__name__}: {exc}", extra)
                return
            # ``failures`` is cleared only once a session has lived (see on_event): a stream
            # that dies right after each start must still back off further every time.
            state.retry_at = 0.0
            stats.started += 1
            stats.decide(channel.key, "started", session_id=session.session_id)
            AUTORECORD_STARTS.labels("started").inc()
            log.info(
                "auto-record started %s",
                channel.key,
                extra={
                    **extra,
                    "event.action": "autorecord.start",
                    "session_id": session.session_id,
                },
            )

    def on_event(self, event: SessionEvent) -> None:
        """Bus listener: an automatic session that failed, or whose stream "ended", soon after
        it started counts as a failed start of its channel (a CDN refusing the stream would
        otherwise be retried every cycle, forever, each time as a new session)."""
        s = event.session
        if not s.channel or event.type not in (EventType.FAILED, EventType.STOPPED):
            return
        state = self.runtime.setdefault(s.channel, ChannelRuntime())
        lived = ((s.end_time or datetime.now(UTC)) - s.start_time).total_seconds()
        user_stop = event.type is EventType.STOPPED and s.end_reason != "stream ended"
        if user_stop or lived >= max(self.interval, EARLY_END_S):
            # Stopped by a user, a shutdown or the disk guard, or it recorded for a while:
            # whatever went wrong before is behind us.
            state.failures, state.last_error = 0, ""
            return
        error = f"the session ended {lived:.0f}s after it started: {s.end_reason}"
        self._back_off(s.channel, state, error, {"channel": s.channel, "session_id": s.session_id})

    def _failed(
        self,
        channel: Channel,
        state: ChannelRuntime,
        stats: CycleStats,
        error: str,
        extra: dict[str, str],
    ) -> None:
        stats.failed += 1
        stats.decide(channel.key, "start_failed", **{"error.message": error})
        AUTORECORD_STARTS.labels("failed").inc()
        self._back_off(channel.key, state, error, extra)

    def _back_off(
        self, username: str, state: ChannelRuntime, error: str, extra: dict[str, str]
    ) -> None:
        state.failures += 1
        delay = min(self._backoff_max, self.interval * 2 ** (state.failures - 1))
        state.retry_at = self._clock() + delay
        state.last_error = error
        log.warning(
            "auto-record could not start %s (failure %d, next try in %.0fs): %s",
            username,
            state.failures,
            delay,
            error,
            extra={**extra, "event.action": "autorecord.start_failed", "error.message": error},
        )


def _log_decisions(stats: CycleStats) -> None:
    """One DEBUG line per channel: why it was or was not started this cycle."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    for username, (reason, fields) in stats.decisions.items():
        log.debug(
            "auto-record %s: %s",
            username,
            reason.replace("_", " "),
            extra={
                "event.action": "autorecord.decision",
                "channel": username,
                "autorecord.reason": reason,
                **fields,
            },
        )
