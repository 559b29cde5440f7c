"""The CAM4 source: a username (or room URL) to its live HLS stream, and room status.

Status asks the profile info (online, geo-restricted, no such user) and then, for an online
room, the webchat's private check. Resolving adds ``streamInfo``, whose ``cdnURL`` is the
master playlist. That URL changes every time the room comes back, so it is never cached: each
Resolve (the recorder resolves again on every restart after a break) asks for it afresh.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import urlsplit

from servicekit.errors import DomainError, InvalidArgument

from ..quality import QualityPreference
from ..site_client import SiteClient, redact_url
from ..status import Availability, ChannelStatus
from ..targets import Target, TargetKind
from . import _cam4_site as cam4
from ._site_answers import (
    Verdict,
    from_error,
    generic_failure,
    is_challenge,
    json_object,
    not_recordable,
    to_status,
)
from .base import Resolution, Source, SourceContext, register
from .hls import HlsSource

__all__ = ["Cam4Config", "Cam4Source"]

logger = logging.getLogger(__name__)

# Reads one answer (status code, JSON object or None): the verdict and a URL ("" if none).
_Reader = Callable[[int, dict[str, Any] | None], tuple[Verdict, str]]


@dataclass(frozen=True)
class Cam4Config:
    """Where the site, its webchat and its CDN's expected Referer are. ``cookie`` is sent to
    the site, never logged."""

    base_url: str = "https://hu.cam4.com"
    webchat_url: str = "https://webchat.cam4.com"
    cdn_referer: str = "https://www.cam4.com/"
    user_agent: str = ""
    cookie: str = ""

    def __repr__(self) -> str:
        return f"Cam4Config(base_url={self.base_url!r}, webchat_url={self.webchat_url!r})"

    @classmethod
    def from_context(cls, ctx: SourceContext) -> Cam4Config:
        """``CAM4_BASE_URL``, ``_WEBCHAT_URL``, ``_CDN_REFERER``; User-Agent and cookie are
        every site's (``ctx.site``)."""
        d = cls()
        return cls(
            base_url=ctx.url("BASE_URL", d.base_url).rstrip("/"),
            webchat_url=ctx.url("WEBCHAT_URL", d.webchat_url).rstrip("/"),
            cdn_referer=ctx.url("CDN_REFERER", d.cdn_referer),
            user_agent=ctx.site.user_agent,
            cookie=ctx.site.cookie,
        )


@register
class Cam4Source(Source):
    """CAM4 rooms: profile info, the private check, then streamInfo's cdnURL."""

    name: ClassVar[str] = "cam4"
    title: ClassVar[str] = "CAM4"
    room_hosts: ClassVar[tuple[str, ...]] = ("cam4.com",)

    @classmethod
    def create(cls, ctx: SourceContext) -> Cam4Source:
        return cls(ctx.api, ctx.hls, Cam4Config.from_context(ctx))

    def __init__(self, api: SiteClient, hls: HlsSource, config: Cam4Config | None = None) -> None:
        self.config = config or Cam4Config()
        self._api = api
        self._hls = hls
        self._site_headers = {"Accept": "application/json"}
        if self.config.user_agent:
            self._site_headers["User-Agent"] = self.config.user_agent
        if self.config.cookie:
            self._site_headers["Cookie"] = self.config.cookie
        referer = urlsplit(self.config.cdn_referer)
        origin = f"{referer.scheme}://{referer.netloc}"
        self._site_headers.update({"Referer": self.config.cdn_referer, "Origin": origin})
        # ffmpeg talks to the CDN, not the site: the site cookie stays here.
        self._cdn_headers = {"Referer": self.config.cdn_referer, "Origin": origin}
        if self.config.user_agent:
            self._cdn_headers["User-Agent"] = self.config.user_agent

    async def channel_status(self, target: Target) -> ChannelStatus:
        """Profile info, then (online rooms only) the private check."""
        username = _username(target)
        started = time.monotonic()
        verdict, method = await self._status(username)
        return self._log("status", username, verdict, method, started)

    async def resolve(self, target: Target, pref: QualityPreference) -> Resolution:
        """Status, then streamInfo's cdnURL, resolved. Raises FailedPrecondition
        (CHANNEL_OFFLINE, CHANNEL_PRIVATE, CHANNEL_GEO_RESTRICTED), NotFound
        (CHANNEL_NOT_FOUND), Unavailable (RATE_LIMITED) or UpstreamError
        (BLOCKED_BY_CHALLENGE, UNSAFE_MEDIA_URL, the site's failure reasons and the HLS
        source's)."""
        username = _username(target)
        started = time.monotonic()
        verdict, method = await self._status(username)
        cdn_url = ""
        if verdict.availability is Availability.ONLINE:
            method = "streamInfo"
            verdict, cdn_url = await self._get(
                "streamInfo", cam4.stream_url(self.config.base_url, username), cam4.read_stream_info
            )
        status = self._log("resolve", username, verdict, method, started)
        if not status.is_online:
            raise not_recordable(status)
        return await self._hls.resolve_url(
            cdn_url, pref, target=username, source=self.name, ffmpeg_headers=self._cdn_headers
        )

    async def _status(self, username: str) -> tuple[Verdict, str]:
        info, _ = await self._get(
            "info", cam4.info_url(self.config.base_url, username), _no_url(cam4.read_info)
        )
        if info.availability is not Availability.ONLINE:
            return info, "info"
        access, _ = await self._get(
            "requestAccess",
            cam4.access_url(self.config.webchat_url, username),
            _no_url(cam4.read_access),
        )
        return access, "requestAccess"

    async def _get(self, what: str, url: str, read: _Reader) -> tuple[Verdict, str]:
        try:
            response = await self._api.request(
                "GET",
                url,
                headers=self._site_headers,
                final=lambda r: is_challenge(r.status, r.headers, r.body),
            )
        except DomainError as exc:
            return from_error(exc, what), ""
        failure = generic_failure(response, what)
        if failure is not None:
            return failure, ""
        data = json_object(response) if response.status == 200 else None
        return read(response.status, data)

    def _log(
        self, purpose: str, username: str, verdict: Verdict, method: str, started: float
    ) -> ChannelStatus:
        status = to_status(verdict, target=username, source=self.name, method=method)
        logger.info(
            "%s %s: %s via %s",
            purpose,
            username,
            status.availability.value,
            method,
            extra={
                "event.action": "cam4.status" if purpose == "status" else "cam4.resolve",
                "channel": username,
                "event.duration": int((time.monotonic() - started) * 1e9),
                "lookup.availability": status.availability.value,
                "lookup.method": method,
                "error.type": status.reason or None,
                "url.original": redact_url(self.config.base_url),
            },
        )
        return status


def _no_url(
    read: Callable[[int, dict[str, Any] | None], Verdict],
) -> _Reader:
    return lambda status, data: (read(status, data), "")


def _username(target: Target) -> str:
    if target.kind is not TargetKind.USERNAME:
        raise InvalidArgument("the cam4 source needs a username", reason="INVALID_USERNAME")
    return target.value
