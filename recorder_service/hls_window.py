"""Where to resume a live HLS recording after a restart: the first segment not yet recorded,
when the live window still holds it.

The watchdog knows the last segment ffmpeg opened (from its log); after a restart it reads the
fresh media playlist (same headers ffmpeg sends) and finds that segment by its path (CDN
tokens live in the query string and change with every resolve; paths do not). ffmpeg is then
started with ``-live_start_index`` on the segment after it, so an outage shorter than the
window loses no media.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

log = logging.getLogger(__name__)

_MAX_PLAYLIST_BYTES = 2 * 2**20


@dataclass(frozen=True)
class Window:
    """A media playlist as seen at one moment: segment paths, oldest first."""

    paths: tuple[str, ...]
    durations: tuple[float, ...]
    ended: bool

    @property
    def seconds(self) -> float:
        return sum(self.durations)

    def resume_index(self, last_path: str | None) -> int | None:
        """The index of the segment after ``last_path``; None when it is no longer listed
        (or was never known): the window moved past it."""
        if last_path is None:
            return None
        try:
            return self.paths.index(last_path) + 1
        except ValueError:
            return None


def segment_path(url: str) -> str:
    """A segment's identity across token refreshes: its URL path without the query."""
    return urlsplit(url).path


def parse_window(text: str, base_url: str) -> Window:
    """The segments of a media playlist (EXT-X-PART lines and other tags ignored)."""
    paths: list[str] = []
    durations: list[float] = []
    pending = 0.0
    ended = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXTINF:"):
            try:
                pending = float(line[8:].split(",", 1)[0])
            except ValueError:
                pending = 0.0
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif line and not line.startswith("#"):
            paths.append(segment_path(urljoin(base_url, line)))
            durations.append(pending)
            pending = 0.0
    return Window(tuple(paths), tuple(durations), ended)


async def fetch_window(url: str, headers: Mapping[str, str], within: float = 10.0) -> Window:
    """Read the media playlist at ``url`` with ffmpeg's headers; raises httpx errors."""
    async with (
        httpx.AsyncClient(timeout=within, follow_redirects=True) as client,
        client.stream("GET", url, headers=dict(headers)) as response,
    ):
        response.raise_for_status()
        body = b""
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > _MAX_PLAYLIST_BYTES:
                raise httpx.HTTPError("playlist too large")
        return parse_window(body.decode("utf-8", "replace"), str(response.url))
