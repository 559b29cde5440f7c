"""``SystemService``: the channel timeline and the system status, for the dashboard.

Thin: the timeline's arithmetic is :mod:`recorder_service.timeline`, retention's forecast is
:func:`recorder_service.retention.next_deletions`, the disk is :mod:`recorder_service.storage`;
this gathers them and reads the ffmpeg processes' figures from /proc."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio

from recorder_service import timeline
from recorder_service.convert import gap_pb
from recorder_service.model import Session
from recorder_service.paths import records_root
from recorder_service.retention import Retention
from recorder_service.storage import folder_usage, measure_storage
from recorder_service.store import GapRecord, RecordingState, Store
from recorder_service.watchlist import WatchList
from servicekit.proc import process_stats
from streamrec.v1 import resolver_service_pb2, system_service_pb2, system_service_pb2_grpc

_AVAILABILITY_PREFIX = "CHANNEL_AVAILABILITY_"


def _ts(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value.astimezone(UTC))
    return ts


def _availability(name: str) -> int:
    try:
        return resolver_service_pb2.ChannelAvailability.Value(_AVAILABILITY_PREFIX + name)
    except ValueError:
        return resolver_service_pb2.CHANNEL_AVAILABILITY_UNSPECIFIED


def watermark_time(
    free_bytes: int, min_free_bytes: int, bytes_per_second: float, now: datetime
) -> datetime | None:
    """When free space falls to the watermark at this write rate; None when nothing is written
    or it is already below."""
    if bytes_per_second <= 0 or free_bytes <= min_free_bytes:
        return None
    return now + timedelta(seconds=(free_bytes - min_free_bytes) / bytes_per_second)


class SystemServicer(system_service_pb2_grpc.SystemServiceServicer):
    def __init__(
        self,
        store: Store,
        retention: Retention,
        *,
        processes: Callable[[], Sequence[tuple[Session, int | None]]],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        self._retention = retention
        self._processes = processes
        self._clock = clock

    async def GetChannelTimeline(
        self,
        request: system_service_pb2.GetChannelTimelineRequest,
        context: aio.ServicerContext,
    ) -> system_service_pb2.GetChannelTimelineResponse:
        channel, person = WatchList(self._store).locate(
            request.username, request.source.strip().lower()
        )
        now = self._clock()
        since = timeline.window_start(
            now,
            request.since_time.ToDatetime(UTC) if request.HasField("since_time") else None,
        )
        changes = self._store.availability_since(person, since)
        recordings = self._store.list_recordings(person=person)
        spans = timeline.recorded_spans(recordings, since, now)
        ledger: list[GapRecord] = []
        for r in recordings:
            ledger.extend(self._store.gaps_of(r.path))
        gaps = timeline.gaps_in_window(ledger, since, now)
        media = sum(s.media_seconds for s in spans)
        reply = system_service_pb2.GetChannelTimelineResponse(
            username=channel.username if channel is not None else person,
            source=channel.source if channel is not None else "",
            person=person,
            since_time=_ts(since),
            now_time=_ts(now),
            gaps=[gap_pb(g) for g in gaps],
            completeness=timeline.completeness(media, sum(g.duration_s for g in gaps)),
        )
        for a in timeline.availability_spans(changes, since, now):
            span = reply.availability.add(
                start_time=_ts(a.start), availability=_availability(a.availability)
            )
            if a.end is not None:
                span.end_time.CopyFrom(_ts(a.end))
        for s in spans:
            recorded = reply.recorded.add(
                start_time=_ts(s.start),
                file_name=s.file_name,
                session_id=s.session_id,
                media_seconds=s.media_seconds,
            )
            if s.end is not None:
                recorded.end_time.CopyFrom(_ts(s.end))
        return reply

    async def GetSystemStatus(
        self,
        request: system_service_pb2.GetSystemStatusRequest,
        context: aio.ServicerContext,
    ) -> system_service_pb2.GetSystemStatusResponse:
        now = self._clock()
        output_dir = self._retention.output_dir
        storage, folders = await asyncio.gather(
            asyncio.to_thread(measure_storage, output_dir, self._retention.min_free_bytes),
            asyncio.to_thread(folder_usage, records_root(output_dir)),
        )
        running = list(self._processes())
        rate = sum(s.bitrate_kbps * 1000 / 8 for s, _ in running)
        reply = system_service_pb2.GetSystemStatusResponse(
            total_bytes=storage.total_bytes,
            free_bytes=storage.free_bytes,
            recordings_bytes=storage.recordings_bytes,
            min_free_bytes=storage.min_free_bytes,
            write_bytes_per_second=rate,
        )
        for person, (size, files) in sorted(folders.items(), key=lambda kv: -kv[1][0]):
            reply.folders.add(person=person, bytes=size, files=files)
        for deletion, at in self._retention.forecast():
            r = deletion.recording
            reply.next_deletions.add(
                person=r.person,
                file_name=r.file_name,
                size_bytes=r.size_bytes,
                delete_time=_ts(at),
                reason=deletion.reason,
            )
        eta = watermark_time(storage.free_bytes, storage.min_free_bytes, rate, now)
        if eta is not None:
            reply.watermark_time.CopyFrom(_ts(eta))
        for session, pid in running:
            info = reply.processes.add(
                session_id=session.session_id,
                person=session.person,
                pid=pid or 0,
                bytes_written=session.bytes_written,
            )
            stats = process_stats(pid) if pid else None
            if stats is not None:
                age, cpu, rss = stats
                info.start_time.CopyFrom(_ts(now - timedelta(seconds=age)))
                info.cpu_percent = 100.0 * cpu / age if age > 0 else 0.0
                info.rss_bytes = rss
        for r in self._store.recordings_in_states([RecordingState.FINALIZING]):
            reply.finalizations.add(
                person=r.person,
                file_name=r.file_name,
                session_id=r.session_id,
                size_bytes=r.size_bytes,
            )
        return reply
