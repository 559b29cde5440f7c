"""Stripchat's mouflon keys at run time: discovery from the player script, and the playlist
rewrite the relay calls on every reload (the decoding itself is ``_mouflon``, pure).

The source builds one :class:`MouflonPlaylists` (``from_context``: ``STRIPCHAT_KEYS``, the
user's ``pkey:pdkey`` table, and ``STRIPCHAT_PLAYER_URL``, the player script discovery reads)
and hands its ``rewrite`` to ``relay.publish`` for each media playlist. A playlist whose pkey
has no key, or whose key does not decode it, triggers discovery (at most once per pkey every
``rediscover_after`` seconds): the player script and the chunks it names are read through the
CDN client, each quoted 16-character string of the chunk mentioning MOUFLON is tried on the
playlist's own tokens, and the one that decodes them is kept in the key ring. Adverts are not
retried: the key is not what the CDN saw (the pkey on the URL is), so the error stands.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import parse_qs, urljoin, urlsplit

from servicekit.errors import DomainError, InvalidArgument
from servicekit.settings import SettingsError

from ..site_client import SiteClient, redact_url
from ..targets import check_http_url
from ._mouflon import (
    KeyRing,
    MouflonError,
    chunk_names,
    find_pdkey,
    key_candidates,
    parse_keys,
    rewrite_media_playlist,
    sample_tokens,
)
from .base import SourceContext

__all__ = ["KeyDiscovery", "MouflonPlaylists"]

log = logging.getLogger(__name__)

MAX_SCRIPT_BYTES = 8 * 1024 * 1024
MAX_CHUNKS = 40
_KEY_REASONS = ("STRIPCHAT_KEY_MISSING", "STRIPCHAT_KEY_WRONG")

#: The player script's URL, or a coroutine finding it (the site's config names the version).
PlayerUrl = str | Callable[[], Awaitable[str]]


class KeyDiscovery:
    """Reads the player script and its chunks; the pdkey candidates they hold."""

    def __init__(self, cdn: SiteClient, player_url: PlayerUrl, headers: Mapping[str, str]) -> None:
        self._cdn = cdn
        self._player_url = player_url
        self._headers = dict(headers)

    async def candidates(self) -> tuple[str, ...]:
        """Every candidate of every script mentioning MOUFLON: the player script itself, else
        the chunks it names (at most MAX_CHUNKS). DomainError when the player cannot be read."""
        url = self._player_url if isinstance(self._player_url, str) else await self._player_url()
        main = await self._text(check_http_url(url))
        found = list(key_candidates(main))
        if found:
            return tuple(found)
        for name in chunk_names(main)[:MAX_CHUNKS]:
            try:
                found += key_candidates(await self._text(urljoin(url, name)))
            except DomainError as exc:
                log.info("mouflon discovery: chunk %s unreadable: %s", name, exc.message)
        return tuple(dict.fromkeys(found))

    async def _text(self, url: str) -> str:
        response = await self._cdn.request(
            "GET",
            url,
            headers=self._headers,
            max_body_bytes=MAX_SCRIPT_BYTES,
            too_large_reason="PLAYER_SCRIPT_TOO_LARGE",
        )
        if response.status != 200:
            raise DomainError(
                f"{redact_url(url)} answered HTTP {response.status}",
                reason="PLAYER_SCRIPT_UNREADABLE",
            )
        return response.body.decode("utf-8", errors="replace")


class MouflonPlaylists:
    """The relay's rewrite for Stripchat media playlists: decode with the key ring, discover a
    missing or changed key once, refuse adverts (MouflonError with its reason)."""

    def __init__(
        self,
        ring: KeyRing,
        discovery: KeyDiscovery | None,
        *,
        rediscover_after: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ring = ring
        self._discovery = discovery
        self._rediscover_after = rediscover_after
        self._clock = clock
        self._tried: dict[str, float] = {}
        self._lock = asyncio.Lock()
        self.discoveries = 0

    @classmethod
    def from_context(
        cls, ctx: SourceContext, headers: Mapping[str, str], player_url: PlayerUrl | None = None
    ) -> MouflonPlaylists:
        """From ``<PREFIX>KEYS`` (``pkey:pdkey,...``), ``<PREFIX>PLAYER_URL`` (or
        ``player_url``; neither: no discovery) and ``<PREFIX>KEY_RETRY_SECONDS`` (how soon
        discovery may run again for a pkey it could not find, 30). SettingsError for a bad
        table or URL."""
        try:
            table = parse_keys(ctx.text("KEYS", ""))
        except ValueError as exc:
            raise SettingsError(f"{ctx.prefix}KEYS: {exc}") from None
        if player_url is None:
            configured = ctx.text("PLAYER_URL", "")
            player_url = ctx.url("PLAYER_URL", configured) if configured else None
        discovery = KeyDiscovery(ctx.cdn, player_url, headers) if player_url else None
        retry = ctx.number("KEY_RETRY_SECONDS", 30.0, minimum=0.0)
        return cls(KeyRing(table), discovery, rediscover_after=retry)

    async def rewrite(self, text: str, url: str) -> str:
        """``text`` (read from ``url``) decoded for ffmpeg; MouflonError when it cannot be."""
        pkey = _query_pkey(url)
        try:
            return rewrite_media_playlist(text, url, self.ring.as_mapping(), pkey=pkey)
        except MouflonError as exc:
            if exc.reason not in _KEY_REASONS or not await self._discover(exc.pkey, text):
                raise
        return rewrite_media_playlist(text, url, self.ring.as_mapping(), pkey=pkey)

    async def _discover(self, pkey: str, text: str) -> bool:
        """Find the pdkey of ``pkey`` from the player; True when the ring has a new one."""
        samples = sample_tokens(text)
        if self._discovery is None or not pkey or not samples:
            return False
        async with self._lock:
            current = self.ring.get(pkey)
            if current and find_pdkey([current], samples):
                return True  # another playlist found it while this one waited
            last = self._tried.get(pkey)
            if last is not None and self._clock() - last < self._rediscover_after:
                return False
            self._tried[pkey] = self._clock()
            self.discoveries += 1
            try:
                candidates = await self._discovery.candidates()
            except (DomainError, InvalidArgument) as exc:
                log.warning(
                    "mouflon discovery for pkey %s failed: %s",
                    pkey,
                    exc.message,
                    extra={"event.action": "stripchat.key_discovery", "error.type": exc.reason},
                )
                return False
            pdkey = find_pdkey(candidates, samples)
            log.log(
                logging.INFO if pdkey else logging.WARNING,
                "mouflon discovery for pkey %s: %s among %d candidates",
                pkey,
                "found the key" if pdkey else "no key decodes the playlist",
                len(candidates),
                extra={
                    "event.action": "stripchat.key_discovery",
                    "event.outcome": "success" if pdkey else "failure",
                },
            )
            if pdkey is None:
                return False
            self.ring.learn(pkey, pdkey)
            return True


def _query_pkey(url: str) -> str:
    values = parse_qs(urlsplit(url).query).get("pkey")
    return values[0] if values else ""
