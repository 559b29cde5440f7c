"""What the session manager needs from the outside world, as small interfaces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from recorder_service.model import VariantInfo


@dataclass(frozen=True)
class QualityWish:
    """A quality preference, passed through to the resolver."""

    height: int = 0
    policy: str = "BEST"
    fps: float = 0.0
    fallback: bool = True


@dataclass(frozen=True)
class ResolvedStream:
    """What the resolver hands back: the URLs ffmpeg records and the headers it must send.

    ``cdn_proxy`` is the HTTP proxy ffmpeg must read the CDN through ("" for none); it may
    carry credentials, so it is never logged, never put in an event or a session field."""

    source_type: str
    media_url: str
    audio_url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    variant: VariantInfo | None = None
    person_hint: str = ""
    is_live: bool = True
    cdn_proxy: str = field(default="", repr=False)
    username: str = ""
    #: Hosts read directly even with ``cdn_proxy`` (the resolver's playlist relay).
    direct_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChannelCheck:
    """A channel's status as the resolver reported it. ``availability`` is the name of a
    streamrec.v1.ChannelAvailability without its prefix ("ONLINE", "OFFLINE", "RATE_LIMITED"...)."""

    target: str
    source_type: str
    availability: str
    checked_at: datetime | None = None
    room_status: str = ""
    viewers: int | None = None
    title: str = ""
    thumbnail_url: str = ""
    message: str = ""
    reason: str = ""
    method: str = ""
    retry_after: int = 0

    @property
    def is_online(self) -> bool:
        return self.availability == "ONLINE"


@dataclass(frozen=True)
class RoomImage:
    """A site's picture of a room, as the resolver fetched and checked it."""

    data: bytes
    content_type: str
    fetched_at: datetime


@dataclass(frozen=True)
class TargetClass:
    """What a target names, as the resolver classified it from its shape alone: its source,
    the channel's username there ("" for a playlist URL) and the folder its recordings go to."""

    source: str
    username: str
    person: str


class Classifier(Protocol):
    async def classify_target(self, target: str, source: str) -> TargetClass:
        """``source`` "" lets the target's shape decide; InvalidArgument for bad input."""
        ...


class Resolver(Protocol):
    async def resolve(self, target: str, source_type: str, quality: QualityWish) -> ResolvedStream:
        """Resolve ``target``; raises a DomainError (InvalidArgument, NotFound, Unavailable...)."""
        ...


class StatusChecker(Protocol):
    """Channel status questions, answered by the resolver."""

    async def channel_status(
        self, target: str, source_type: str, *, skip_cache: bool = False
    ) -> ChannelCheck:
        """What the channel is doing now; raises a DomainError only for bad input or when the
        resolver cannot be reached."""
        ...

    async def batch_channel_status(
        self, targets: Sequence[str], source_type: str = "auto", *, skip_cache: bool = False
    ) -> list[ChannelCheck]:
        """One ChannelCheck per target, in order."""
        ...
