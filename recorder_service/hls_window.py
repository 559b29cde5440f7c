"""Where to resume a live HLS recording after a restart: the first segment not yet recorded,
when the live window still holds it.

The watchdog knows the last segment ffmpeg opened (from its log); after a restart it reads the
fresh media playlist (same headers ffmpeg sends) and finds that segment by its path (CDN
tokens live in the query string and change with every resolve; paths do not). ffmpeg is then
started with ``-live_start_index`` on the segment after it, so an outage shorter than the
window loses no media. The same reading tells how much wall-clock time a discontinuity
skipped, when the playlist dates its segments (``#EXT-X-PROGRAM-DATE-TIME``).
"""

from __future__ import annotations

import functools
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin, urlsplit

import certifi
import httpx

log = logging.getLogger(__name__)

_MAX_PLAYLIST_BYTES = 2 * 2**20
_PDT = "#EXT-X-PROGRAM-DATE-TIME:"
_MAP = "#EXT-X-MAP:"


@dataclass(frozen=True)
class Window:
    """A media playlist as seen at one moment: segment paths, oldest first."""

    paths: tuple[str, ...]
    durations: tuple[float, ...]
    ended: bool
    # Per segment: preceded by #EXT-X-DISCONTINUITY.
    discontinuities: tuple[bool, ...] = ()
    # Per segment: its #EXT-X-PROGRAM-DATE-TIME (POSIX seconds), given or carried on from the
    # previous segment within the same run of timestamps; None when the playlist does not say.
    program_times: tuple[float | None, ...] = ()
    # Initialization sections (#EXT-X-MAP): opened by ffmpeg like segments, but not media.
    init_paths: frozenset[str] = field(default_factory=frozenset)

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

    def wallclock_gap_before(self, index: int) -> float | None:
        """Seconds of wall clock between the end of segment ``index - 1`` and the start of
        segment ``index`` by their program date-times (0 when they follow on; None when the
        playlist does not date both)."""
        if not 0 < index < len(self.program_times):
            return None
        before, after = self.program_times[index - 1], self.program_times[index]
        if before is None or after is None:
            return None
        return after - (before + self.durations[index - 1])


def segment_path(url: str) -> str:
    """A segment's identity across token refreshes: its URL path without the query."""
    return urlsplit(url).path


def _program_time(value: str) -> float | None:
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _map_uri(tag: str) -> str | None:
    for attribute in tag[len(_MAP) :].split(","):
        name, _, value = attribute.partition("=")
        if name.strip() == "URI":
            return value.strip().strip('"')
    return None


def parse_window(text: str, base_url: str) -> Window:
    """The segments of a media playlist (EXT-X-PART lines and other tags ignored)."""
    paths: list[str] = []
    durations: list[float] = []
    breaks: list[bool] = []
    times: list[float | None] = []
    inits: set[str] = set()
    pending = 0.0
    pending_break = False
    pending_time: float | None = None
    ended = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXTINF:"):
            try:
                pending = float(line[8:].split(",", 1)[0])
            except ValueError:
                pending = 0.0
        elif line == "#EXT-X-DISCONTINUITY":
            pending_break = True
        elif line.startswith(_PDT):
            pending_time = _program_time(line[len(_PDT) :])
        elif line.startswith(_MAP):
            if uri := _map_uri(line):
                inits.add(segment_path(urljoin(base_url, uri)))
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif line and not line.startswith("#"):
            if pending_time is None and times and not pending_break:
                # Dated by the segment before it (RFC 8216 4.3.2.6), within one run only.
                previous = times[-1]
                pending_time = None if previous is None else previous + durations[-1]
            paths.append(segment_path(urljoin(base_url, line)))
            durations.append(pending)
            breaks.append(pending_break)
            times.append(pending_time)
            pending, pending_break, pending_time = 0.0, False, None
    return Window(
        tuple(paths), tuple(durations), ended, tuple(breaks), tuple(times), frozenset(inits)
    )


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every playlist read: building one loads the CA bundle (tens of ms
    of CPU on the event loop), which a client per read did for every start; 32 starts at once
    then reached their first byte together after 5 s (measured with py-spy, bench case burst)."""
    return ssl.create_default_context(cafile=certifi.where())  # httpx's own default CAs


async def fetch_window(
    url: str,
    headers: Mapping[str, str],
    within: float = 10.0,
    proxy: str = "",
    direct_hosts: tuple[str, ...] = (),
) -> Window:
    """Read the media playlist at ``url`` with ffmpeg's headers, through ffmpeg's CDN proxy
    when there is one (not for ``direct_hosts``, as ffmpeg's ``no_proxy``); raises httpx
    errors (whose text may name the proxy: hide it)."""
    if httpx.URL(url).host in direct_hosts:
        proxy = ""
    async with (
        httpx.AsyncClient(
            timeout=within, follow_redirects=True, proxy=proxy or None, verify=_tls()
        ) as client,
        client.stream("GET", url, headers=dict(headers)) as response,
    ):
        response.raise_for_status()
        body = b""
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > _MAX_PLAYLIST_BYTES:
                raise httpx.HTTPError("playlist too large")
        return parse_window(body.decode("utf-8", "replace"), str(response.url))
