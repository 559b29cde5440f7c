"""What the session manager needs from the outside world, as small interfaces."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    """What the resolver hands back: the URLs ffmpeg records and the headers it must send."""

    source_type: str
    media_url: str
    audio_url: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    variant: VariantInfo | None = None
    person_hint: str = ""
    is_live: bool = True


class Resolver(Protocol):
    async def resolve(self, target: str, source_type: str, quality: QualityWish) -> ResolvedStream:
        """Resolve ``target``; raises a DomainError (InvalidArgument, NotFound, Unavailable...)."""
        ...
