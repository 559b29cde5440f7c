"""Domain <-> protobuf translation for the recorder's gRPC edge."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from google.protobuf import duration_pb2, timestamp_pb2

from recorder_service.events import Snapshot
from recorder_service.model import EventType, Session, SessionEvent, VariantInfo, completeness
from recorder_service.ports import ChannelCheck, QualityWish
from recorder_service.recordings import RecordingView
from recorder_service.storage import Storage
from recorder_service.store import Channel, GapRecord
from servicekit.errors import InvalidArgument
from streamrec.v1 import (
    channel_service_pb2,
    quality_pb2,
    recorder_service_pb2,
    recording_service_pb2,
    resolver_service_pb2,
    session_pb2,
)

if TYPE_CHECKING:
    from recorder_service.autorecord import ChannelRuntime

# The recorder's source names and the wire enum; "auto" lets the resolver decide.
SOURCE_TO_PB = {
    "auto": resolver_service_pb2.SOURCE_TYPE_UNSPECIFIED,
    "hls": resolver_service_pb2.SOURCE_TYPE_HLS,
    "chaturbate": resolver_service_pb2.SOURCE_TYPE_CHATURBATE,
}
SOURCE_FROM_PB = {v: k for k, v in SOURCE_TO_PB.items()}


def source_type_pb(source: str) -> resolver_service_pb2.SourceType.ValueType:
    """The deprecated enum for a source name (UNSPECIFIED for the sites it never listed)."""
    return SOURCE_TO_PB.get(source, resolver_service_pb2.SOURCE_TYPE_UNSPECIFIED)


def source_from_pb(source: str, source_type: int) -> str:
    """The source a request names: its ``source`` string, else the deprecated enum's name,
    else "" (the target's shape decides). InvalidArgument for an enum value this recorder
    does not know, or a string and an enum that disagree."""
    by_enum = SOURCE_FROM_PB.get(source_type)  # type: ignore[call-overload]
    if by_enum is None:
        raise InvalidArgument(f"unknown source_type {source_type}", reason="UNKNOWN_SOURCE_TYPE")
    source = source.strip().lower()
    if source and by_enum != "auto" and by_enum != source:
        raise InvalidArgument(
            f"source {source!r} and source_type {by_enum!r} disagree", reason="SOURCE_MISMATCH"
        )
    return source or ("" if by_enum == "auto" else by_enum)


def ts(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    out = timestamp_pb2.Timestamp()
    out.FromDatetime(value)
    return out


def variant_pb(v: VariantInfo | None) -> quality_pb2.Variant | None:
    if v is None:
        return None
    return quality_pb2.Variant(
        width=v.width,
        height=v.height,
        fps=v.fps,
        bandwidth=v.bandwidth,
        codecs=v.codecs,
        name=v.name,
    )


def variant_from_pb(v: quality_pb2.Variant) -> VariantInfo:
    return VariantInfo(
        width=v.width,
        height=v.height,
        fps=v.fps,
        bandwidth=v.bandwidth,
        codecs=v.codecs,
        name=v.name,
    )


def session_pb(s: Session) -> session_pb2.Session:
    """The wire form of a session."""
    media = duration_pb2.Duration()
    media.FromNanoseconds(int(s.media_seconds * 1e9))
    return session_pb2.Session(
        session_id=s.session_id,
        person=s.person,
        name=s.name,
        target=s.target,
        source_type=source_type_pb(s.source_type),
        source="" if s.source_type == "auto" else s.source_type,
        state=session_pb2.SessionState.Value(f"SESSION_STATE_{s.state.value}"),
        start_time=ts(s.start_time),
        end_time=ts(s.end_time),
        record_paths=list(s.record_paths),
        preview_path=s.preview_path,
        bytes_written=s.bytes_written,
        media_duration=media,
        bitrate_kbps=s.bitrate_kbps,
        speed=s.speed,
        last_progress_time=ts(s.last_progress_time),
        variant=variant_pb(s.variant),
        separate_audio=s.separate_audio,
        end_reason=s.end_reason,
        correlation_id=s.correlation_id,
        restarts=s.restarts,
        channel=s.channel,
        completeness=s.completeness,
    )


def event_pb(e: SessionEvent) -> recorder_service_pb2.WatchSessionsResponse:
    event = session_pb2.SessionEvent(
        sequence=e.sequence,
        event_time=ts(e.event_time),
        type=session_pb2.SessionEventType.Value(f"SESSION_EVENT_TYPE_{e.type.value}"),
        session=session_pb(e.session),
        message=e.message,
        correlation_id=e.correlation_id,
    )
    if e.type is EventType.GAP and "cause" in e.extra:
        event.gap.CopyFrom(
            gap_pb(
                GapRecord(
                    session_id=e.session.session_id,
                    path=e.session.record_paths[-1] if e.session.record_paths else "",
                    start_time=datetime.fromisoformat(e.extra["start_time"]),
                    duration_s=float(e.extra.get("duration_s", "0")),
                    cause=e.extra["cause"],
                    detail=e.extra.get("detail", ""),
                )
            )
        )
    return recorder_service_pb2.WatchSessionsResponse(event=event)


def snapshot_pb(snap: Snapshot) -> recorder_service_pb2.WatchSessionsResponse:
    return recorder_service_pb2.WatchSessionsResponse(
        snapshot=recorder_service_pb2.SessionSnapshot(
            sequence=snap.sequence, sessions=[session_pb(s) for s in snap.sessions]
        )
    )


_AVAILABILITY_PREFIX = "CHANNEL_AVAILABILITY_"
_UINT32_MAX = 2**32 - 1


def channel_check_from_pb(pb: resolver_service_pb2.ChannelStatus) -> ChannelCheck:
    return ChannelCheck(
        target=pb.target,
        source_type=pb.source or SOURCE_FROM_PB.get(pb.source_type, "auto"),
        availability=resolver_service_pb2.ChannelAvailability.Name(pb.availability).removeprefix(
            _AVAILABILITY_PREFIX
        ),
        checked_at=pb.checked_time.ToDatetime(tzinfo=UTC) if pb.HasField("checked_time") else None,
        room_status=pb.room_status,
        viewers=pb.viewers if pb.HasField("viewers") else None,
        title=pb.title,
        thumbnail_url=pb.thumbnail_url,
        message=pb.message,
        reason=pb.reason,
        method=pb.method,
        retry_after=pb.retry_after_seconds,
    )


def channel_check_pb(check: ChannelCheck) -> resolver_service_pb2.ChannelStatus:
    pb = resolver_service_pb2.ChannelStatus(
        target=check.target,
        source_type=source_type_pb(check.source_type),
        source="" if check.source_type == "auto" else check.source_type,
        availability=resolver_service_pb2.ChannelAvailability.Value(
            _AVAILABILITY_PREFIX + check.availability
        ),
        checked_time=ts(check.checked_at),
        room_status=check.room_status,
        title=check.title,
        thumbnail_url=check.thumbnail_url,
        message=check.message,
        reason=check.reason,
        method=check.method,
        retry_after_seconds=check.retry_after,
    )
    if check.viewers is not None:
        pb.viewers = check.viewers
    return pb


def quality_from_pb(pref: quality_pb2.QualityPreference) -> QualityWish:
    if pref.policy not in quality_pb2.QualityPolicy.values():
        # An open enum: a number this recorder's protos do not define is bad input, not a crash.
        raise InvalidArgument(f"unknown quality policy {pref.policy}", reason="INVALID_QUALITY")
    policy = quality_pb2.QualityPolicy.Name(pref.policy).removeprefix("QUALITY_POLICY_")
    return QualityWish(
        height=pref.height,
        policy="BEST" if policy == "UNSPECIFIED" else policy,
        fps=pref.fps,
        fallback=pref.fallback if pref.HasField("fallback") else True,
    )


def quality_pb(q: QualityWish) -> quality_pb2.QualityPreference:
    return quality_pb2.QualityPreference(
        height=q.height,
        policy=quality_pb2.QualityPolicy.Value(f"QUALITY_POLICY_{q.policy}"),
        fps=q.fps,
        fallback=q.fallback,
    )


def channel_fields_from_pb(pb: channel_service_pb2.Channel) -> dict[str, Any]:
    """The settable fields of a wire channel, by field-mask name (unknown enums refused).
    ``source_type`` is the source it names (``source`` or the deprecated enum), "auto" for
    none."""
    source = source_from_pb(pb.source, pb.source_type) or "auto"
    if pb.quality.policy not in quality_pb2.QualityPolicy.values():
        raise InvalidArgument(
            f"unknown quality policy {pb.quality.policy}", reason="INVALID_CHANNEL"
        )
    return {
        "target": pb.target,
        "source_type": source,
        "name": pb.name,
        "auto_record": pb.auto_record,
        "retention_days": pb.retention_days,
        "max_bytes": pb.max_bytes,
        "max_count": pb.max_count,
        "quality": quality_from_pb(pb.quality),
    }


def channel_pb(
    c: Channel, *, session_id: str = "", runtime: ChannelRuntime | None = None
) -> channel_service_pb2.Channel:
    pb = channel_service_pb2.Channel(
        username=c.username,
        target=c.target,
        source_type=source_type_pb(c.source),
        source=c.source,
        key=c.key,
        name=c.display_name,
        auto_record=c.auto_record,
        retention_days=c.retention_days,
        max_bytes=c.max_bytes,
        max_count=c.max_count,
        quality=quality_pb(c.quality),
        create_time=ts(c.created_at),
        update_time=ts(c.updated_at),
        session_id=session_id,
    )
    if runtime is not None:
        availability = _AVAILABILITY_PREFIX + runtime.last_availability
        if availability in resolver_service_pb2.ChannelAvailability.keys():
            pb.last_availability = resolver_service_pb2.ChannelAvailability.Value(availability)
        if runtime.last_check_at is not None:
            pb.last_check_time.FromDatetime(runtime.last_check_at)
        pb.last_error = runtime.last_error
        pb.last_title = runtime.last_title
        if runtime.last_viewers is not None:
            pb.last_viewers = min(max(runtime.last_viewers, 0), _UINT32_MAX)
        pb.last_room_status = runtime.last_room_status
        pb.last_message = runtime.last_message
    return pb


def recording_pb(view: RecordingView) -> recording_service_pb2.Recording:
    r = view.recording
    media = duration_pb2.Duration()
    media.FromNanoseconds(int(r.media_seconds * 1e9))
    return recording_service_pb2.Recording(
        person=r.person,
        file_name=r.file_name,
        path=r.path,
        session_id=r.session_id,
        part=r.part,
        state=recording_service_pb2.RecordingState.Value(f"RECORDING_STATE_{r.state.value}"),
        size_bytes=r.size_bytes,
        media_duration=media,
        start_time=ts(r.start_time),
        end_time=ts(r.end_time),
        pinned=r.pinned,
        format=r.format,
        parts=view.parts,
        gaps=[gap_pb(g) for g in view.gaps],
        completeness=completeness(r.media_seconds, sum(g.duration_s for g in view.gaps)),
        has_poster=view.has_poster,
        has_sheet=view.has_sheet,
    )


def gap_pb(g: GapRecord) -> session_pb2.Gap:
    length = duration_pb2.Duration()
    length.FromNanoseconds(int(g.duration_s * 1e9))
    cause = f"GAP_CAUSE_{g.cause}"
    known = cause in session_pb2.GapCause.keys()
    return session_pb2.Gap(
        start_time=ts(g.start_time),
        duration=length,
        cause=session_pb2.GapCause.Value(cause if known else "GAP_CAUSE_UNSPECIFIED"),
        detail=g.detail,
    )


def storage_pb(s: Storage) -> recording_service_pb2.GetStorageResponse:
    return recording_service_pb2.GetStorageResponse(
        total_bytes=s.total_bytes,
        used_bytes=s.used_bytes,
        free_bytes=s.free_bytes,
        recordings_bytes=s.recordings_bytes,
        min_free_bytes=s.min_free_bytes,
        level=recording_service_pb2.StorageLevel.Value(f"STORAGE_LEVEL_{s.level.value}"),
    )
