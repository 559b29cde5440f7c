"""Stripchat's CDN hosts: the master playlist on one of several TLDs, the working one kept.

The CDN answers on ``edge-hls.doppiocdn.{com,net,org,live}`` and which of them works changes
over time. ``open_master`` starts with the TLD that worked last and moves on when one fails
(unreachable, timeout, 5xx, 403/404); a 429 stops the round at once (the same CDN is asking
for quiet). The TLD that answers becomes the one to start with next time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from servicekit.errors import DomainError, InvalidArgument, Unavailable, UpstreamError

from ..site_client import SiteClient, SiteResponse, redact_url
from ._stripchat_site import master_url

__all__ = ["CdnHosts", "tld_order"]

logger = logging.getLogger(__name__)

MAX_PLAYLIST_BYTES = 512 * 1024


def tld_order(tlds: Sequence[str], preferred: str | None) -> list[str]:
    """``tlds`` starting from ``preferred`` (the one that worked last), then the rest in order."""
    if preferred not in tlds:
        return list(tlds)
    start = tlds.index(preferred)
    return [*tlds[start:], *tlds[:start]]


def _not_rate_limited(response: SiteResponse) -> bool:
    return response.status != 429


class CdnHosts:
    """Master playlist reads through the CDN client, rotating TLDs."""

    def __init__(
        self,
        cdn: SiteClient,
        template: str,
        tlds: Sequence[str],
        headers: Mapping[str, str],
    ) -> None:
        self._cdn = cdn
        self._template = template
        self._tlds = tuple(tlds)
        self._headers = dict(headers)
        self.current: str | None = None

    async def open_master(self, model: int) -> tuple[str, str]:
        """(URL, text) of the model's master playlist from the first TLD that serves it.

        Raises Unavailable (RATE_LIMITED) or UpstreamError (CDN_UNREACHABLE, naming every
        TLD's failure)."""
        failures: list[str] = []
        for tld in tld_order(self._tlds, self.current):
            try:
                url = master_url(self._template, tld, model)
            except InvalidArgument as exc:
                failures.append(f"{tld}: {exc.message}")
                continue
            failure = await self._try(url)
            if isinstance(failure, str):
                failures.append(f"{tld}: {failure}")
                continue
            if self.current != tld:
                logger.info(
                    "stripchat CDN: using .%s (tried %d)",
                    tld,
                    len(failures) + 1,
                    extra={"event.action": "stripchat.cdn_tld", "url.original": redact_url(url)},
                )
            self.current = tld
            return url, failure[1]
        raise UpstreamError(
            "no CDN host serves the stream: " + "; ".join(failures), reason="CDN_UNREACHABLE"
        )

    async def _try(self, url: str) -> str | tuple[str, str]:
        """(url, text), or why this host failed. A 429 raises (Unavailable)."""
        try:
            response = await self._cdn.request(
                "GET",
                url,
                headers=self._headers,
                max_body_bytes=MAX_PLAYLIST_BYTES,
                too_large_reason="PLAYLIST_TOO_LARGE",
                # The next TLD is the retry: a 5xx host is not asked again (a 429 still is).
                final=_not_rate_limited,
            )
        except DomainError as exc:
            if exc.reason == "RATE_LIMITED":
                raise
            return exc.message
        if response.status == 429:
            retry = response.retry_after
            raise Unavailable(
                f"rate limited by {redact_url(url)}",
                reason="RATE_LIMITED",
                metadata={"retry_after_seconds": str(round(retry))} if retry else None,
            )
        if response.status != 200:
            return f"HTTP {response.status}"
        text = response.body.decode("utf-8", errors="replace")
        if not text.lstrip().startswith("#EXTM3U"):
            return "not a playlist"
        return url, text
