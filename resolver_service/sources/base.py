"""The source plugin interface and its registry (one module per site, streamlink-style).

A source turns a classified Target into a Resolution: the media playlist URL(s) ffmpeg reads and
the HTTP headers it must send. Each site lives in its own module under ``sources/`` and
registers itself with ``@register``; ``get_source`` imports every module of the package on
first use, so adding a site means adding a file and touching nothing else.
"""

from __future__ import annotations

import abc
import asyncio
import importlib
import pkgutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, TypeVar

from servicekit.errors import FailedPrecondition, InvalidArgument

from ..playlist import Variant
from ..quality import QualityPreference
from ..room_image import RoomImage
from ..status import ChannelStatus
from ..targets import Target

__all__ = ["Resolution", "Source", "discover_sources", "get_source", "register", "registered"]


@dataclass(frozen=True)
class Resolution:
    """A resolved stream: what ffmpeg reads and how.

    ``media_url`` is a media playlist (the chosen variant's, or the target itself when it was
    one); ``audio_url`` is the separate audio rendition to record with it, None when the audio
    is muxed in the video. ``chosen`` and ``variants`` are None/() when there was no master
    playlist. ``http_headers`` are the headers ffmpeg must send to the CDN. URLs may carry
    access tokens: log them redacted.
    """

    source: str
    target: str
    media_url: str
    audio_url: str | None
    chosen: Variant | None
    variants: tuple[Variant, ...]
    http_headers: dict[str, str] = field(default_factory=dict)
    is_live: bool = True


class Source(abc.ABC):
    """One site or protocol that can resolve targets; subclasses set ``name`` and register."""

    name: ClassVar[str]
    #: Channels asked at once by the default batch_channel_status.
    batch_concurrency: ClassVar[int] = 8

    @abc.abstractmethod
    async def resolve(self, target: Target, pref: QualityPreference) -> Resolution:
        """Resolve ``target`` to a playable stream, honouring the quality preference.

        Raises a servicekit DomainError (NotFound, Unavailable, UpstreamError, ...) with a
        machine-readable reason when it cannot.
        """

    @abc.abstractmethod
    async def channel_status(self, target: Target) -> ChannelStatus:
        """Ask the site what ``target`` is doing now (no cache at this level).

        Upstream failures come back as an error availability; only a target this source
        cannot handle raises (InvalidArgument).
        """

    async def room_image(self, target: Target) -> RoomImage:
        """The site's picture of the room (``room_image.fetch_room_image`` checks it is one).

        The default: this source has none (FailedPrecondition NO_ROOM_IMAGE, no request sent).
        """
        raise FailedPrecondition(f"{self.name} targets have no room image", reason="NO_ROOM_IMAGE")

    async def batch_channel_status(self, targets: Sequence[Target]) -> list[ChannelStatus]:
        """The status of each target, in order. The default asks one at a time, at most
        ``batch_concurrency`` at once (the request budget paces the actual calls); sources with
        a bulk endpoint override this."""
        results: list[ChannelStatus | None] = [None] * len(targets)
        queue = iter(enumerate(targets))

        async def worker() -> None:
            for index, target in queue:
                results[index] = await self.channel_status(target)

        async with asyncio.TaskGroup() as group:
            for _ in range(min(self.batch_concurrency, len(targets))):
                group.create_task(worker())
        return [r for r in results if r is not None]


_SourceT = TypeVar("_SourceT", bound=type[Source])
_REGISTRY: dict[str, type[Source]] = {}
_discovered = False


def register(source_cls: _SourceT) -> _SourceT:
    """Class decorator: make ``source_cls`` findable by its ``name``.

    Raises ValueError when the class has no name or another class already took it (a
    programming error, caught at import time).
    """
    name = getattr(source_cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{source_cls.__qualname__} must set a non-empty class attribute 'name'")
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not source_cls:
        raise ValueError(f"source name {name!r} is already registered by {existing.__qualname__}")
    _REGISTRY[name] = source_cls
    return source_cls


def discover_sources() -> None:
    """Import every module of the ``sources`` package once, so that each registers itself."""
    global _discovered
    if _discovered:
        return
    package = importlib.import_module(__package__ or "resolver_service.sources")
    for module in pkgutil.iter_modules(package.__path__):
        if not module.name.startswith("_") and module.name != "base":
            importlib.import_module(f"{package.__name__}.{module.name}")
    _discovered = True


def get_source(name: str) -> type[Source]:
    """The source class registered as ``name`` (e.g. "hls", "chaturbate").

    Raises InvalidArgument(reason="UNKNOWN_SOURCE_TYPE") for a name no module registered.
    """
    if name not in _REGISTRY:
        discover_sources()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise InvalidArgument(
            f"no source named {name!r} (known: {', '.join(registered())})",
            reason="UNKNOWN_SOURCE_TYPE",
        ) from None


def registered() -> tuple[str, ...]:
    """Names of every source, sorted (after importing all source modules)."""
    discover_sources()
    return tuple(sorted(_REGISTRY))
