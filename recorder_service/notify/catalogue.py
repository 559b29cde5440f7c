"""The event catalogue (version 1): the types a target can receive and the envelope they come in.

Every notification is one JSON object, the body of a webhook and the source of an Apprise
message's text::

    {"id": "msg_...", "type": "recording.finished", "timestamp": "...Z", "version": 1,
     "data": {"channel": ..., "site": ..., "sessionId": ..., "file": ..., "completeness": ...,
              "correlationId": ..., <the type's own fields>}}

The five common fields are always present (null where they do not apply). Adding a type or a
field is compatible; renaming or removing one bumps :data:`CATALOGUE_VERSION`.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

CATALOGUE_VERSION = 1


@dataclass(frozen=True)
class EventKind:
    name: str
    description: str
    #: Apprise's notify type: info, success, warning or failure.
    level: str = "info"


_KINDS = [
    EventKind("channel.online", "a watched channel went online (public show)", "success"),
    EventKind("channel.offline", "a watched channel went offline"),
    EventKind("channel.private", "a watched channel went into a private show"),
    EventKind("channel.group_show", "a watched channel went into a group show"),
    EventKind("channel.away", "a watched channel is away"),
    EventKind("channel.hidden", "a watched channel hid its show"),
    EventKind("channel.password_protected", "a watched channel's room needs a password"),
    EventKind("channel.geo_restricted", "a watched channel is not viewable from here"),
    EventKind("channel.not_found", "a watched channel does not exist (any more)", "warning"),
    EventKind(
        "site.blocked",
        "the site kept the recorder out: a challenge page, a rate limit or an age gate",
        "warning",
    ),
    EventKind("recording.started", "a recording wrote its first bytes", "info"),
    EventKind(
        "recording.gap", "media went missing from a recording (from the gap ledger)", "warning"
    ),
    EventKind("recording.file_closed", "a recording file is finished and measured", "info"),
    EventKind("recording.finished", "a recording ended and its files are finalized", "success"),
    EventKind("recording.failed", "a recording failed; its files are finalized", "failure"),
    EventKind(
        "recording.interrupted",
        "crash recovery found a recording the recorder was killed in; its files are finalized",
        "warning",
    ),
    EventKind("retention.deleted", "retention deleted a recording file"),
    EventKind("disk.low", "free space fell toward the free-space watermark", "warning"),
    EventKind("notification.test", "a test sent by hand to one target"),
]
EVENT_TYPES: dict[str, EventKind] = {k.name: k for k in _KINDS}

#: Availabilities that are a channel's state, and the event each change to them is.
CHANNEL_EVENTS = {
    "ONLINE": "channel.online",
    "OFFLINE": "channel.offline",
    "PRIVATE": "channel.private",
    "GROUP_SHOW": "channel.group_show",
    "AWAY": "channel.away",
    "HIDDEN": "channel.hidden",
    "PASSWORD_PROTECTED": "channel.password_protected",
    "GEO_RESTRICTED": "channel.geo_restricted",
    "NOT_FOUND": "channel.not_found",
}
#: Availabilities that say the site kept us from knowing (site.blocked), not the channel's state.
SITE_BLOCKS = frozenset({"BLOCKED", "RATE_LIMITED", "AGE_GATE"})


def new_message_id() -> str:
    """``msg_`` + microseconds (hex, so ids sort by creation) + 40 random bits."""
    return f"msg_{time.time_ns() // 1_000:x}{secrets.token_hex(5)}"


def iso(value: datetime | None) -> str | None:
    """UTC with milliseconds and a Z, as the REST API writes times."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def common(
    *,
    channel: str | None = None,
    site: str | None = None,
    session_id: str | None = None,
    file: str | None = None,
    completeness: float | None = None,
    correlation_id: str | None = None,
) -> dict[str, Any]:
    """The fields every payload has (null where they do not apply)."""
    return {
        "channel": channel or None,
        "site": site or None,
        "sessionId": session_id or None,
        "file": file or None,
        "completeness": round(completeness, 4) if completeness is not None else None,
        "correlationId": correlation_id or None,
    }


@dataclass(frozen=True)
class Notification:
    """One event for the targets: its id is the webhook-id, the same on every attempt."""

    type: str
    data: dict[str, Any]
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    id: str = field(default_factory=new_message_id)

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"not in the catalogue: {self.type}")

    @property
    def channel(self) -> str | None:
        value = self.data.get("channel")
        return str(value) if value else None

    def envelope(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "timestamp": iso(self.time),
            "version": CATALOGUE_VERSION,
            "data": self.data,
        }

    def body(self) -> bytes:
        """The JSON body as sent and signed (compact, UTF-8)."""
        return json.dumps(self.envelope(), separators=(",", ":"), ensure_ascii=False).encode()


def site_of(source_type: str, target: str = "") -> str:
    """The site a session or channel records from: its source's name (``chaturbate``,
    ``stripchat``...), or ``hls`` for a playlist URL."""
    if source_type in ("hls", "m3u8"):
        return "hls"
    if source_type and source_type != "auto":
        return source_type
    return "hls" if target.startswith(("http://", "https://")) else "chaturbate"
