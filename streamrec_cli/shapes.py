"""The ``--json`` shapes: the field names of the gateway's REST API (``gateway/schemas.py`` and
friends), rebuilt here so the CLI does not depend on FastAPI. Fields that only make sense over
HTTP (the gateway's ``playback_url`` and ``url``) are left out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from streamrec.v1 import (
    channel_service_pb2,
    quality_pb2,
    recorder_service_pb2,
    recording_service_pb2,
    resolver_service_pb2,
    session_pb2,
)

SOURCE_NAMES = {
    resolver_service_pb2.SOURCE_TYPE_UNSPECIFIED: "auto",
    resolver_service_pb2.SOURCE_TYPE_HLS: "m3u8",
    resolver_service_pb2.SOURCE_TYPE_CHATURBATE: "chaturbate",
}
#: The site of a channel or session whose recorder predates the source as data.
LEGACY_SITE = "chaturbate"
RUNNING_STATES = frozenset({"STARTING", "RECORDING", "STALLED", "RECONNECTING", "STOPPING"})


def iso_time(ts: Timestamp, present: bool) -> str | None:
    """``2025-06-01T12:00:00.000Z`` (UTC, milliseconds), or None when the field is unset."""
    if not present:
        return None
    return ts.ToDatetime().isoformat(timespec="milliseconds") + "Z"


def seconds(d: Duration) -> float:
    """A duration in seconds, to the millisecond."""
    return round(d.ToNanoseconds() / 1e9, 3)


def enum_name(name_of: Callable[[Any], str], value: int, prefix: str) -> str | None:
    """``name_of(value)`` without ``prefix``; None for 0 (UNSPECIFIED); the number as text for
    a value these protos do not know (a newer recorder)."""
    if value == 0:
        return None
    try:
        name = name_of(value)
    except ValueError:
        return str(value)
    return name.removeprefix(prefix)


def channel_site(c: channel_service_pb2.Channel) -> str:
    """The channel's site (an older recorder names none: its one site, or a playlist URL)."""
    hls = c.source_type == resolver_service_pb2.SOURCE_TYPE_HLS
    return c.source or ("hls" if hls else LEGACY_SITE)


def channel_key(c: channel_service_pb2.Channel) -> str:
    """``alice`` on the default site, ``stripchat:alice`` elsewhere (the recorder's own)."""
    if c.key:
        return c.key
    if not c.source or c.source == LEGACY_SITE:
        return c.username
    return f"{c.source}:{c.username}"


def session_site(s: session_pb2.Session) -> str | None:
    if s.source:
        return s.source
    return {
        resolver_service_pb2.SOURCE_TYPE_HLS: "hls",
        resolver_service_pb2.SOURCE_TYPE_CHATURBATE: LEGACY_SITE,
    }.get(s.source_type)


def session_state(s: session_pb2.Session) -> str:
    return enum_name(session_pb2.SessionState.Name, s.state, "SESSION_STATE_") or "UNSPECIFIED"


def session_json(s: session_pb2.Session) -> dict[str, Any]:
    """A session, with the REST API's field names."""
    state = session_state(s)
    variant = None
    if s.HasField("variant"):
        v = s.variant
        variant = {"width": v.width, "height": v.height, "fps": v.fps, "bandwidth": v.bandwidth}
    return {
        "id": s.session_id,
        "session_id": s.session_id,
        "person": s.person,
        "name": s.name,
        "target": s.target,
        "source_type": SOURCE_NAMES.get(s.source_type, "auto"),
        "site": session_site(s),
        "state": state,
        "running": state in RUNNING_STATES,
        "start_time": iso_time(s.start_time, s.HasField("start_time")),
        "end_time": iso_time(s.end_time, s.HasField("end_time")),
        "preview_path": s.preview_path or None,
        "record_path": s.record_paths[-1] if s.record_paths else None,
        "record_paths": list(s.record_paths),
        "bytes_written": s.bytes_written,
        "media_seconds": seconds(s.media_duration),
        "bitrate_kbps": round(s.bitrate_kbps, 1),
        "speed": round(s.speed, 3),
        "last_progress_time": iso_time(s.last_progress_time, s.HasField("last_progress_time")),
        "variant": variant,
        "separate_audio": s.separate_audio,
        "end_reason": s.end_reason,
        "restarts": s.restarts,
        "completeness": round(s.completeness, 4),
        "channel": s.channel or None,
        "correlation_id": s.correlation_id,
    }


def gap_json(g: session_pb2.Gap) -> dict[str, Any]:
    return {
        "startTime": iso_time(g.start_time, g.HasField("start_time")),
        "duration": seconds(g.duration),
        "cause": enum_name(session_pb2.GapCause.Name, g.cause, "GAP_CAUSE_") or "UNSPECIFIED",
        "detail": g.detail,
    }


def event_type(e: session_pb2.SessionEvent) -> str:
    name = enum_name(session_pb2.SessionEventType.Name, e.type, "SESSION_EVENT_TYPE_")
    return name or "UNSPECIFIED"


def event_json(e: session_pb2.SessionEvent) -> dict[str, Any]:
    """A session event, as the gateway's SSE ``data``."""
    body: dict[str, Any] = {
        "sequence": e.sequence,
        "type": event_type(e),
        "event_time": iso_time(e.event_time, e.HasField("event_time")),
        "message": e.message,
        "correlation_id": e.correlation_id,
        "session": session_json(e.session),
    }
    if e.HasField("gap"):
        body["gap"] = gap_json(e.gap)
    return body


def snapshot_json(snap: recorder_service_pb2.SessionSnapshot) -> dict[str, Any]:
    """A WatchSessions snapshot (``type`` tells it from the events in ``watch --json``)."""
    return {
        "sequence": snap.sequence,
        "type": "SNAPSHOT",
        "sessions": [session_json(s) for s in snap.sessions],
    }


def quality_json(q: quality_pb2.QualityPreference) -> dict[str, Any]:
    policy = enum_name(quality_pb2.QualityPolicy.Name, q.policy, "QUALITY_POLICY_") or "BEST"
    return {
        "height": q.height,
        "policy": policy.lower(),
        "fps": q.fps,
        "fallback": q.fallback if q.HasField("fallback") else True,
    }


def channel_json(c: channel_service_pb2.Channel) -> dict[str, Any]:
    """A watched channel, with the REST API's (camelCase) field names."""
    return {
        "username": c.username,
        "site": channel_site(c),
        "key": channel_key(c),
        "name": c.name,
        "target": c.target,
        "sourceType": SOURCE_NAMES.get(c.source_type, "auto"),
        "autoRecord": c.auto_record,
        "retentionDays": c.retention_days,
        "maxBytes": c.max_bytes,
        "maxCount": c.max_count,
        "quality": quality_json(c.quality) if c.HasField("quality") else None,
        "createdAt": iso_time(c.create_time, c.HasField("create_time")),
        "updatedAt": iso_time(c.update_time, c.HasField("update_time")),
        "recording": bool(c.session_id),
        "sessionId": c.session_id or None,
        "lastAvailability": channel_availability(c),
        "lastCheckAt": iso_time(c.last_check_time, c.HasField("last_check_time")),
        "lastError": c.last_error or None,
        "lastTitle": c.last_title,
        "lastViewers": c.last_viewers if c.HasField("last_viewers") else None,
        "lastRoomStatus": c.last_room_status,
        "lastMessage": c.last_message,
    }


def channel_availability(c: channel_service_pb2.Channel) -> str | None:
    return enum_name(
        resolver_service_pb2.ChannelAvailability.Name,
        c.last_availability,
        "CHANNEL_AVAILABILITY_",
    )


def recording_state(r: recording_service_pb2.Recording) -> str:
    name = enum_name(recording_service_pb2.RecordingState.Name, r.state, "RECORDING_STATE_")
    return name or "UNSPECIFIED"


def recording_json(r: recording_service_pb2.Recording) -> dict[str, Any]:
    """A recording file, with the REST API's field names."""
    return {
        "person": r.person,
        "file": r.file_name,
        "path": r.path,
        "size": r.size_bytes,
        "duration": seconds(r.media_duration),
        "startTime": iso_time(r.start_time, r.HasField("start_time")),
        "endTime": iso_time(r.end_time, r.HasField("end_time")),
        "state": recording_state(r),
        "sessionId": r.session_id or None,
        "part": r.part,
        "parts": r.parts,
        "pinned": r.pinned,
        "format": r.format,
        "gaps": [gap_json(g) for g in r.gaps],
        "completeness": round(r.completeness, 4),
    }


def retention_json(r: recording_service_pb2.RunRetentionResponse) -> dict[str, Any]:
    return {
        "filesDeleted": r.files_deleted,
        "bytesFreed": r.bytes_freed,
        "freeBytes": r.free_bytes,
        "dryRun": r.dry_run,
        "channels": [
            {
                "person": c.person,
                "filesDeleted": c.files_deleted,
                "bytesFreed": c.bytes_freed,
                "files": list(c.files),
            }
            for c in r.channels
        ],
    }


def disk_json(s: recording_service_pb2.GetStorageResponse) -> dict[str, Any]:
    level = enum_name(recording_service_pb2.StorageLevel.Name, s.level, "STORAGE_LEVEL_")
    return {
        "totalBytes": s.total_bytes,
        "usedBytes": s.used_bytes,
        "freeBytes": s.free_bytes,
        "recordingsBytes": s.recordings_bytes,
        "minFreeBytes": s.min_free_bytes,
        "level": level or "UNSPECIFIED",
    }
