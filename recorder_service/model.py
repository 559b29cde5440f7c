"""The recorder's domain model: sessions, their states and events (no gRPC in here)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any


class SessionState(enum.Enum):
    STARTING = "STARTING"
    RECORDING = "RECORDING"
    STALLED = "STALLED"
    RECONNECTING = "RECONNECTING"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    FAILED = "FAILED"
    INTERRUPTED = "INTERRUPTED"

    @property
    def ended(self) -> bool:
        return self in (SessionState.STOPPED, SessionState.FAILED, SessionState.INTERRUPTED)


class EventType(enum.Enum):
    STARTING = "STARTING"
    RECORDING = "RECORDING"
    PROGRESS = "PROGRESS"
    STALLED = "STALLED"
    RECONNECTING = "RECONNECTING"
    GAP = "GAP"
    FILE_ROTATED = "FILE_ROTATED"
    STOPPING = "STOPPING"
    STOPPED = "STOPPED"
    FAILED = "FAILED"
    FINALIZED = "FINALIZED"


@dataclass(frozen=True)
class VariantInfo:
    width: int = 0
    height: int = 0
    fps: float = 0.0
    bandwidth: int = 0
    codecs: str = ""
    name: str = ""


def completeness(media_seconds: float, gap_seconds: float) -> float:
    """The share of a stream that was recorded, from the media time and the gap ledger."""
    if gap_seconds <= 0:
        return 1.0
    return max(0.0, media_seconds) / (max(0.0, media_seconds) + gap_seconds)


@dataclass
class Session:
    """A recording session, mutated only by the session manager and its supervisor."""

    session_id: str
    person: str
    name: str
    target: str
    source_type: str
    start_time: datetime
    correlation_id: str
    preview_path: str
    state: SessionState = SessionState.STARTING
    end_time: datetime | None = None
    record_paths: tuple[str, ...] = ()
    bytes_written: int = 0
    media_seconds: float = 0.0
    bitrate_kbps: float = 0.0
    speed: float = 0.0
    last_progress_time: datetime | None = None
    variant: VariantInfo | None = None
    separate_audio: bool = False
    end_reason: str = ""
    restarts: int = 0
    # The watch-list channel that started it automatically ("" for a manual start).
    channel: str = ""
    # Seconds of media missing (the gap ledger's total for this session).
    gap_seconds: float = 0.0
    # How to start a manual session again after a recorder restart (``resume.py``): the target
    # as given (unredacted: kept in the store only, never in logs, events or the API), its
    # source type, name and quality wish. None for watch-list sessions and once resumed.
    resume: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def completeness(self) -> float:
        """Media seconds over media plus gap seconds; 1 with no known gap."""
        return completeness(self.media_seconds, self.gap_seconds)

    def snapshot(self) -> Session:
        """An independent copy, safe to hand to event subscribers."""
        return replace(self)


@dataclass(frozen=True)
class SessionEvent:
    sequence: int
    event_time: datetime
    type: EventType
    session: Session
    message: str = ""
    correlation_id: str = ""
    extra: dict[str, str] = field(default_factory=dict)
