"""The direct-HLS source: a URL to a master or media playlist on any CDN."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import ClassVar
from urllib.parse import urljoin, urlsplit

import httpx

from servicekit.errors import (
    DomainError,
    ErrorKind,
    InvalidArgument,
    NotFound,
    Unavailable,
    UpstreamError,
)

from ..playlist import MasterPlaylist, MediaPlaylist, Variant, parse_playlist
from ..quality import QualityPreference, choose_variant
from ..site_client import DEFAULT_MAX_BODY_BYTES, SiteClient, SiteResponse, redact_url
from ..status import Availability, ChannelStatus
from ..targets import Target, TargetKind, check_http_url
from .base import Resolution, Source, SourceContext, register

__all__ = ["DEFAULT_MAX_REDIRECTS", "HlsSource", "StreamForbidden"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_REDIRECTS = 5


class StreamForbidden(DomainError):
    """The CDN refused access (401/403): usually an expired token; a fresh Resolve may fix it."""

    kind = ErrorKind.PERMISSION_DENIED
    default_reason = "STREAM_FORBIDDEN"


@register
class HlsSource(Source):
    """Resolves an http(s) URL to an HLS playlist: picks a variant of a master playlist (and
    its separate audio rendition), or takes a media playlist as it is.

    Every request goes through ``site`` (the request budget, retries of 5xx/429/timeouts).
    ``http_headers`` are sent on every request and returned for ffmpeg to send too.
    """

    name: ClassVar[str] = "hls"
    title: ClassVar[str] = "HLS URL"
    takes_urls: ClassVar[bool] = True

    def __init__(
        self,
        site: SiteClient,
        *,
        http_headers: Mapping[str, str] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        cdn_proxy: str | None = None,
    ) -> None:
        self._site = site
        self._headers = dict(http_headers or {})
        self._cdn_proxy = cdn_proxy
        self._max_body_bytes = max_body_bytes
        self._max_redirects = max_redirects

    @classmethod
    def create(cls, ctx: SourceContext) -> HlsSource:
        """Playlist URLs, read through the CDN client (``HLS_CDN_PROXY`` for ffmpeg too)."""
        return ctx.hls

    async def resolve(self, target: Target, pref: QualityPreference) -> Resolution:
        """Fetch the playlist at ``target.value`` and resolve it to a media playlist URL.

        For a master playlist the chosen variant's media playlist is fetched as well: it proves
        the token works and tells whether the stream is live. Raises NotFound
        (STREAM_NOT_FOUND, NO_MATCHING_VARIANT), StreamForbidden (STREAM_FORBIDDEN),
        Unavailable (RATE_LIMITED) or UpstreamError (UPSTREAM_5XX, UPSTREAM_TIMEOUT,
        UPSTREAM_UNREACHABLE, UPSTREAM_HTTP_ERROR, PLAYLIST_TOO_LARGE, NOT_A_PLAYLIST,
        MALFORMED_PLAYLIST, EMPTY_MASTER_PLAYLIST, NOT_A_MEDIA_PLAYLIST, UNSAFE_MEDIA_URL,
        UNSAFE_REDIRECT, TOO_MANY_REDIRECTS, UPSTREAM_PROTOCOL_ERROR, UPSTREAM_ERROR).
        """
        if target.kind is not TargetKind.URL:
            raise InvalidArgument("the hls source needs a URL target", reason="INVALID_URL")
        return await self.resolve_url(check_http_url(target.value), pref, target=target.value)

    async def resolve_url(
        self,
        url: str,
        pref: QualityPreference,
        *,
        target: str,
        source: str | None = None,
        ffmpeg_headers: Mapping[str, str] | None = None,
    ) -> Resolution:
        """Resolve the playlist at ``url`` (already checked) for another source too.

        ``source`` and ``target`` label the Resolution; ``ffmpeg_headers`` replace the headers
        returned for ffmpeg (a site source knows what its CDN wants). Raises as ``resolve``.
        """
        started = time.monotonic()
        context = {"event.action": "resolve.hls", "url.original": redact_url(url)}
        # The CDN is asked with exactly the headers ffmpeg will send, so a resolve that works
        # means ffmpeg's requests will too.
        headers = dict(self._headers if ffmpeg_headers is None else ffmpeg_headers)
        try:
            resolution = await self._resolve(url, pref, headers)
        except DomainError as exc:
            logger.info(
                "HLS resolve failed: %s",
                exc.message,
                extra={**context, "error.type": exc.reason, "event.outcome": "failure"},
            )
            raise
        chosen = resolution.chosen
        logger.info(
            "HLS stream resolved",
            extra={
                **context,
                "event.outcome": "success",
                "event.duration": int((time.monotonic() - started) * 1e9),
                "hls.media_url": redact_url(resolution.media_url),
                "hls.separate_audio": resolution.audio_url is not None,
                "hls.variant": (chosen.resolution or f"{chosen.bandwidth}bps") if chosen else None,
                "hls.variant_count": len(resolution.variants),
                "hls.is_live": resolution.is_live,
            },
        )
        return dataclasses.replace(
            resolution,
            source=source or self.name,
            target=target,
            http_headers=headers,
            username=target if source not in (None, self.name) else "",
        )

    async def channel_status(self, target: Target) -> ChannelStatus:
        """A playlist URL is ONLINE while its playlist is live, OFFLINE when it is gone (404,
        410) or complete (ENDLIST); anything else is an upstream failure, never "offline"."""
        if target.kind is not TargetKind.URL:
            raise InvalidArgument("the hls source needs a URL target", reason="INVALID_URL")
        url = check_http_url(target.value)

        def status(availability: Availability, msg: str = "", reason: str = "") -> ChannelStatus:
            return ChannelStatus(
                target=target.value,
                source=self.name,
                availability=availability,
                checked_at=datetime.now(UTC),
                message=msg,
                reason=reason,
                method="playlist",
            )

        try:
            resolution = await self._resolve(url, QualityPreference(), self._headers)
        except NotFound as exc:
            if exc.reason == "STREAM_NOT_FOUND":
                return status(Availability.OFFLINE, exc.message, exc.reason)
            return status(Availability.UPSTREAM_ERROR, exc.message, exc.reason)
        except Unavailable as exc:
            if exc.reason == "RATE_LIMITED":
                limited = status(Availability.RATE_LIMITED, exc.message, exc.reason)
                retry_after = exc.metadata.get("retry_after_seconds", "")
                if retry_after.isdigit():
                    limited = dataclasses.replace(limited, retry_after=float(retry_after))
                return limited
            return status(Availability.UPSTREAM_ERROR, exc.message, exc.reason)
        except DomainError as exc:
            return status(Availability.UPSTREAM_ERROR, exc.message, exc.reason)
        if not resolution.is_live:
            return status(Availability.OFFLINE, "the playlist is complete (EXT-X-ENDLIST)")
        return status(Availability.ONLINE)

    async def _resolve(
        self, url: str, pref: QualityPreference, headers: Mapping[str, str]
    ) -> Resolution:
        text, final_url = await self._fetch(url, headers)
        # Relative URIs resolve against where the playlist really came from (after redirects).
        playlist = parse_playlist(text, final_url)
        if isinstance(playlist, MediaPlaylist):
            # ffmpeg follows the same redirects itself; the URL the user gave stays the stable one.
            return self._resolution(url, media_url=url, is_live=playlist.is_live)
        if not playlist.variants:
            raise UpstreamError(
                "the master playlist lists no variant", reason="EMPTY_MASTER_PLAYLIST"
            )
        chosen = choose_variant(playlist.variants, pref)
        media_url = _safe_media_url(chosen.uri)
        rendition = playlist.audio_for(chosen)
        audio_url = _safe_media_url(rendition.uri) if rendition and rendition.uri else None
        media_text, media_final_url = await self._fetch(media_url, headers)
        media = parse_playlist(media_text, media_final_url)
        if not isinstance(media, MediaPlaylist):
            raise UpstreamError(
                "the chosen variant is not a media playlist", reason="NOT_A_MEDIA_PLAYLIST"
            )
        return self._resolution(
            url,
            media_url=media_url,
            audio_url=audio_url,
            is_live=media.is_live,
            master=playlist,
            chosen=chosen,
        )

    def _resolution(
        self,
        target: str,
        *,
        media_url: str,
        is_live: bool,
        audio_url: str | None = None,
        master: MasterPlaylist | None = None,
        chosen: Variant | None = None,
    ) -> Resolution:
        return Resolution(
            source=self.name,
            target=target,
            media_url=media_url,
            audio_url=audio_url,
            chosen=chosen,
            variants=master.variants if master else (),
            http_headers=dict(self._headers),
            is_live=is_live,
            cdn_proxy=self._cdn_proxy,
        )

    async def _fetch(self, url: str, headers: Mapping[str, str]) -> tuple[str, str]:
        """GET ``url`` following at most ``max_redirects`` http(s) redirects; (text, final URL)."""
        current = url
        for _ in range(self._max_redirects + 1):
            try:
                response = await self._site.request(
                    "GET",
                    current,
                    headers=headers,
                    max_body_bytes=self._max_body_bytes,
                    too_large_reason="PLAYLIST_TOO_LARGE",
                )
            except httpx.InvalidURL as exc:
                # httpx parses Location even when not following; "concat:a|b" fails there.
                raise UpstreamError(
                    f"{redact_url(current)} redirects to an invalid location",
                    reason="UNSAFE_REDIRECT",
                ) from exc
            if response.is_redirect:
                current = _redirect_target(current, response.headers["location"])
                continue
            _raise_for_status(response, current)
            # RFC 8216: playlists are UTF-8; a stray bad byte must not fail the whole parse.
            return response.body.decode("utf-8", errors="replace"), current
        raise UpstreamError(
            f"more than {self._max_redirects} redirects from {redact_url(url)}",
            reason="TOO_MANY_REDIRECTS",
        )


def _safe_media_url(url: str) -> str:
    # The master playlist comes from the internet: a variant pointing at file:, concat: or any
    # other ffmpeg protocol must never reach ffmpeg.
    try:
        return check_http_url(url)
    except InvalidArgument as exc:
        raise UpstreamError(
            f"the playlist points at an unusable media URL: {exc.message}",
            reason="UNSAFE_MEDIA_URL",
        ) from exc


def _redirect_target(current: str, location: str) -> str:
    target = urljoin(current, location.strip())
    try:
        return check_http_url(target)
    except InvalidArgument as exc:
        raise UpstreamError(
            f"{redact_url(current)} redirects to a refused location: {exc.message}",
            reason="UNSAFE_REDIRECT",
        ) from exc


def _raise_for_status(response: SiteResponse, url: str) -> None:
    status = response.status
    if 200 <= status < 300:
        return
    where = redact_url(url)
    metadata = {"http_status": str(status), "host": urlsplit(url).hostname or ""}
    if status in (404, 410):
        raise NotFound(
            f"no stream at {where} (HTTP {status})", reason="STREAM_NOT_FOUND", metadata=metadata
        )
    if status in (401, 403):
        raise StreamForbidden(f"access to {where} refused (HTTP {status})", metadata=metadata)
    if status == 429:
        retry_after = response.retry_after
        if retry_after is not None:
            metadata["retry_after_seconds"] = str(round(retry_after))
        raise Unavailable(f"rate limited by {where}", reason="RATE_LIMITED", metadata=metadata)
    if status >= 500:
        raise UpstreamError(
            f"{where} failed (HTTP {status})", reason="UPSTREAM_5XX", metadata=metadata
        )
    raise UpstreamError(
        f"{where} answered HTTP {status}", reason="UPSTREAM_HTTP_ERROR", metadata=metadata
    )
