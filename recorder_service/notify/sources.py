"""Where notifications come from: each of the recorder's happenings turned into catalogue
events, written through the notifier in the same transaction as the change behind them.

- session events (a bus listener; the bus runs its listeners in one store transaction, so
  the session's row and its notifications commit together): ``recording.started`` (first
  bytes), ``recording.gap`` (a ledger entry with a length; its row is written in that
  transaction too),
  and at FINALIZED, once its files are measured: ``recording.file_closed`` for each file, then
  one of ``recording.finished`` / ``recording.failed`` / ``recording.interrupted`` (a session
  crash recovery found: recovery re-finalizes it until this is written);
- availability changes (an auto-record listener, in the transaction that writes the channel
  timeline's row): ``channel.*``, ``site.blocked``. The last state told is kept, so a restart
  does not tell it again;
- retention (``retention.deleted``, in the transaction that removes the recording's row);
- the disk (``disk.low``): no store write causes it, so the durability point is the outbox
  row itself, written with the level it reports.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from recorder_service.model import EventType, Session, SessionEvent, SessionState, completeness
from recorder_service.notify.catalogue import (
    CHANNEL_EVENTS,
    SITE_BLOCKS,
    Notification,
    common,
    iso,
    site_of,
)
from recorder_service.notify.notifier import Notifier
from recorder_service.paths import split_record_rel
from recorder_service.storage import StorageLevel, storage_level
from recorder_service.store import GapRecord, Recording
from servicekit import correlation

log = logging.getLogger(__name__)
_TEAPOT = re.compile(r"\bHTTP 418\b")


class RecordingRows(Protocol):
    def get_recording(self, person: str, file_name: str) -> Recording | None: ...

    def gaps_of(self, path: str) -> Sequence[GapRecord]: ...


def _safe(emit: Callable[[], object], what: str) -> None:
    """A notification that cannot be written never breaks what caused it."""
    try:
        emit()
    except Exception:
        log.exception(
            "could not queue a %s notification", what, extra={"event.action": "notify.error"}
        )


def _session_common(s: Session, correlation_id: str, file: str | None = None) -> dict[str, Any]:
    return common(
        channel=s.person,
        site=site_of(s.source_type, s.target),
        session_id=s.session_id,
        file=file or (s.record_paths[-1] if s.record_paths else None),
        completeness=s.completeness,
        correlation_id=correlation_id or s.correlation_id,
    )


_TERMINAL = {
    SessionState.STOPPED: "recording.finished",
    SessionState.FAILED: "recording.failed",
    SessionState.INTERRUPTED: "recording.interrupted",
}


class SessionNotices:
    """Bus listener: session events -> ``recording.*``."""

    def __init__(self, notifier: Notifier, rows: RecordingRows) -> None:
        self._notifier = notifier
        self._rows = rows
        # Sessions whose recording.started went out (a RECORDING after a restart is not news).
        self._started: set[str] = set()

    def __call__(self, event: SessionEvent) -> None:
        if event.type is EventType.RECORDING:
            if event.session.session_id not in self._started:
                self._started.add(event.session.session_id)
                self._emit("recording.started", event, self._started_data)
        elif event.type is EventType.GAP and float(event.extra.get("duration_s") or 0) > 0:
            # A 0 s entry (a discontinuity whose cost is unknown or nil) stays in the ledger
            # but is not news: it takes nothing from the recording.
            self._emit("recording.gap", event, self._gap_data)
        elif event.type is EventType.FINALIZED:
            self._started.discard(event.session.session_id)
            _safe(lambda: self._finalized(event), "recording")

    def _emit(
        self, kind: str, event: SessionEvent, data: Callable[[SessionEvent], dict[str, Any]]
    ) -> None:
        s = event.session
        if self._notifier.wants(kind, s.person):
            _safe(
                lambda: self._notifier.emit(Notification(kind, data(event), event.event_time)),
                kind,
            )

    @staticmethod
    def _started_data(event: SessionEvent) -> dict[str, Any]:
        s = event.session
        v = s.variant
        return {
            **_session_common(s, event.correlation_id),
            "name": s.name,
            "auto": bool(s.channel),
            "startTime": iso(s.start_time),
            "width": v.width if v else None,
            "height": v.height if v else None,
            "fps": v.fps if v else None,
        }

    @staticmethod
    def _gap_data(event: SessionEvent) -> dict[str, Any]:
        s, x = event.session, event.extra
        return {
            **_session_common(s, event.correlation_id),
            "cause": x.get("cause", ""),
            "durationSeconds": float(x.get("duration_s") or 0.0),
            "startTime": x.get("start_time"),
            "detail": x.get("detail", ""),
            "gapSeconds": round(s.gap_seconds, 3),
        }

    def _finalized(self, event: SessionEvent) -> None:
        s = event.session
        kind = _TERMINAL.get(s.state)
        if kind is None:
            return
        for part, rel in enumerate(s.record_paths):
            if self._notifier.wants("recording.file_closed", s.person):
                self._notifier.emit(
                    Notification(
                        "recording.file_closed",
                        self._file_data(s, rel, part, event.correlation_id),
                        event.event_time,
                    )
                )
        if self._notifier.wants(kind, s.person):
            self._notifier.emit(Notification(kind, self._ended_data(event), event.event_time))

    def _file_data(self, s: Session, rel: str, part: int, correlation_id: str) -> dict[str, Any]:
        person, name = split_record_rel(rel)
        row = self._rows.get_recording(person, name)
        gaps = sum(g.duration_s for g in self._rows.gaps_of(rel))
        media = row.media_seconds if row else 0.0
        return {
            **_session_common(s, correlation_id, rel),
            "completeness": round(completeness(media, gaps), 4),
            "state": row.state.value if row else "COMPLETE",
            "format": rel.rsplit(".", 1)[-1],
            "part": row.part if row else part,
            "sizeBytes": row.size_bytes if row else 0,
            "mediaSeconds": round(media, 3),
            "gapSeconds": round(gaps, 3),
            "startTime": iso(row.start_time) if row else None,
            "endTime": iso(row.end_time) if row else None,
        }

    @staticmethod
    def _ended_data(event: SessionEvent) -> dict[str, Any]:
        s = event.session
        return {
            **_session_common(s, event.correlation_id),
            "state": s.state.value,
            "reason": s.end_reason,
            "name": s.name,
            "auto": bool(s.channel),
            "startTime": iso(s.start_time),
            "endTime": iso(s.end_time),
            "mediaSeconds": round(s.media_seconds, 3),
            "bytes": s.bytes_written,
            "gapSeconds": round(s.gap_seconds, 3),
            "restarts": s.restarts,
            "files": list(s.record_paths),
        }


class RuntimeView(Protocol):
    """What the scheduler's last check saw of a channel (``autorecord.ChannelRuntime``)."""

    last_title: str
    last_viewers: int | None
    last_message: str


class AvailabilityNotices:
    """Auto-record listener ``(username, before, now, at)`` -> ``channel.*``, ``site.blocked``.

    What was last told of each channel (and each site) is kept in the outbox's state, so the
    first check after a restart tells only what changed while the recorder was down. A channel
    first seen offline is not news; UPSTREAM_ERROR says nothing about the channel at all."""

    def __init__(
        self,
        notifier: Notifier,
        *,
        source_of: Callable[[str], tuple[str, str]],
        runtime: Callable[[str], RuntimeView | None],
        thumbnail_of: Callable[[str], str] = lambda _username: "",
    ) -> None:
        self._notifier = notifier
        self._source_of = source_of  # username -> (source_type, target)
        self._runtime = runtime
        self._thumbnail_of = thumbnail_of

    def __call__(self, username: str, _before: str, now: str, at: datetime) -> None:
        _safe(lambda: self._observed(username, now, at), "channel")

    def _observed(self, username: str, now: str, at: datetime) -> None:
        outbox = self._notifier.outbox
        site = site_of(*self._source_of(username))
        rt = self._runtime(username)
        base = common(channel=username, site=site, correlation_id=correlation.get())
        stamp = at.timestamp()
        if now == "UPSTREAM_ERROR" and rt is not None and _TEAPOT.search(rt.last_message):
            now = "BLOCKED"  # the site's 418 (its refusal of bots) comes as an upstream error
        with outbox.atomic():
            site_key = f"site:{site}"
            if now in SITE_BLOCKS:
                if outbox.state(site_key) == now:
                    return
                outbox.set_state(site_key, now, stamp)
                if self._notifier.wants("site.blocked", username):
                    self._notifier.emit(
                        Notification(
                            "site.blocked",
                            {
                                **base,
                                "availability": now,
                                "message": rt.last_message if rt else "",
                            },
                            at,
                        )
                    )
                return
            kind = CHANNEL_EVENTS.get(now)
            if kind is None:
                return
            if outbox.state(site_key) not in (None, "OK"):
                outbox.set_state(site_key, "OK", stamp)  # the site answers again
            key = f"channel:{username}"
            previous = outbox.state(key)
            if previous == now:
                return
            outbox.set_state(key, now, stamp)
            if previous is None and now == "OFFLINE":
                return
            if not self._notifier.wants(kind, username):
                return
            self._notifier.emit(
                Notification(
                    kind,
                    {
                        **base,
                        "availability": now,
                        "previous": previous,
                        "title": rt.last_title if rt else "",
                        "viewers": rt.last_viewers if rt else None,
                        "message": rt.last_message if rt else "",
                        "thumbnailUrl": self._thumbnail_of(username) or None,
                    },
                    at,
                )
            )


class RetentionNotices:
    """Retention hook, called in the transaction that removes the recording's row."""

    def __init__(self, notifier: Notifier) -> None:
        self._notifier = notifier

    def __call__(self, rec: Recording, reason: str, size: int) -> None:
        if not self._notifier.wants("retention.deleted", rec.person):
            return
        data = {
            **common(
                channel=rec.person,
                session_id=rec.session_id,
                file=rec.path,
                correlation_id=correlation.get(),
            ),
            "reason": reason,
            "sizeBytes": size,
            "mediaSeconds": round(rec.media_seconds, 3),
            "startTime": iso(rec.start_time),
        }
        _safe(lambda: self._notifier.emit(Notification("retention.deleted", data)), "retention")


class DiskNotices:
    """``disk.low`` when free space falls to LOW (under twice MIN_FREE_BYTES) or CRITICAL
    (under 1.25 times), each time it gets worse; nothing while it stays or improves."""

    def __init__(self, notifier: Notifier, output_dir: Path, min_free_bytes: int) -> None:
        self._notifier = notifier
        self._out = output_dir
        self._min_free = min_free_bytes

    def check(self) -> StorageLevel | None:
        """One look at the disk; returns the level (None when it cannot be read)."""
        try:
            usage = shutil.disk_usage(self._out)
        except OSError:
            return None
        level = storage_level(usage.free, self._min_free)
        outbox = self._notifier.outbox
        order = [StorageLevel.OK, StorageLevel.LOW, StorageLevel.CRITICAL]
        with outbox.atomic():
            before = outbox.state("disk")
            if before == level.value:
                return level
            outbox.set_state("disk", level.value, datetime.now().timestamp())
            worse = before is None or order.index(level) > order.index(StorageLevel(before))
            if level is StorageLevel.OK or not worse or not self._notifier.wants("disk.low"):
                return level
            self._notifier.emit(
                Notification(
                    "disk.low",
                    {
                        **common(correlation_id=correlation.get()),
                        "level": level.value,
                        "freeBytes": usage.free,
                        "totalBytes": usage.total,
                        "minFreeBytes": self._min_free,
                    },
                )
            )
        return level

    def _tick(self) -> None:
        self.check()

    async def run(self, interval_s: float, stop: asyncio.Event) -> None:
        """``check`` every ``interval_s`` (DISK_CHECK_INTERVAL) until ``stop`` is set."""
        if self._min_free <= 0:
            return
        while not stop.is_set():
            with correlation.bound(correlation.new_id("diskguard-")):
                _safe(self._tick, "disk")
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
            except TimeoutError:
                pass
