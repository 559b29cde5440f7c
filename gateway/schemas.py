"""JSON shapes of the REST API (request bodies and the session/event views)."""

from __future__ import annotations

from typing import Any, Literal

from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, ConfigDict, Field

from streamrec.v1 import quality_pb2, resolver_service_pb2, session_pb2

SourceTypeName = Literal["auto", "m3u8", "hls", "chaturbate"]
SOURCE_TYPES = {
    "auto": resolver_service_pb2.SOURCE_TYPE_UNSPECIFIED,
    "m3u8": resolver_service_pb2.SOURCE_TYPE_HLS,
    "hls": resolver_service_pb2.SOURCE_TYPE_HLS,
    "chaturbate": resolver_service_pb2.SOURCE_TYPE_CHATURBATE,
}
_SOURCE_NAMES = {
    resolver_service_pb2.SOURCE_TYPE_UNSPECIFIED: "auto",
    resolver_service_pb2.SOURCE_TYPE_HLS: "m3u8",
    resolver_service_pb2.SOURCE_TYPE_CHATURBATE: "chaturbate",
}


class QualityBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    height: int = Field(0, ge=0, le=10_000, description="wanted height in pixels (0 = best)")
    policy: Literal["best", "exact", "closest", "highest_below", "lowest_above"] = "best"
    fps: float = Field(0.0, ge=0, le=1000)
    fallback: bool = True

    def to_pb(self) -> quality_pb2.QualityPreference:
        return quality_pb2.QualityPreference(
            height=self.height,
            policy=quality_pb2.QualityPolicy.Value(f"QUALITY_POLICY_{self.policy.upper()}"),
            fps=self.fps,
            fallback=self.fallback,
        )


class StartBody(BaseModel):
    """The seed's ``POST /api/start`` body, plus an optional quality preference."""

    model_config = ConfigDict(extra="ignore")

    target: str = Field(..., max_length=2048, description="a username or an http(s) .m3u8 URL")
    source_type: SourceTypeName | None = Field(
        None, description="m3u8, chaturbate, or absent/auto to decide from the target"
    )
    name: str | None = Field(None, max_length=200, description="display name")
    person: str | None = Field(
        None, max_length=200, description="recording folder; inferred from the target if absent"
    )
    quality: QualityBody | None = None


def _time(ts: Timestamp, present: bool) -> str | None:
    if not present:
        return None
    return ts.ToDatetime().isoformat(timespec="milliseconds") + "Z"


def session_json(s: session_pb2.Session) -> dict[str, Any]:
    """A session as the REST API shows it (the seed's fields plus streamrec's)."""
    state = session_pb2.SessionState.Name(s.state).removeprefix("SESSION_STATE_")
    running = state in ("STARTING", "RECORDING", "STALLED", "RECONNECTING", "STOPPING")
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
        "source_type": _SOURCE_NAMES.get(s.source_type, "auto"),
        "state": state,
        "running": running,
        "start_time": _time(s.start_time, s.HasField("start_time")),
        "end_time": _time(s.end_time, s.HasField("end_time")),
        "playback_url": f"/streams/sessions/{s.session_id}/stream.m3u8" if running else None,
        "record_path": s.record_paths[-1] if s.record_paths else None,
        "record_paths": list(s.record_paths),
        "bytes_written": s.bytes_written,
        "media_seconds": round(s.media_duration.ToNanoseconds() / 1e9, 3),
        "bitrate_kbps": round(s.bitrate_kbps, 1),
        "speed": round(s.speed, 3),
        "last_progress_time": _time(s.last_progress_time, s.HasField("last_progress_time")),
        "variant": variant,
        "separate_audio": s.separate_audio,
        "end_reason": s.end_reason,
        "restarts": s.restarts,
        "correlation_id": s.correlation_id,
    }


def event_json(e: session_pb2.SessionEvent) -> dict[str, Any]:
    return {
        "sequence": e.sequence,
        "type": session_pb2.SessionEventType.Name(e.type).removeprefix("SESSION_EVENT_TYPE_"),
        "event_time": _time(e.event_time, e.HasField("event_time")),
        "message": e.message,
        "correlation_id": e.correlation_id,
        "session": session_json(e.session),
    }
