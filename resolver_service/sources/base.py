"""The source plugin interface and its registry (one module per site, streamlink-style).

A source turns a classified Target into a Resolution: the media playlist URL(s) ffmpeg reads and
the HTTP headers it must send. Each site lives in its own module under ``sources/`` and
registers itself with ``@register``; ``get_source`` imports every module of the package on
first use (modules named ``_*`` are a site's private helpers), so adding a site means adding a
file and touching nothing else. A source declares, as class attributes, what targets it
recognises (``room_hosts``, ``username_pattern``, ``default_site``); the core classifies
targets from those declarations alone, and builds each enabled source with ``create`` from a
:class:`SourceContext`: its settings (read under its own prefix, ``STRIPCHAT_...``), an HTTP
client for the site's API (the site's own request budget and API proxy) and one for its CDN's
playlists (the larger CDN budget and the CDN proxy). Modules outside this package (a
third-party site, a test's throwaway source) are loaded with ``load_plugins``
(``RESOLVER_PLUGINS``).
"""

from __future__ import annotations

import abc
import asyncio
import importlib
import pkgutil
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, TypeVar

from servicekit.errors import FailedPrecondition, InvalidArgument
from servicekit.settings import Env, SettingsError

from ..budget import BudgetConfig
from ..playlist import Variant
from ..quality import QualityPreference
from ..room_image import RoomImage
from ..site_client import SiteClient
from ..status import ChannelStatus
from ..targets import USERNAME_PATTERN, Target, check_http_url

if TYPE_CHECKING:
    from ..relay import PlaylistRelay
    from .hls import HlsSource

__all__ = [
    "Resolution",
    "SiteSettings",
    "Source",
    "SourceContext",
    "discover_sources",
    "get_source",
    "load_plugins",
    "register",
    "registered",
    "sources_by_name",
]


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
    #: The proxy ffmpeg must read the CDN through, http or socks5 (may carry credentials).
    cdn_proxy: str | None = None
    #: The channel's username as its site spells it ("" for a URL target).
    username: str = ""
    #: Hosts ffmpeg reaches directly even with ``cdn_proxy`` (the resolver's playlist relay).
    direct_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class SiteSettings:
    """What every site has, read under the site's prefix (``STRIPCHAT_COOKIE``, ...) by
    ``resolver_service.site_settings``. The cookie and the proxies' credentials are secrets:
    sent, never logged (``repr`` leaves them out)."""

    user_agent: str
    cookie: str = ""
    #: The site API's proxy: http://, https://, socks5:// or socks5h://.
    api_proxy: str | None = None
    #: The CDN's proxy, for playlist reads and for ffmpeg: http://, socks5:// or socks5h://.
    cdn_proxy: str | None = None
    budget: BudgetConfig = field(default_factory=BudgetConfig)

    def __repr__(self) -> str:
        return (
            f"SiteSettings(api_proxy={self.api_proxy is not None}, "
            f"cdn_proxy={self.cdn_proxy is not None}, budget={self.budget!r})"
        )


@dataclass(frozen=True)
class SourceContext:
    """What a source is built from: its settings and its HTTP clients."""

    name: str
    #: The source's settings prefix: its name upper-cased plus "_" ("STRIPCHAT_").
    prefix: str
    env: Env
    site: SiteSettings
    #: Requests to the site's API: the site's own budget, its API proxy.
    api: SiteClient
    #: Playlist reads on the site's CDN: the CDN budget, the CDN proxy.
    cdn: SiteClient
    #: Resolves master and media playlists through ``cdn``; its Resolutions carry the CDN proxy.
    hls: HlsSource
    #: Serves media playlists rewritten on every reload (``relay.publish``), for sites whose
    #: playlists ffmpeg cannot read as served; None where the resolver runs without one.
    relay: PlaylistRelay | None = None

    def text(self, key: str, default: str) -> str:
        """The setting ``<prefix><key>``, or ``default``."""
        return self.env.text(self.prefix + key, default)

    def url(self, key: str, default: str) -> str:
        """The setting ``<prefix><key>``, which must be an http(s) URL (SettingsError if not)."""
        value = self.text(key, default)
        try:
            return check_http_url(value)
        except InvalidArgument as exc:
            raise SettingsError(f"{self.prefix}{key}: {exc.message}") from None

    def number(self, key: str, default: float, *, minimum: float | None = None) -> float:
        return self.env.number(self.prefix + key, default, minimum=minimum)

    def integer(self, key: str, default: int, *, minimum: int | None = None) -> int:
        return self.env.integer(self.prefix + key, default, minimum=minimum)

    def flag(self, key: str, default: bool) -> bool:
        return self.env.flag(self.prefix + key, default)


class Source(abc.ABC):
    """One site or protocol that can resolve targets; subclasses set ``name`` and register."""

    #: The registry key, the ``name:username`` prefix, the settings prefix (``NAME_``) and, for
    #: a site that is not the default one, the recording folder's prefix (``name-username``).
    #: Lower-case letters and digits.
    name: ClassVar[str]
    #: How people write it ("Stripchat").
    title: ClassVar[str] = ""
    #: Room URLs on these hosts (and their subdomains) mean this source.
    room_hosts: ClassVar[tuple[str, ...]] = ()
    #: Bare usernames go to the default site (one source only).
    default_site: ClassVar[bool] = False
    #: The site's usernames (full match).
    username_pattern: ClassVar[re.Pattern[str]] = USERNAME_PATTERN
    #: Usernames are lower-cased when classified (one spelling per channel).
    case_insensitive: ClassVar[bool] = True
    #: Targets are http(s) playlist URLs, not usernames (the ``hls`` source).
    takes_urls: ClassVar[bool] = False
    #: Channels asked at once by the default batch_channel_status.
    batch_concurrency: ClassVar[int] = 8

    @classmethod
    def create(cls, ctx: SourceContext) -> Source:
        """Build the source from its context (settings under ``ctx.prefix``; SettingsError for a
        bad one). Sources that can be built from the context alone override this."""
        raise SettingsError(f"the {cls.name} source cannot be built from settings")

    @classmethod
    def room_username(cls, path: Sequence[str]) -> str:
        """The username in a room URL's path segments (on one of ``room_hosts``). The default:
        exactly one segment, a valid username. Raises InvalidArgument(INVALID_URL)."""
        if len(path) != 1 or not cls.username_pattern.fullmatch(path[0]):
            host = cls.room_hosts[0] if cls.room_hosts else cls.name
            raise InvalidArgument(
                f"a {host} URL must be a room URL: https://{host}/<username>",
                reason="INVALID_URL",
            )
        return path[0]

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
_NAME = re.compile(r"[a-z][a-z0-9]{1,31}")
_discovered = False


def register(source_cls: _SourceT) -> _SourceT:
    """Class decorator: make ``source_cls`` findable by its ``name``.

    Raises ValueError when the class has no name or another class already took it (a
    programming error, caught at import time).
    """
    name = getattr(source_cls, "name", None)
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            f"{source_cls.__qualname__} must set a class attribute 'name' of 2 to 32 lower-case"
            " letters and digits, starting with a letter"
        )
    if source_cls.default_site:
        other = next(
            (c for c in _REGISTRY.values() if c.default_site and c is not source_cls), None
        )
        if other is not None:
            raise ValueError(f"{other.name} is already the default site")
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


def load_plugins(modules: Iterable[str]) -> None:
    """Import source modules from outside this package (``RESOLVER_PLUGINS``): each registers
    itself as the built-in ones do. SettingsError when one cannot be imported."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise SettingsError(f"RESOLVER_PLUGINS: cannot import {module!r}: {exc}") from None


def sources_by_name() -> dict[str, type[Source]]:
    """Every registered source class by name (after importing all source modules)."""
    discover_sources()
    return dict(_REGISTRY)


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
