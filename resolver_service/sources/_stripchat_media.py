"""Stripchat's media side in one call: a master playlist to a Resolution whose playlists are
the relay's (decoded on every reload), the segments still straight from the CDN.

The source reads the master (``CdnHosts.open_master``) and calls :func:`relay_resolution`;
it picks the variant, appends ``psch``/``pkey`` to the chosen variant's and its audio's URLs,
publishes each media playlist on the relay with the :class:`MouflonPlaylists` rewrite, and
fails (a DomainError with its reason: STRIPCHAT_ADVERT, STRIPCHAT_KEY_MISSING,
STRIPCHAT_KEY_WRONG, STREAM_NOT_FOUND, ...) before anything is recorded when the first read
cannot be decoded. A master without a PSCH tag is an ordinary stream: published all the same
(the rewrite then only makes URIs absolute and still refuses adverts).
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from servicekit.errors import FailedPrecondition, InvalidArgument, UpstreamError

from ..playlist import MasterPlaylist, parse_playlist
from ..quality import QualityPreference, choose_variant
from ..relay import PlaylistRelay
from ..site_client import SiteClient
from ..targets import check_http_url
from ._mouflon import parse_psch, with_psch
from ._mouflon_keys import MouflonPlaylists
from .base import Resolution

__all__ = ["relay_resolution"]


async def relay_resolution(
    *,
    source: str,
    target: str,
    username: str,
    master_url: str,
    master_text: str,
    pref: QualityPreference,
    relay: PlaylistRelay | None,
    cdn: SiteClient,
    headers: Mapping[str, str],
    playlists: MouflonPlaylists,
    cdn_proxy: str | None = None,
) -> Resolution:
    """The Resolution for a Stripchat master playlist (see the module doc).

    ``headers`` are the CDN's (Referer, Origin, User-Agent): sent on the relay's reads and
    returned for ffmpeg's segment requests. Raises FailedPrecondition(RELAY_NOT_RUNNING) without
    a relay, UpstreamError for a master that is not one, and what ``relay.publish`` raises."""
    if relay is None:
        raise FailedPrecondition(
            "this resolver runs without the playlist relay, which Stripchat streams need",
            reason="RELAY_NOT_RUNNING",
        )
    master = parse_playlist(master_text, master_url)
    if not isinstance(master, MasterPlaylist) or not master.variants:
        raise UpstreamError(
            "the Stripchat master playlist lists no variant", reason="EMPTY_MASTER_PLAYLIST"
        )
    psch = parse_psch(master_text)
    chosen = choose_variant(master.variants, pref)
    rendition = master.audio_for(chosen)

    async def publish(uri: str, what: str) -> str:
        try:
            url = check_http_url(uri)
        except InvalidArgument as exc:
            raise UpstreamError(
                f"the master points at an unusable URL: {exc.message}", reason="UNSAFE_MEDIA_URL"
            ) from exc
        return await relay.publish(
            with_psch(url, psch) if psch is not None else url,
            client=cdn,
            headers=headers,
            rewrite=playlists.rewrite,
            label=f"{source}:{username} {what}",
        )

    media_url = await publish(chosen.uri, "video")
    audio_url = await publish(rendition.uri, "audio") if rendition and rendition.uri else None
    return Resolution(
        source=source,
        target=target,
        media_url=media_url,
        audio_url=audio_url,
        chosen=chosen,
        variants=master.variants,
        http_headers=dict(headers),
        is_live=True,
        cdn_proxy=cdn_proxy,
        username=username,
        direct_hosts=(urlsplit(relay.base_url).hostname or "",),
    )
