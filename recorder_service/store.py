"""What the recorder keeps across restarts, behind a small interface.

The embedded default is SQLite (``sqlite_store.SqliteStore``); a shared database can stand in
for it when several recorder replicas share one watch list. Rows are plain dataclasses: no SQL
and no gRPC leak out of here.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from recorder_service.model import Session, SessionState
from recorder_service.paths import stored_rel
from recorder_service.ports import QualityWish

# The site bare usernames belong to (the resolver's default site): its channels' keys and
# folders are their bare usernames.
DEFAULT_SOURCE = "chaturbate"


def channel_key(source: str, username: str) -> str:
    """A channel's key as clients write it: ``alice`` on the default site, ``source:alice``
    on the others (``hls:cam1`` for a playlist channel)."""
    return username if source == DEFAULT_SOURCE else f"{source}:{username}"


@dataclass(frozen=True)
class Channel:
    """A watch-list entry, keyed by (``source``, ``username``): the same name on two sites is
    two channels. ``person`` is its recording folder (``records/<person>/``), decided by the
    resolver when the channel was created (the username on the default site,
    ``<site>-<username>`` elsewhere); empty means the username."""

    username: str
    created_at: datetime
    updated_at: datetime
    target: str = ""
    source: str = DEFAULT_SOURCE
    person: str = ""
    name: str = ""
    auto_record: bool = False
    retention_days: int = 0
    max_bytes: int = 0
    max_count: int = 0
    quality: QualityWish = field(default_factory=QualityWish)

    def __post_init__(self) -> None:
        if not self.person:
            object.__setattr__(self, "person", self.username)

    @property
    def key(self) -> str:
        """``alice`` on the default site, ``stripchat:alice`` elsewhere (see channel_key)."""
        return channel_key(self.source, self.username)

    @property
    def record_target(self) -> str:
        """What to resolve: the target when one was given, else the username (its source is
        passed along with it, so a bare site username is enough)."""
        return self.target or self.username

    @property
    def display_name(self) -> str:
        return self.name or self.username


class RecordingState(enum.Enum):
    WRITING = "WRITING"
    FINALIZING = "FINALIZING"
    COMPLETE = "COMPLETE"
    INTERRUPTED = "INTERRUPTED"

    @property
    def busy(self) -> bool:
        """A file in this state must not be deleted or moved."""
        return self in (RecordingState.WRITING, RecordingState.FINALIZING)


@dataclass(frozen=True)
class Recording:
    """One recording file under ``records/{person}/``."""

    person: str
    file_name: str
    start_time: datetime
    state: RecordingState
    session_id: str = ""
    part: int = 0
    size_bytes: int = 0
    media_seconds: float = 0.0
    end_time: datetime | None = None
    pinned: bool = False

    @property
    def path(self) -> str:
        """Relative to OUTPUT_DIR."""
        return stored_rel(self.person, self.file_name)

    @property
    def format(self) -> str:
        return self.file_name.rsplit(".", 1)[-1]


@dataclass(frozen=True)
class GapRecord:
    """A stretch of a recording with no media (the gap ledger)."""

    session_id: str
    path: str
    start_time: datetime
    duration_s: float
    cause: str
    detail: str = ""


class Store(Protocol):
    """Channels, sessions, recordings and gaps. Every write is committed before it returns."""

    # channels
    def add_channel(self, channel: Channel) -> None:
        """AlreadyExists when (source, username) is taken (CHANNEL_EXISTS) or another channel
        records into the same folder (CHANNEL_FOLDER_TAKEN)."""
        ...

    def get_channel(self, source: str, username: str) -> Channel:
        """The channel (source, username): the exact spelling first, else the one spelled so
        but for case. NotFound when there is no such channel."""
        ...

    def list_channels(
        self, offset: int = 0, limit: int | None = None, source: str | None = None
    ) -> list[Channel]:
        """By username, then source; only ``source``'s channels when given."""
        ...

    def count_channels(self) -> int: ...

    def update_channel(self, channel: Channel) -> None:
        """Save the channel (source, username); NotFound when there is no such channel."""
        ...

    def delete_channel(self, source: str, username: str) -> None:
        """NotFound when there is no such channel."""
        ...

    # sessions
    def save_session(self, session: Session) -> None:
        """Insert or replace the session's row."""
        ...

    def get_session(self, session_id: str) -> Session | None: ...

    def list_sessions(self, offset: int = 0, limit: int | None = None) -> list[Session]:
        """Newest first."""
        ...

    def sessions_in_states(self, states: Iterable[SessionState]) -> list[Session]: ...

    def prune_sessions(self, ended_before: datetime) -> int:
        """Forget sessions that ended before ``ended_before``; returns how many. Their
        recordings stay (they keep the session id)."""
        ...

    # recordings
    def save_recording(self, recording: Recording) -> None:
        """Insert or replace the row of the recording at ``recording.path``."""
        ...

    def get_recording(self, person: str, file_name: str) -> Recording | None: ...

    def list_recordings(
        self, person: str | None = None, offset: int = 0, limit: int | None = None
    ) -> list[Recording]:
        """Newest first (by start time, then part)."""
        ...

    def recordings_of_session(self, session_id: str) -> list[Recording]:
        """Oldest part first."""
        ...

    def recordings_in_states(self, states: Iterable[RecordingState]) -> list[Recording]: ...

    def delete_recording(self, person: str, file_name: str) -> None:
        """Remove the row (and its gaps); no error when it is already gone."""
        ...

    def rename_recording(self, old: Recording, new_file_name: str) -> Recording:
        """Move a row (and its gaps) to a new file name in the same folder, atomically."""
        ...

    # gap ledger
    def add_gap(self, gap: GapRecord) -> None: ...

    def gaps_of(self, path: str) -> Sequence[GapRecord]:
        """Oldest first."""
        ...

    def add_availability(self, username: str, at: datetime, availability: str) -> None:
        """Note that what the site says of a channel changed at ``at``."""
        ...

    def availability_since(self, username: str, since: datetime) -> list[tuple[datetime, str]]:
        """Changes since ``since`` (oldest first), led by the last one before it."""
        ...

    def prune_availability(self, before: datetime) -> int:
        """Forget changes older than ``before``, keeping each channel's latest."""
        ...

    def close(self) -> None: ...
