"""The direct-HLS source: a URL to a master or media playlist on any CDN."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator, Mapping
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
from ..targets import Target, TargetKind, check_http_url
from .base import Resolution, Source, register

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_REDIRECTS", "HlsSource", "StreamForbidden"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 2 * 1024 * 1024
DEFAULT_MAX_REDIRECTS = 5


class StreamForbidden(DomainError):
    """The CDN refused access (401/403): usually an expired token; a fresh Resolve may fix it."""

    kind = ErrorKind.PERMISSION_DENIED
    default_reason = "STREAM_FORBIDDEN"


def redact_url(url: str) -> str:
    """``scheme://host[:port]/path`` of ``url``: no query (tokens), no credentials, no fragment."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<malformed url>"
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


@register
class HlsSource(Source):
    """Resolves an http(s) URL to an HLS playlist: picks a variant of a master playlist (and
    its separate audio rendition), or takes a media playlist as it is.

    ``client`` is shared and owned by the caller; its timeouts apply to every request.
    ``http_headers`` are sent on every request and returned for ffmpeg to send too.
    """

    name: ClassVar[str] = "hls"

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        http_headers: Mapping[str, str] | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
    ) -> None:
        self._client = client
        self._headers = dict(http_headers or {})
        self._max_body_bytes = max_body_bytes
        self._max_redirects = max_redirects

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
        url = check_http_url(target.value)
        started = time.monotonic()
        context = {"event.action": "resolve.hls", "url.original": redact_url(url)}
        try:
            resolution = await self._resolve(url, target, pref)
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
        return resolution

    async def _resolve(self, url: str, target: Target, pref: QualityPreference) -> Resolution:
        text, final_url = await self._fetch(url)
        # Relative URIs resolve against where the playlist really came from (after redirects).
        playlist = parse_playlist(text, final_url)
        if isinstance(playlist, MediaPlaylist):
            # ffmpeg follows the same redirects itself; the URL the user gave stays the stable one.
            return self._resolution(target, media_url=url, is_live=playlist.is_live)
        if not playlist.variants:
            raise UpstreamError(
                "the master playlist lists no variant", reason="EMPTY_MASTER_PLAYLIST"
            )
        chosen = choose_variant(playlist.variants, pref)
        media_url = _safe_media_url(chosen.uri)
        rendition = playlist.audio_for(chosen)
        audio_url = _safe_media_url(rendition.uri) if rendition and rendition.uri else None
        media_text, media_final_url = await self._fetch(media_url)
        media = parse_playlist(media_text, media_final_url)
        if not isinstance(media, MediaPlaylist):
            raise UpstreamError(
                "the chosen variant is not a media playlist", reason="NOT_A_MEDIA_PLAYLIST"
            )
        return self._resolution(
            target,
            media_url=media_url,
            audio_url=audio_url,
            is_live=media.is_live,
            master=playlist,
            chosen=chosen,
        )

    def _resolution(
        self,
        target: Target,
        *,
        media_url: str,
        is_live: bool,
        audio_url: str | None = None,
        master: MasterPlaylist | None = None,
        chosen: Variant | None = None,
    ) -> Resolution:
        return Resolution(
            source=self.name,
            target=target.value,
            media_url=media_url,
            audio_url=audio_url,
            chosen=chosen,
            variants=master.variants if master else (),
            http_headers=dict(self._headers),
            is_live=is_live,
        )

    async def _fetch(self, url: str) -> tuple[str, str]:
        """GET ``url`` following at most ``max_redirects`` http(s) redirects; (text, final URL)."""
        current = url
        for _ in range(self._max_redirects + 1):
            with _transport_errors(current):
                request = self._client.build_request("GET", current, headers=self._headers)
                try:
                    response = await self._client.send(request, stream=True, follow_redirects=False)
                except httpx.InvalidURL as exc:
                    # httpx parses Location even when not following; "concat:a|b" fails there.
                    raise UpstreamError(
                        f"{redact_url(current)} redirects to an invalid location",
                        reason="UNSAFE_REDIRECT",
                    ) from exc
                try:
                    if response.has_redirect_location:
                        current = _redirect_target(current, response.headers["location"])
                        continue
                    _raise_for_status(response, current)
                    body = await self._read_capped(response)
                finally:
                    await response.aclose()
            # RFC 8216: playlists are UTF-8; a stray bad byte must not fail the whole parse.
            return body.decode("utf-8", errors="replace"), current
        raise UpstreamError(
            f"more than {self._max_redirects} redirects from {redact_url(url)}",
            reason="TOO_MANY_REDIRECTS",
        )

    async def _read_capped(self, response: httpx.Response) -> bytes:
        # Checked before and while reading: a hostile or broken origin must not fill our memory
        # (the decoded size is what counts, so a gzip bomb stops early too).
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_body_bytes:
            raise _too_large(self._max_body_bytes)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self._max_body_bytes:
                raise _too_large(self._max_body_bytes)
            chunks.append(chunk)
        return b"".join(chunks)


def _too_large(limit: int) -> UpstreamError:
    return UpstreamError(
        f"the playlist is larger than {limit} bytes",
        reason="PLAYLIST_TOO_LARGE",
        metadata={"limit_bytes": str(limit)},
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


def _raise_for_status(response: httpx.Response, url: str) -> None:
    status = response.status_code
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
        retry_after = response.headers.get("retry-after", "")
        if retry_after.isdigit():
            metadata["retry_after_seconds"] = retry_after
        raise Unavailable(f"rate limited by {where}", reason="RATE_LIMITED", metadata=metadata)
    if status >= 500:
        raise UpstreamError(
            f"{where} failed (HTTP {status})", reason="UPSTREAM_5XX", metadata=metadata
        )
    raise UpstreamError(
        f"{where} answered HTTP {status}", reason="UPSTREAM_HTTP_ERROR", metadata=metadata
    )


@contextlib.contextmanager
def _transport_errors(url: str) -> Iterator[None]:
    """Turn httpx's transport failures into UpstreamErrors naming only the host and path."""
    where = redact_url(url)
    try:
        yield
    except httpx.TimeoutException as exc:
        raise UpstreamError(f"{where} timed out", reason="UPSTREAM_TIMEOUT") from exc
    except httpx.ProtocolError as exc:
        raise UpstreamError(
            f"{where} broke the HTTP protocol ({type(exc).__name__})",
            reason="UPSTREAM_PROTOCOL_ERROR",
        ) from exc
    except httpx.TransportError as exc:
        raise UpstreamError(
            f"{where} is unreachable ({type(exc).__name__})", reason="UPSTREAM_UNREACHABLE"
        ) from exc
    except httpx.HTTPError as exc:
        raise UpstreamError(
            f"{where} answered something unreadable ({type(exc).__name__})",
            reason="UPSTREAM_ERROR",
        ) from exc
