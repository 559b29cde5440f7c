"""The Stripchat source: a username (or stripchat.com room URL) to its live stream, and status.

Status asks the cam API (``/api/front/v2/models/username/<u>/cam``) and, when that cannot tell
(HTTP 418 to non-browser clients, 5xx), the profile page; a renamed model is followed to its
new name, once, and the status says so. Batches use the bulk list (100 ids a request) with a
username -> id cache. Resolving builds the master playlist URL on the CDN from the model's id,
trying the CDN's TLDs from the last one that worked, and hands the master to the media side
(``_stripchat_media.relay_resolution``): the chosen variant's playlists are published on the
resolver's playlist relay, which decodes the obfuscated ("mouflon") segment names on every
reload; the segments themselves go from the CDN to ffmpeg.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import ClassVar, TypeVar

from servicekit.errors import DomainError, FailedPrecondition, InvalidArgument
from servicekit.settings import SettingsError

from ..quality import QualityPreference
from ..room_image import RoomImage, fetch_room_image
from ..site_client import SiteClient, redact_url
from ..status import Availability, ChannelStatus
from ..targets import Target, TargetKind, check_http_url
from ._mouflon import KeyRing
from ._mouflon_keys import MouflonPlaylists
from ._stripchat_api import StripchatApi
from ._stripchat_batch import batch_status
from ._stripchat_cdn import CdnHosts
from ._stripchat_media import relay_resolution
from ._stripchat_site import (
    USERNAME,
    Answer,
    CamInfo,
    Renamed,
    availability_for,
    check_template,
    not_recordable,
)
from .base import Resolution, Source, SourceContext, register

__all__ = ["StripchatConfig", "StripchatSource"]

logger = logging.getLogger(__name__)

BULK_MAX_IDS = 100
METHODS = ("api", "page")
V = TypeVar("V")


@dataclass(frozen=True)
class StripchatConfig:
    """``STRIPCHAT_*`` beyond what every site has (User-Agent, cookie, proxies, budget)."""

    base_url: str = "https://stripchat.com"
    ids_base_url: str = "https://hu.stripchat.com"
    image_base_url: str = "https://img.doppiocdn.net"
    master_url_template: str = "https://edge-hls.doppiocdn.{tld}/hls/{id}/master/{id}_auto.m3u8"
    cdn_tlds: tuple[str, ...] = ("com", "net", "org", "live")
    methods: tuple[str, ...] = METHODS
    lookup_timeout: float = 15.0
    id_cache_size: int = 50_000

    def __post_init__(self) -> None:
        for url in (self.base_url, self.ids_base_url, self.image_base_url):
            check_http_url(url)
        check_template(self.master_url_template)
        if not self.cdn_tlds or any(not t.isascii() or not t.isalnum() for t in self.cdn_tlds):
            raise ValueError("cdn_tlds must be letters and digits, at least one")
        if not self.methods or any(m not in METHODS for m in self.methods):
            raise ValueError(f"methods must be among {', '.join(METHODS)}")
        if self.lookup_timeout <= 0 or self.id_cache_size < 1:
            raise ValueError("lookup_timeout must be > 0 and id_cache_size >= 1")

    @classmethod
    def from_context(cls, ctx: SourceContext) -> StripchatConfig:
        d = cls()

        def listed(key: str, default: tuple[str, ...]) -> tuple[str, ...]:
            text = ctx.text(key, ",".join(default))
            return tuple(part.strip().lower() for part in text.split(",") if part.strip())

        try:
            return cls(
                base_url=ctx.text("BASE_URL", d.base_url),
                ids_base_url=ctx.text("IDS_BASE_URL", d.ids_base_url),
                image_base_url=ctx.text("IMAGE_BASE_URL", d.image_base_url),
                master_url_template=ctx.text("MASTER_URL_TEMPLATE", d.master_url_template),
                cdn_tlds=listed("CDN_TLDS", d.cdn_tlds),
                methods=listed("METHODS", d.methods),
                lookup_timeout=ctx.number("LOOKUP_TIMEOUT", d.lookup_timeout, minimum=0.5),
                id_cache_size=ctx.integer("ID_CACHE_SIZE", d.id_cache_size, minimum=1),
            )
        except (ValueError, DomainError) as exc:
            message = exc.message if isinstance(exc, DomainError) else str(exc)
            raise SettingsError(f"{ctx.prefix}*: {message}") from exc


@dataclass(frozen=True)
class Lookup:
    """A status, and the model behind it when the site described one."""

    status: ChannelStatus
    info: CamInfo | None = None


@register
class StripchatSource(Source):
    """Stripchat models, through the site's API client and the CDN client."""

    name: ClassVar[str] = "stripchat"
    title: ClassVar[str] = "Stripchat"
    room_hosts: ClassVar[tuple[str, ...]] = ("stripchat.com",)
    username_pattern = USERNAME

    @classmethod
    def create(cls, ctx: SourceContext) -> StripchatSource:
        return cls(ctx.api, ctx.cdn, StripchatConfig.from_context(ctx), ctx)

    def __init__(
        self,
        api: SiteClient,
        cdn: SiteClient,
        config: StripchatConfig | None = None,
        ctx: SourceContext | None = None,
    ) -> None:
        self.config = config or StripchatConfig()
        base = self.config.base_url.rstrip("/")
        user_agent = ctx.site.user_agent if ctx else ""
        headers = {"Accept-Language": "en-US,en;q=0.9", "Referer": f"{base}/"}
        if user_agent:
            headers["User-Agent"] = user_agent
        if ctx and ctx.site.cookie:
            headers["Cookie"] = ctx.site.cookie
        self._api_client = api
        self._api = StripchatApi(
            api,
            base_url=base,
            ids_base_url=self.config.ids_base_url,
            image_base_url=self.config.image_base_url,
            headers=headers,
        )
        # The CDN wants the site as Referer and Origin; the site's cookie stays here.
        self._cdn_headers = {"Referer": f"{base}/", "Origin": base}
        if user_agent:
            self._cdn_headers["User-Agent"] = user_agent
        self._hosts = CdnHosts(
            cdn, self.config.master_url_template, self.config.cdn_tlds, self._cdn_headers
        )
        self._cdn = cdn
        self._relay = ctx.relay if ctx else None
        self._cdn_proxy = ctx.site.cdn_proxy if ctx else None
        self._playlists = (
            MouflonPlaylists.from_context(ctx, self._cdn_headers)
            if ctx
            else MouflonPlaylists(KeyRing(), None)
        )
        self._ids: OrderedDict[str, int] = OrderedDict()
        self._thumbs: OrderedDict[str, str] = OrderedDict()

    # -- the Source interface ---------------------------------------------------------------

    async def channel_status(self, target: Target) -> ChannelStatus:
        """What the model is doing: the cam API, then the profile page if that cannot tell."""
        return (await self._lookup(_username(target), "status")).status

    async def resolve(self, target: Target, pref: QualityPreference) -> Resolution:
        """The model's stream, when public. Raises FailedPrecondition (CHANNEL_OFFLINE,
        CHANNEL_PRIVATE, ...), NotFound (CHANNEL_NOT_FOUND), Unavailable (RATE_LIMITED),
        UpstreamError (BLOCKED_BY_SITE, CDN_UNREACHABLE, ...) otherwise."""
        username = _username(target)
        lookup = await self._lookup(username, "resolve")
        if lookup.status.availability is not Availability.ONLINE or lookup.info is None:
            raise not_recordable(lookup.status)
        info = lookup.info
        master_url, text = await self._hosts.open_master(info.id)
        return await relay_resolution(
            source=self.name,
            target=username,
            username=info.username or username,
            master_url=master_url,
            master_text=text,
            pref=pref,
            relay=self._relay,
            cdn=self._cdn,
            headers=self._cdn_headers,
            playlists=self._playlists,
            cdn_proxy=self._cdn_proxy,
        )

    async def room_image(self, target: Target) -> RoomImage:
        """The model's thumbnail (``previewUrlThumbBig`` of the last status, else asked)."""
        username = _username(target)
        url = self._thumbs.get(username)
        if url is None:
            lookup = await self._lookup(username, "image")
            if not lookup.status.thumbnail_url:
                if lookup.info is None:  # the site did not describe a model: say why
                    raise not_recordable(lookup.status)
                raise FailedPrecondition(
                    f"stripchat model {username} has no thumbnail", reason="NO_ROOM_IMAGE"
                )
            url = lookup.status.thumbnail_url
        headers = {k: v for k, v in self._cdn_headers.items() if k != "Origin"}
        return await fetch_room_image(self._api_client, url, headers=headers)

    async def batch_channel_status(self, targets: Sequence[Target]) -> list[ChannelStatus]:
        """Ids from the cache (one user-ids call for each unknown), then the bulk list, 100
        ids a request; a model the list leaves out is asked alone."""
        return await batch_status(self, [_username(t) for t in targets])

    # -- lookups ----------------------------------------------------------------------------

    async def _lookup(self, username: str, purpose: str) -> Lookup:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.config.lookup_timeout):
                lookup = await self._follow(username)
        except TimeoutError:
            message = f"no answer within {self.config.lookup_timeout:g} s"
            lookup = Lookup(
                self.make_status(
                    username, Answer(Availability.UPSTREAM_ERROR, message, "UPSTREAM_TIMEOUT")
                )
            )
        status = lookup.status
        logger.info(
            "%s %s: %s via %s",
            purpose,
            username,
            status.availability.value,
            status.method,
            extra={
                "event.action": (
                    "stripchat.status"
                    if purpose == "status"
                    else "stripchat.image"
                    if purpose == "image"
                    else "stripchat.resolve"
                ),
                "channel": username,
                "event.duration": int((time.monotonic() - started) * 1e9),
                "lookup.availability": status.availability.value,
                "lookup.method": status.method,
                "error.type": status.reason or None,
                "url.original": redact_url(self.config.base_url),
            },
        )
        return lookup

    async def _follow(self, username: str) -> Lookup:
        """The cam API for ``username``, following one rename; the page when inconclusive."""
        answer, method = await self._ask(username)
        renamed = ""
        if isinstance(answer, Renamed) and answer.new_username.lower() != username:
            renamed = answer.new_username
            logger.info(
                "stripchat model %s was renamed to %s: following",
                username,
                renamed,
                extra={"event.action": "stripchat.renamed", "channel": username},
            )
            answer, method = await self._ask(renamed.lower())
        if isinstance(answer, Renamed):  # renamed again, or to itself: do not chase it
            answer = Answer(Availability.UPSTREAM_ERROR, "renamed in a loop", "RENAME_LOOP")
        lookup = self.lookup_from(username, answer, method)
        if renamed:
            note = f"renamed to {renamed}"
            message = f"{note}; {lookup.status.message}" if lookup.status.message else note
            lookup = replace(lookup, status=replace(lookup.status, message=message))
        return lookup

    async def _ask(self, username: str) -> tuple[CamInfo | Renamed | Answer, str]:
        """The first conclusive answer of the configured methods (else the last), and which
        method gave it."""
        answer: CamInfo | Renamed | Answer = Answer(Availability.UPSTREAM_ERROR, "no method")
        method = "api"
        for method in self.config.methods:
            answer = await (
                self._api.cam(username) if method == "api" else self._api.page(username)
            )
            if not isinstance(answer, Answer) or answer.availability.is_conclusive:
                break
        return answer, method

    def lookup_from(self, username: str, answer: CamInfo | Answer, method: str) -> Lookup:
        """The Lookup an answer about ``username`` makes (and remember its id and picture)."""
        if isinstance(answer, Answer):
            return Lookup(self.make_status(username, answer, method))
        self.remember(username, answer)
        availability, message = availability_for(answer)
        status = replace(
            self.make_status(username, Answer(availability, message), method),
            room_status=answer.status,
            viewers=answer.viewers,
            title=answer.topic,
            thumbnail_url=self._thumbs.get(username, ""),
        )
        if availability is Availability.UPSTREAM_ERROR:
            status = replace(status, reason="UNKNOWN_ROOM_STATUS")
        return Lookup(status, answer)

    def make_status(self, username: str, answer: Answer, method: str = "api") -> ChannelStatus:
        return ChannelStatus(
            target=username,
            source=self.name,
            availability=answer.availability,
            checked_at=datetime.now(UTC),
            message=answer.message,
            reason=answer.reason,
            method=method,
            retry_after=answer.retry_after,
        )

    # -- caches -----------------------------------------------------------------------------

    def remember(self, username: str, info: CamInfo) -> None:
        """Keep ``username``'s id (for the bulk list) and thumbnail, bounded."""
        self.remember_id(username, info.id)
        thumb = info.thumbnail_url
        if thumb:
            _put(self._thumbs, username, thumb, self.config.id_cache_size)

    def remember_id(self, username: str, ident: int) -> None:
        _put(self._ids, username, ident, self.config.id_cache_size)

    def known_id(self, username: str) -> int | None:
        return self._ids.get(username)

    async def channel_status_of(self, username: str) -> ChannelStatus:
        """``channel_status`` for a username already validated."""
        return (await self._lookup(username, "status")).status

    @property
    def api(self) -> StripchatApi:
        return self._api


def _put(cache: OrderedDict[str, V], key: str, value: V, size: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)


def _username(target: Target) -> str:
    if target.kind is not TargetKind.USERNAME:
        raise InvalidArgument("the stripchat source needs a username", reason="INVALID_USERNAME")
    return target.value
