"""The CamSoda source: a username to its LL-HLS multitrack stream, and room status.

One request to the react API (``CAMSODA_BASE_URL``) tells everything: no such user, private,
offline, or the edge server, stream name and token of the public stream. The playlist URL is
built from those values once they are validated (``_camsoda_site``) and resolved by the HLS
code through the CDN client: a master playlist with several video tracks and separate audio
ones, so the quality policy picks the video and its audio rendition is recorded with it.
Settings: ``CAMSODA_BASE_URL``, ``CAMSODA_EDGE_SCHEME`` (https; http for a local fake) and
``CAMSODA_TRACK_FILTER``. States: ``docs/sites/camsoda.md``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import quote

from servicekit.errors import DomainError, InvalidArgument, UpstreamError
from servicekit.settings import SettingsError

from ..quality import QualityPreference
from ..site_client import SiteClient, redact_url
from ..status import ChannelStatus
from ..targets import Target, TargetKind, check_http_url
from ._camsoda_site import DEFAULT_TRACK_FILTER, Stream, classify_react, playlist_url
from ._site_answers import from_error, not_recordable, to_status
from .base import Resolution, Source, SourceContext, register
from .hls import HlsSource

__all__ = ["CamSodaConfig", "CamSodaSource"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CamSodaConfig:
    """Where the site is; the cookie is sent to the API only, never logged."""

    base_url: str = "https://www.camsoda.com"
    edge_scheme: str = "https"
    track_filter: str = DEFAULT_TRACK_FILTER
    user_agent: str = ""
    cookie: str = ""

    def __post_init__(self) -> None:
        check_http_url(self.base_url)
        if self.edge_scheme not in ("http", "https"):
            raise ValueError(f"edge scheme must be http or https, not {self.edge_scheme!r}")
        if not self.track_filter or any(not (" " < ch <= "~") for ch in self.track_filter):
            raise ValueError("track filter must be printable ASCII without spaces")
        for name in ("user_agent", "cookie"):
            if any(not (" " <= ch <= "~") for ch in getattr(self, name)):
                raise ValueError(f"{name} must be printable ASCII")

    def __repr__(self) -> str:
        return f"CamSodaConfig(base_url={self.base_url!r}, edge_scheme={self.edge_scheme!r})"

    @classmethod
    def from_context(cls, ctx: SourceContext) -> CamSodaConfig:
        """``CAMSODA_BASE_URL``, ``CAMSODA_EDGE_SCHEME``, ``CAMSODA_TRACK_FILTER``; User-Agent
        and cookie are every site's (``ctx.site``)."""
        d = cls()
        try:
            return cls(
                base_url=ctx.url("BASE_URL", d.base_url),
                edge_scheme=ctx.text("EDGE_SCHEME", d.edge_scheme).strip().lower(),
                track_filter=ctx.text("TRACK_FILTER", d.track_filter).strip(),
                user_agent=ctx.site.user_agent,
                cookie=ctx.site.cookie,
            )
        except (ValueError, DomainError) as exc:
            raise SettingsError(f"{ctx.prefix}*: {exc}") from exc


@register
class CamSodaSource(Source):
    """CamSoda rooms, by username or room URL."""

    name: ClassVar[str] = "camsoda"
    title: ClassVar[str] = "CamSoda"
    room_hosts: ClassVar[tuple[str, ...]] = ("camsoda.com",)

    @classmethod
    def create(cls, ctx: SourceContext) -> CamSodaSource:
        return cls(ctx.api, ctx.hls, CamSodaConfig.from_context(ctx))

    def __init__(
        self, api: SiteClient, hls: HlsSource, config: CamSodaConfig | None = None
    ) -> None:
        self.config = config or CamSodaConfig()
        self._api, self._hls = api, hls
        self._base = self.config.base_url.rstrip("/")
        self._headers = {"Accept": "application/json", "Referer": f"{self._base}/"}
        # The edge gets the User-Agent and a Referer, never the site cookie.
        self._ffmpeg_headers = {"Referer": f"{self._base}/"}
        if self.config.user_agent:
            self._headers["User-Agent"] = self.config.user_agent
            self._ffmpeg_headers["User-Agent"] = self.config.user_agent
        if self.config.cookie:
            self._headers["Cookie"] = self.config.cookie

    async def channel_status(self, target: Target) -> ChannelStatus:
        """The react API's answer about the room."""
        status, _ = await self._lookup(_username(target), "status")
        return status

    async def resolve(self, target: Target, pref: QualityPreference) -> Resolution:
        """Ask the react API, then resolve the multitrack playlist of the edge it names.

        Raises FailedPrecondition (CHANNEL_OFFLINE, CHANNEL_PRIVATE), NotFound
        (CHANNEL_NOT_FOUND), Unavailable (RATE_LIMITED) or UpstreamError
        (BLOCKED_BY_CHALLENGE, BAD_STREAM_DATA, NO_STREAM, NOT_JSON, UPSTREAM_5XX,
        UNSAFE_MEDIA_URL, the HLS source's reasons)."""
        username = _username(target)
        status, stream = await self._lookup(username, "resolve")
        if stream is None:
            raise not_recordable(status)
        url = playlist_url(self.config.edge_scheme, stream, self.config.track_filter)
        try:
            url = check_http_url(url)
        except InvalidArgument as exc:
            raise UpstreamError(
                f"the site gave an unusable stream: {exc.message}", reason="UNSAFE_MEDIA_URL"
            ) from exc
        return await self._hls.resolve_url(
            url, pref, target=username, source=self.name, ffmpeg_headers=self._ffmpeg_headers
        )

    async def _lookup(self, username: str, purpose: str) -> tuple[ChannelStatus, Stream | None]:
        started = time.monotonic()
        url = f"{self._base}/api/v1/chat/react/{quote(username, safe='')}"
        stream: Stream | None = None
        try:
            response = await self._api.request("GET", url, headers=self._headers)
        except DomainError as exc:
            verdict = from_error(exc, "react")
        else:
            answer = classify_react(response)
            verdict, stream = answer.verdict, answer.stream
        status = to_status(verdict, target=username, source=self.name, method="react")
        logger.info(
            "%s %s: %s",
            purpose,
            username,
            status.availability.value,
            extra={
                "event.action": "camsoda.status" if purpose == "status" else "camsoda.resolve",
                "channel": username,
                "event.duration": int((time.monotonic() - started) * 1e9),
                "lookup.availability": status.availability.value,
                "lookup.method": status.method,
                "error.type": status.reason or None,
                "url.original": redact_url(url),
            },
        )
        return status, stream


def _username(target: Target) -> str:
    if target.kind is not TargetKind.USERNAME:
        raise InvalidArgument("the camsoda source needs a username", reason="INVALID_USERNAME")
    return target.value
