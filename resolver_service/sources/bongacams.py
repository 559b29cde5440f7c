"""The BongaCams source: a username (or room URL) to its live HLS stream, and room status.

Status is one ``amf.php`` call (``_bongacams_site``). Resolving adds the CDN: the playlist at
``<scheme>://<videoServerUrl>/hls/stream_<username>/playlist.m3u8`` is read once to tell a
stream from the CDN's "offline" answers (a 404, or the 25-byte body), then resolved like any
HLS URL (quality policy, separate audio) with the CDN's Referer and Origin. The stream URL is
the same for every broadcast, so the recorder keys files by time, never by URL.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import ClassVar
from urllib.parse import urlsplit

from servicekit.errors import DomainError, InvalidArgument, UpstreamError
from servicekit.settings import SettingsError

from ..quality import QualityPreference
from ..site_client import SiteClient, redact_url
from ..status import Availability, ChannelStatus
from ..targets import Target, TargetKind
from . import _bongacams_site as bonga
from ._site_answers import (
    Verdict,
    from_error,
    generic_failure,
    is_challenge,
    json_object,
    not_recordable,
    to_status,
    with_verdict,
)
from .base import Resolution, Source, SourceContext, register
from .hls import HlsSource

__all__ = ["BongaCamsConfig", "BongaCamsSource"]

logger = logging.getLogger(__name__)

#: What the CDN's playlist may weigh when it is read to tell "offline" from a stream.
_PROBE_MAX_BYTES = 512 * 1024


@dataclass(frozen=True)
class BongaCamsConfig:
    """Where the site and its CDN are. ``cookie`` is sent to the site, never logged."""

    base_url: str = "https://de.bongacams.net"
    #: The scheme put before ``videoServerUrl`` (http only for a local fake CDN).
    cdn_scheme: str = "https"
    #: The page the CDN expects playlists to be asked from (Referer; Origin is its origin).
    cdn_referer: str = "https://bongacams.com/"
    user_agent: str = ""
    cookie: str = ""

    def __repr__(self) -> str:
        return f"BongaCamsConfig(base_url={self.base_url!r}, cdn_scheme={self.cdn_scheme!r})"

    @classmethod
    def from_context(cls, ctx: SourceContext) -> BongaCamsConfig:
        """``BONGACAMS_BASE_URL``, ``_CDN_SCHEME``, ``_CDN_REFERER``; User-Agent and cookie
        are every site's (``ctx.site``)."""
        d = cls()
        scheme = ctx.text("CDN_SCHEME", d.cdn_scheme).strip().lower()
        if scheme not in ("http", "https"):
            raise SettingsError(f"{ctx.prefix}CDN_SCHEME must be http or https")
        return cls(
            base_url=ctx.url("BASE_URL", d.base_url).rstrip("/"),
            cdn_scheme=scheme,
            cdn_referer=ctx.url("CDN_REFERER", d.cdn_referer),
            user_agent=ctx.site.user_agent,
            cookie=ctx.site.cookie,
        )


@dataclass(frozen=True)
class _Lookup:
    status: ChannelStatus
    room: bonga.RoomData


@register
class BongaCamsSource(Source):
    """BongaCams rooms: status through amf.php, streams from the room's video server."""

    name: ClassVar[str] = "bongacams"
    title: ClassVar[str] = "BongaCams"
    room_hosts: ClassVar[tuple[str, ...]] = ("bongacams.com", "bongacams.net")

    @classmethod
    def create(cls, ctx: SourceContext) -> BongaCamsSource:
        return cls(ctx.api, ctx.cdn, ctx.hls, BongaCamsConfig.from_context(ctx))

    def __init__(
        self,
        api: SiteClient,
        cdn: SiteClient,
        hls: HlsSource,
        config: BongaCamsConfig | None = None,
    ) -> None:
        self.config = config or BongaCamsConfig()
        self._api = api
        self._cdn = cdn
        self._hls = hls
        self._site_headers: dict[str, str] = {}
        if self.config.user_agent:
            self._site_headers["User-Agent"] = self.config.user_agent
        if self.config.cookie:
            self._site_headers["Cookie"] = self.config.cookie
        referer = urlsplit(self.config.cdn_referer)
        # ffmpeg talks to the CDN, not the site: the site cookie stays here.
        self._cdn_headers = {
            "Referer": self.config.cdn_referer,
            "Origin": f"{referer.scheme}://{referer.netloc}",
        }
        if self.config.user_agent:
            self._cdn_headers["User-Agent"] = self.config.user_agent

    async def channel_status(self, target: Target) -> ChannelStatus:
        """One amf call: ONLINE while the room is public and has a video server."""
        return (await self._lookup(_username(target), "status")).status

    async def resolve(self, target: Target, pref: QualityPreference) -> Resolution:
        """The room's playlist, resolved. Raises FailedPrecondition (CHANNEL_OFFLINE,
        CHANNEL_PRIVATE, CHANNEL_GROUP_SHOW), NotFound (CHANNEL_NOT_FOUND), Unavailable
        (RATE_LIMITED) or UpstreamError (BLOCKED_BY_CHALLENGE, UNSAFE_MEDIA_URL, the site's
        failure reasons and the HLS source's)."""
        asked = _username(target)
        lookup = await self._lookup(asked, "resolve")
        if not lookup.status.is_online:
            raise not_recordable(lookup.status)
        room = lookup.room
        try:
            url = bonga.playlist_url(self.config.cdn_scheme, room.video_server, room.username)
        except InvalidArgument as exc:
            raise UpstreamError(
                f"the site gave an unusable video server: {exc.message}",
                reason="UNSAFE_MEDIA_URL",
            ) from exc
        offline = await self._probe(url)
        if offline is not None:
            raise not_recordable(with_verdict(lookup.status, offline))
        resolution = await self._hls.resolve_url(
            url, pref, target=asked, source=self.name, ffmpeg_headers=self._cdn_headers
        )
        return replace(resolution, username=room.username)

    async def _lookup(self, username: str, purpose: str) -> _Lookup:
        started = time.monotonic()
        url = f"{self.config.base_url}{bonga.AMF_PATH}"
        headers = {**self._site_headers, **bonga.amf_headers(self.config.base_url, username)}
        room: bonga.RoomData
        try:
            response = await self._api.request(
                "POST",
                url,
                headers=headers,
                data=bonga.amf_form(username),
                final=lambda r: is_challenge(r.status, r.headers, r.body),
            )
        except DomainError as exc:
            room = bonga.RoomData(from_error(exc, "amf"))
        else:
            failure = generic_failure(response, "amf")
            if failure is not None:
                room = bonga.RoomData(failure)
            elif response.status != 200:
                room = bonga.RoomData(
                    Verdict(
                        Availability.UPSTREAM_ERROR,
                        f"amf: HTTP {response.status}",
                        f"UPSTREAM_HTTP_{response.status}",
                    )
                )
            else:
                room = bonga.parse_room_data(json_object(response), username)
        status = to_status(
            room.verdict,
            target=username,
            source=self.name,
            method="amf",
            room_status=room.show_type.lower(),
            title=room.display_name,
        )
        logger.info(
            "%s %s: %s",
            purpose,
            username,
            status.availability.value,
            extra={
                "event.action": "bongacams.status" if purpose == "status" else "bongacams.resolve",
                "channel": username,
                "event.duration": int((time.monotonic() - started) * 1e9),
                "lookup.availability": status.availability.value,
                "error.type": status.reason or None,
                "url.original": redact_url(url),
            },
        )
        return _Lookup(status, room)

    async def _probe(self, url: str) -> Verdict | None:
        """Read the playlist once: a Verdict when it says offline (or fails for a reason a
        resolve cannot get past), None when there is a stream to resolve."""
        try:
            response = await self._cdn.request(
                "GET", url, headers=self._cdn_headers, max_body_bytes=_PROBE_MAX_BYTES
            )
        except DomainError as exc:
            return from_error(exc, "playlist")
        if bonga.playlist_is_offline(response.status, response.body):
            return Verdict(
                Availability.OFFLINE, f"playlist: the CDN has no stream (HTTP {response.status})"
            )
        return generic_failure(response, "playlist")


def _username(target: Target) -> str:
    if target.kind is not TargetKind.USERNAME:
        raise InvalidArgument("the bongacams source needs a username", reason="INVALID_USERNAME")
    return target.value
