"""``/api/disk``: the recorder's disk usage for the dashboard header (``GetStorage``);
``/api/system`` and ``/api/models/{username}/timeline``: the dashboard's system and channel
pages (``SystemService``).

The level (``OK``, ``LOW``, ``CRITICAL``) is the recorder's, computed against its own
watermark (``MIN_FREE_BYTES``): the gateway only renames fields. Retried on UNAVAILABLE like
the other reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.backend import Backend, backend
from gateway.routes.recordings import Person
from gateway.schemas import check_person, enum_name, gap_json, iso_time
from gateway.sites import SiteQuery, channel_or_folder
from servicekit.retry import call_idempotent
from streamrec.v1 import recording_service_pb2, resolver_service_pb2, system_service_pb2

router = APIRouter(prefix="/api", tags=["system"])


def disk_json(s: recording_service_pb2.GetStorageResponse) -> dict[str, Any]:
    """Disk usage as the REST API shows it (bytes as integers)."""
    level = enum_name(recording_service_pb2.StorageLevel.Name, s.level, "STORAGE_LEVEL_")
    return {
        "totalBytes": s.total_bytes,
        "usedBytes": s.used_bytes,
        "freeBytes": s.free_bytes,
        "recordingsBytes": s.recordings_bytes,
        "minFreeBytes": s.min_free_bytes,
        "level": level or "UNSPECIFIED",
    }


@router.get("/disk", summary="Disk usage of the recordings' file system")
async def disk(be: Annotated[Backend, Depends(backend)]) -> dict[str, Any]:
    """Total, used and free bytes of the file system holding the recordings, the bytes of the
    recordings themselves, the free-space watermark (``MIN_FREE_BYTES``, 0 = none) and
    ``level``: ``LOW`` under twice the watermark free, ``CRITICAL`` under 1.25 times it (new
    recordings are refused under 1x), else ``OK``."""
    request = recording_service_pb2.GetStorageRequest()
    response: recording_service_pb2.GetStorageResponse = await call_idempotent(
        lambda: be.recordings.GetStorage(request, timeout=be.settings.rpc_timeout)
    )
    return disk_json(response)


def _ts(ts: Timestamp, present: bool) -> str | None:
    return iso_time(ts, present)


def system_json(s: system_service_pb2.GetSystemStatusResponse) -> dict[str, Any]:
    return {
        "disk": {
            "totalBytes": s.total_bytes,
            "freeBytes": s.free_bytes,
            "recordingsBytes": s.recordings_bytes,
            "minFreeBytes": s.min_free_bytes,
        },
        "folders": [{"person": f.person, "bytes": f.bytes, "files": f.files} for f in s.folders],
        "nextDeletions": [
            {
                "person": d.person,
                "file": d.file_name,
                "sizeBytes": d.size_bytes,
                "deleteAt": _ts(d.delete_time, d.HasField("delete_time")),
                "reason": d.reason,
            }
            for d in s.next_deletions
        ],
        "writeBytesPerSecond": round(s.write_bytes_per_second, 1),
        "watermarkAt": _ts(s.watermark_time, s.HasField("watermark_time")),
        "processes": [
            {
                "sessionId": p.session_id,
                "person": p.person,
                "pid": p.pid or None,
                "startTime": _ts(p.start_time, p.HasField("start_time")),
                "cpuPercent": round(p.cpu_percent, 2),
                "rssBytes": p.rss_bytes,
                "bytesWritten": p.bytes_written,
            }
            for p in s.processes
        ],
        "finalizations": [
            {
                "person": f.person,
                "file": f.file_name,
                "sessionId": f.session_id,
                "sizeBytes": f.size_bytes,
            }
            for f in s.finalizations
        ],
    }


@router.get("/system", summary="Disk by channel, retention forecast, ffmpeg processes")
async def system(be: Annotated[Backend, Depends(backend)]) -> dict[str, Any]:
    """The dashboard's system page: disk use by recording folder, what retention deletes next
    and when (``deleteAt`` = now: at its next run), when free space reaches the watermark at
    the current write rate (``watermarkAt``, null when nothing is written or it is passed),
    every running ffmpeg (uptime, average CPU, memory, bytes) and the finalizations under way."""
    request = system_service_pb2.GetSystemStatusRequest()
    response: system_service_pb2.GetSystemStatusResponse = await call_idempotent(
        lambda: be.system.GetSystemStatus(request, timeout=be.settings.rpc_timeout)
    )
    return system_json(response)


def timeline_json(t: system_service_pb2.GetChannelTimelineResponse) -> dict[str, Any]:
    availability = resolver_service_pb2.ChannelAvailability.Name
    return {
        "username": t.username,
        "site": t.source or None,
        "person": t.person or None,
        "since": _ts(t.since_time, t.HasField("since_time")),
        "now": _ts(t.now_time, t.HasField("now_time")),
        "availability": [
            {
                "start": _ts(a.start_time, a.HasField("start_time")),
                "end": _ts(a.end_time, a.HasField("end_time")),
                "availability": enum_name(availability, a.availability, "CHANNEL_AVAILABILITY_"),
            }
            for a in t.availability
        ],
        "recorded": [
            {
                "start": _ts(r.start_time, r.HasField("start_time")),
                "end": _ts(r.end_time, r.HasField("end_time")),
                "file": r.file_name,
                "sessionId": r.session_id,
                "mediaSeconds": round(r.media_seconds, 3),
            }
            for r in t.recorded
        ],
        "gaps": [gap_json(g) for g in t.gaps],
        "completeness": round(t.completeness, 4),
    }


@router.get("/models/{username}/timeline", summary="A channel's last days")
async def channel_timeline(
    username: Person,
    be: Annotated[Backend, Depends(backend)],
    days: Annotated[float, Query(gt=0, le=31, description="the window, in days")] = 7,
    site: SiteQuery = None,
) -> dict[str, Any]:
    """When the site said the channel was online (or private, away...), when it was recorded,
    and the gaps of the gap ledger where they happened, over the last ``days`` days.
    ``username`` is the channel's key (``stripchat:alice``) or a recording folder."""
    ref = channel_or_folder(username, site, check_person)
    since = Timestamp()
    since.FromDatetime(datetime.now(UTC) - timedelta(days=days))
    request = system_service_pb2.GetChannelTimelineRequest(
        username=ref.username, since_time=since, source=ref.site
    )
    response: system_service_pb2.GetChannelTimelineResponse = await call_idempotent(
        lambda: be.system.GetChannelTimeline(request, timeout=be.settings.rpc_timeout)
    )
    return timeline_json(response)
