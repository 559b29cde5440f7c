"""JSON shapes of the REST API (request bodies, the session/event views, the shared helpers
for timestamps, durations and enum names) and the checks of names clients put in paths."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, ConfigDict, Field

from servicekit.errors import InvalidArgument
from streamrec.v1 import quality_pb2, resolver_service_pb2, session_pb2

SourceTypeName = Literal["auto", "m3u8", "hls", "chaturbate"]
SOURCE_TYPES = {
    "auto": resolver_service_pb2.SOURCE_TYPE_UNSPECIFIED,
    "m3u8": resolver_service_pb2.SOURCE_TYPE_HLS,
    "hls": resolver_service_pb2.SOURCE_TYPE_HLS,
    "chaturbate": resolver_service_pb2.SOURCE_TYPE_CHATURBATE,
}
#: The site of a session whose recorder predates ``Session.source``.
_LEGACY_SITES = {
    resolver_service_pb2.SOURCE_TYPE_HLS: "hls",
    resolver_service_pb2.SOURCE_TYPE_CHATURBATE: "chaturbate",
}
SOURCE_NAMES = {
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


def quality_json(q: quality_pb2.QualityPreference) -> dict[str, Any]:
    """A quality preference in the shape of :class:`QualityBody` (so it can be sent back)."""
    policy = enum_name(quality_pb2.QualityPolicy.Name, q.policy, "QUALITY_POLICY_") or "BEST"
    return {
        "height": q.height,
        "policy": policy.lower(),
        "fps": q.fps,
        "fallback": q.fallback if q.HasField("fallback") else True,
    }


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
    site: str | None = Field(
        None,
        max_length=64,
        description="the site of a username target (absent: its site: prefix, a room URL's "
        "host, else the default site)",
    )


def iso_time(ts: Timestamp, present: bool) -> str | None:
    """``2025-06-01T12:00:00.000Z`` (UTC, milliseconds), or None when the field is unset."""
    if not present:
        return None
    return ts.ToDatetime().isoformat(timespec="milliseconds") + "Z"


def seconds(d: Duration) -> float:
    """A duration in seconds, to the millisecond."""
    return round(d.ToNanoseconds() / 1e9, 3)


def enum_name(name_of: Callable[[Any], str], value: int, prefix: str) -> str | None:
    """``name_of(value)`` (an enum's ``Name``) without ``prefix``; None for 0 (UNSPECIFIED); the
    number as text for a value this gateway's protos do not know yet (a newer recorder)."""
    if value == 0:
        return None
    try:
        name = name_of(value)
    except ValueError:
        return str(value)
    return name.removeprefix(prefix)


# Names that end up in paths on disk: records/{person}/{file}. Checked in the gateway before
# any call, so a bad one is a 400 even when the recorder is down, and never reaches a path.
PERSON_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
FILE_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,199}$")
RECORDING_SUFFIXES = (".ts", ".mp4")


def check_person(person: str) -> str:
    """A recording folder name, lower-cased (folders are lower-case slugs)."""
    if not PERSON_RE.fullmatch(person):
        raise InvalidArgument(
            "person must be 1-64 letters, digits, '_' or '-'", reason="INVALID_PERSON"
        )
    return person.lower()


def check_file_name(name: str) -> str:
    """A recording file name: a plain ``.ts`` or ``.mp4`` name, no path, no ``..``."""
    if not FILE_NAME_RE.fullmatch(name) or ".." in name or not name.endswith(RECORDING_SUFFIXES):
        raise InvalidArgument(
            "file name must be a plain .ts or .mp4 name ([A-Za-z0-9_.-], no '..')",
            reason="INVALID_FILE_NAME",
        )
    return name


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
        "source_type": SOURCE_NAMES.get(s.source_type, "auto"),
        # The source as data; a recorder older than that names only the deprecated enum.
        "site": s.source or _LEGACY_SITES.get(s.source_type),
        "state": state,
        "running": running,
        "start_time": iso_time(s.start_time, s.HasField("start_time")),
        "end_time": iso_time(s.end_time, s.HasField("end_time")),
        "playback_url": f"/streams/sessions/{s.session_id}/stream.m3u8" if running else None,
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
    """A gap in a recording (the gap ledger)."""
    return {
        "startTime": iso_time(g.start_time, g.HasField("start_time")),
        "duration": seconds(g.duration),
        "cause": enum_name(session_pb2.GapCause.Name, g.cause, "GAP_CAUSE_") or "UNSPECIFIED",
        "detail": g.detail,
    }


def event_json(e: session_pb2.SessionEvent) -> dict[str, Any]:
    body = {
        "sequence": e.sequence,
        "type": session_pb2.SessionEventType.Name(e.type).removeprefix("SESSION_EVENT_TYPE_"),
        "event_time": iso_time(e.event_time, e.HasField("event_time")),
        "message": e.message,
        "correlation_id": e.correlation_id,
        "session": session_json(e.session),
    }
    if e.HasField("gap"):
        body["gap"] = gap_json(e.gap)
    return body
