"""Room images: a site's picture of a room, fetched under the request budget and checked.

The bytes are untrusted: they count as an image only when their magic number says so (the
``Content-Type`` header is ignored), they are capped while they are read, and nothing in them
is ever interpreted here. Redirects are not followed (an image host that moves is an error).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from servicekit.errors import NotFound, Unavailable, UpstreamError
from servicekit.images import sniff_image

from .site_client import SiteClient, redact_url

__all__ = ["ROOM_IMAGE_MAX_BYTES", "RoomImage", "fetch_room_image"]

#: Room images are tens of kilobytes; anything past this is not one.
ROOM_IMAGE_MAX_BYTES = 1024 * 1024


@dataclass(frozen=True)
class RoomImage:
    """An image as a site sent it; ``content_type`` is what its bytes are."""

    data: bytes
    content_type: str
    fetched_at: datetime


async def fetch_room_image(
    site: SiteClient,
    url: str,
    *,
    headers: Mapping[str, str],
    max_bytes: int = ROOM_IMAGE_MAX_BYTES,
) -> RoomImage:
    """GET ``url`` through ``site`` (budget, retries) and return it if it is an image.

    Raises NotFound (ROOM_IMAGE_NOT_FOUND) for a 404/410, Unavailable (RATE_LIMITED) for a 429
    or a paused host, UpstreamError IMAGE_TOO_LARGE (more than ``max_bytes``), NOT_AN_IMAGE
    (a 200 whose bytes are no image: a challenge or error page), UPSTREAM_HTTP_<status>, or the
    site client's transport reasons.
    """
    where = redact_url(url)
    response = await site.request(
        "GET",
        url,
        headers={**headers, "Accept": "image/avif,image/webp,image/*;q=0.8"},
        max_body_bytes=max_bytes,
        too_large_reason="IMAGE_TOO_LARGE",
    )
    if response.status in (404, 410):
        raise NotFound(f"{where}: the site has no such image", reason="ROOM_IMAGE_NOT_FOUND")
    if response.status == 429:
        retry = response.retry_after
        raise Unavailable(
            f"{where}: rate limited",
            reason="RATE_LIMITED",
            metadata={"retry_after_seconds": str(max(1, round(retry)))} if retry else None,
        )
    if response.status != 200:
        raise UpstreamError(
            f"{where} answered HTTP {response.status}", reason=f"UPSTREAM_HTTP_{response.status}"
        )
    content_type = sniff_image(response.body)
    if content_type is None:
        raise UpstreamError(
            f"{where} did not answer with an image ({len(response.body)} bytes of something else)",
            reason="NOT_AN_IMAGE",
        )
    return RoomImage(response.body, content_type, datetime.now(UTC))
