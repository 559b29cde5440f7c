"""The MyFreeCams source: a model's share page to her preview HLS stream, and her status.

``GET <MYFREECAMS_SHARE_URL>/<username>`` tells whether she exists (404) and whether she is on
cam (a ``.campreview`` element naming her video server and model id); the preview playlist on
``MYFREECAMS_PREVIEW_URL`` is built from those validated integers alone and read through the
CDN client like any HLS URL (quality policy, separate audio). A preview card without its
stream (the playlist answers 404) is reported as a private show. The page rules are pure
functions in ``_myfreecams_site``; what each state means is in ``docs/sites/myfreecams.md``.

Named ``myfreecams`` (not ``mfc``): the name is also the settings prefix, and the brief's
settings are ``MYFREECAMS_*``; it is the name people type and the folder ``myfreecams-<user>``
says which site it is without a legend.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import quote

from servicekit.errors import DomainError, InvalidArgument, NotFound, UpstreamError
from servicekit.settings import SettingsError

from ..quality import QualityPreference
from ..site_client import SiteClient, redact_url
from ..status import Availability, ChannelStatus
from ..targets import Target, TargetKind, check_http_url
from ._myfreecams_site import Preview, classify_preview, classify_share, preview_playlist_url
from ._site_answers import Verdict, from_error, not_recordable, to_status
from .base import Resolution, Source, SourceContext, register
from .hls import HlsSource

__all__ = ["MyFreeCamsConfig", "MyFreeCamsSource"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MyFreeCamsConfig:
    """Where the site is; the cookie is sent to the share page only, never logged."""

    share_url: str = "https://share.myfreecams.com"
    preview_url: str = "https://previews.myfreecams.com"
    user_agent: str = ""
    cookie: str = ""

    def __post_init__(self) -> None:
        check_http_url(self.share_url)
        check_http_url(self.preview_url)
        for name in ("user_agent", "cookie"):
            if any(not (" " <= ch <= "~") for ch in getattr(self, name)):
                raise ValueError(f"{name} must be printable ASCII")

    def __repr__(self) -> str:
        return f"MyFreeCamsConfig(share_url={self.share_url!r}, preview_url={self.preview_url!r})"

    @classmethod
    def from_context(cls, ctx: SourceContext) -> MyFreeCamsConfig:
        """``MYFREECAMS_SHARE_URL`` and ``MYFREECAMS_PREVIEW_URL``; User-Agent and cookie are
        every site's (``ctx.site``)."""
        d = cls()
        try:
            return cls(
                share_url=ctx.url("SHARE_URL", d.share_url),
                preview_url=ctx.url("PREVIEW_URL", d.preview_url),
                user_agent=ctx.site.user_agent,
                cookie=ctx.site.cookie,
            )
        except (ValueError, DomainError) as exc:
            raise SettingsError(f"{ctx.prefix}*: {exc}") from exc


@dataclass(frozen=True)
class _Lookup:
    status: ChannelStatus
    preview: Preview | None = None


@register
class MyFreeCamsSource(Source):
    """MyFreeCams models, by username or share/profile URL."""

    name: ClassVar[str] = "myfreecams"
    title: ClassVar[str] = "MyFreeCams"
    room_hosts: ClassVar[tuple[str, ...]] = ("myfreecams.com", "mfc.im")

    @classmethod
    def create(cls, ctx: SourceContext) -> MyFreeCamsSource:
        return cls(ctx.api, ctx.cdn, ctx.hls, MyFreeCamsConfig.from_context(ctx))

    def __init__(
        self,
        api: SiteClient,
        cdn: SiteClient,
        hls: HlsSource,
        config: MyFreeCamsConfig | None = None,
    ) -> None:
        self.config = config or MyFreeCamsConfig()
        self._api, self._cdn, self._hls = api, cdn, hls
        self._share = self.config.share_url.rstrip("/")
        self._headers = {"Accept": "text/html,application/xhtml+xml"}
        # ffmpeg and the preview CDN get the User-Agent and a Referer, never the site cookie.
        self._ffmpeg_headers = {"Referer": f"{self._share}/"}
        if self.config.user_agent:
            self._headers["User-Agent"] = self.config.user_agent
            self._ffmpeg_headers["User-Agent"] = self.config.user_agent
        if self.config.cookie:
            self._headers["Cookie"] = self.config.cookie

    async def channel_status(self, target: Target) -> ChannelStatus:
        """The share page's answer; for a model with a preview card, the preview playlist's
        too (a card without its stream is a private show)."""
        username = _username(target)
        started = time.monotonic()
        lookup = await self._share_lookup(username)
        status = lookup.status
        if lookup.preview is not None:
            url = self._playlist_url(lookup.preview)
            try:
                response = await self._cdn.request("GET", url, headers=self._ffmpeg_headers)
                verdict = classify_preview(response)
            except DomainError as exc:
                verdict = from_error(exc, "preview playlist")
            status = to_status(verdict, target=username, source=self.name, method="preview")
        self._log(username, "status", status, started)
        return status

    async def resolve(self, target: Target, pref: QualityPreference) -> Resolution:
        """Read the share page, then resolve the preview playlist it points at.

        Raises FailedPrecondition (CHANNEL_OFFLINE, CHANNEL_PRIVATE), NotFound
        (CHANNEL_NOT_FOUND), Unavailable (RATE_LIMITED) or UpstreamError
        (BLOCKED_BY_CHALLENGE, BAD_PREVIEW_DATA, NOT_A_SHARE_PAGE, UPSTREAM_5XX, the HLS
        source's reasons)."""
        username = _username(target)
        started = time.monotonic()
        lookup = await self._share_lookup(username)
        self._log(username, "resolve", lookup.status, started)
        if lookup.preview is None:
            raise not_recordable(lookup.status)
        url = self._playlist_url(lookup.preview)
        try:
            return await self._hls.resolve_url(
                url, pref, target=username, source=self.name, ffmpeg_headers=self._ffmpeg_headers
            )
        except NotFound as exc:
            if exc.reason != "STREAM_NOT_FOUND":
                raise
            verdict = Verdict(Availability.PRIVATE, f"preview playlist: {exc.message}")
            status = to_status(verdict, target=username, source=self.name, method="preview")
            raise not_recordable(status) from exc

    async def _share_lookup(self, username: str) -> _Lookup:
        url = f"{self._share}/{quote(username, safe='')}"
        try:
            response = await self._api.request("GET", url, headers=self._headers)
        except DomainError as exc:
            verdict = from_error(exc, "share page")
            return _Lookup(to_status(verdict, target=username, source=self.name, method="share"))
        answer = classify_share(response)
        status = to_status(answer.verdict, target=username, source=self.name, method="share")
        return _Lookup(status, answer.preview)

    def _playlist_url(self, preview: Preview) -> str:
        url = preview_playlist_url(self.config.preview_url, preview)
        try:
            return check_http_url(url)
        except InvalidArgument as exc:  # only integers went in: a bad setting, not the site
            raise UpstreamError(
                f"unusable preview URL: {exc.message}", reason="UNSAFE_MEDIA_URL"
            ) from exc

    def _log(self, username: str, purpose: str, status: ChannelStatus, started: float) -> None:
        logger.info(
            "%s %s: %s via %s",
            purpose,
            username,
            status.availability.value,
            status.method,
            extra={
                "event.action": "myfreecams.status"
                if purpose == "status"
                else "myfreecams.resolve",
                "channel": username,
                "event.duration": int((time.monotonic() - started) * 1e9),
                "lookup.availability": status.availability.value,
                "lookup.method": status.method,
                "error.type": status.reason or None,
                "url.original": redact_url(self._share),
            },
        )


def _username(target: Target) -> str:
    if target.kind is not TargetKind.USERNAME:
        raise InvalidArgument("the myfreecams source needs a username", reason="INVALID_USERNAME")
    return target.value
