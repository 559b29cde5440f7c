"""One simulated live HLS stream: its live clock, sliding window, playlists and faults.

The stream is already ``window + start_offset_segments`` segments in when it is created (so a
client gets a full window at once), then publishes one segment each time its duration has
elapsed. Media sequence number ``msn`` serves source segment ``msn % N`` of the pre-encoded
loop. Wherever the source restarts at segment 0 (the loop wraps, or an injected discontinuity
restarts the "encoder") the timestamps jump back and the playlist says
``#EXT-X-DISCONTINUITY``; with ``seamless_loop`` the loop wrap instead shifts the timestamps
on, so the stream looks like one endless encode and only injected discontinuities remain.

``format`` picks what the CDN serves (URL shapes and playlist text: ``playlists.py``):
``ts`` (MPEG-TS, muxed audio), ``cmaf`` (fMP4 video-only variants + an audio rendition) or
``llhls`` (the same fMP4 with LL-HLS parts, blocking reload and sessions). Tokens: ts and cmaf
need the token on every URL; llhls needs it on the master only, which hands out a session id
that every other URL needs instead (``rotate_token`` starts a new session and voids the old).

Faults (``Stream.set_fault``; each clears itself after ``duration`` seconds when given one):

- ``stall``: the playlists freeze (newer segments 404) while the live clock runs on, so when
  the stall ends the window has jumped ahead: what was published meanwhile appears at once.
- ``http_error`` (``status``, ``target``, optional ``count``): matching requests get ``status``.
- ``window_jump`` (``segments``): the live edge moves N segments ahead at once (one-shot).
- ``slow`` (``delay``): every response of the stream waits ``delay`` seconds first.
- ``token_expire``: every request is 403 until ``rotate_token()``.
- ``discontinuity``: the next published segment restarts the "encoder": it is preceded by
  ``#EXT-X-DISCONTINUITY`` and its timestamps restart from the loop's start (one-shot).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from bisect import bisect_right, insort
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from simlab.fakes.faults import ERROR_TARGETS, FAULT_KINDS, ActiveFaults, Fault
from simlab.fakes.media import MediaSet
from simlab.fakes.media_fmp4 import Fmp4Track
from simlab.fakes.playlists import Entry, Renderer, Window, published_parts

__all__ = ["ERROR_TARGETS", "FAULT_KINDS", "Fault", "Stream"]


class Stream:
    """A live stream with a sliding window over a looping media set; thread-safe."""

    def __init__(
        self,
        name: str,
        media: MediaSet,
        *,
        window: int = 6,
        token: str | None = None,
        start_offset_segments: int = 0,
        grace_segments: int = 3,
        seamless_loop: bool = True,
        format: str = "ts",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window < 1 or start_offset_segments < 0 or grace_segments < 0:
            raise ValueError("window must be >= 1; offsets and grace must be >= 0")
        self.name = name
        self.media = media
        #: A stable hex id (part of the llhls URLs).
        self.stream_id = hashlib.sha256(name.encode()).hexdigest()[:8]
        self._renderer = Renderer(format, media, self.stream_id)
        self._session = str(uuid.uuid4())
        self.window = window
        self.grace_segments = grace_segments
        self.seamless_loop = seamless_loop
        self._token = token
        self._clock = clock
        self._lock = threading.Lock()
        self._faults = ActiveFaults(clock)
        self._restarts: list[int] = [0]  # msns at which the source restarts at segment 0
        self._online = True
        self._ended_at: int | None = None
        self._t0 = clock()
        self._wall0 = time.time()
        self._jump_offset = 0.0
        self._published = window + start_offset_segments
        # Stream-time start of each recent segment; stream time 0 is the creation moment.
        self._keep = window + grace_segments + 2
        self._starts_first = max(0, self._published - self._keep)
        starts: list[float] = []
        t = 0.0
        for msn in range(self._published - 1, self._starts_first - 1, -1):
            t -= self._duration(msn)
            starts.append(t)
        self._starts: deque[float] = deque(reversed(starts))
        self._next_start = 0.0

    # -- control ------------------------------------------------------------------------

    @property
    def format(self) -> str:
        """``ts``, ``cmaf`` or ``llhls``."""
        return self._renderer.format

    @property
    def token(self) -> str | None:
        """The token every URL (llhls: the master URL) must carry (None: no token needed)."""
        return self._token

    @property
    def session(self) -> str:
        """The llhls session id the master playlist hands out for the current token."""
        return self._session

    @property
    def online(self) -> bool:
        """False after ``go_offline()``: every URL of the stream answers 404."""
        return self._online

    @property
    def ended(self) -> bool:
        """True after ``end()``: the media playlists carry ``#EXT-X-ENDLIST``."""
        return self._ended_at is not None

    def set_fault(
        self,
        fault: str,
        *,
        duration: float | None = None,
        status: int = 503,
        target: str = "all",
        segments: int = 1,
        delay: float = 1.0,
        count: int | None = None,
    ) -> None:
        """Inject a fault (replacing an active one of the same kind); see the module docs.

        ``duration`` (seconds) makes it clear itself; ``status``/``target``/``count`` apply to
        ``http_error`` (``count``: only the next N matching requests), ``segments`` to
        ``window_jump``, ``delay`` to ``slow``. ``window_jump`` and ``discontinuity`` act once.
        """
        if fault not in FAULT_KINDS:
            raise ValueError(f"unknown fault {fault!r}; expected one of {FAULT_KINDS}")
        if target not in ERROR_TARGETS:
            raise ValueError(f"unknown target {target!r}; expected one of {ERROR_TARGETS}")
        with self._lock:
            self._advance()
            now = self._clock()
            expires = now + duration if duration is not None else None
            if fault == "window_jump":
                for _ in range(max(0, segments)):
                    self._jump_offset += self._duration(self._published)
                    self._publish_one()
            elif fault == "discontinuity":
                if self._published not in self._restarts:
                    insort(self._restarts, self._published)
            else:
                self._faults.set(
                    Fault(fault, expires, status, target, delay, count, frozen_at=self._visible())
                )

    def clear_faults(self) -> None:
        """Clear every active fault (an expired token stays expired until rotated)."""
        with self._lock:
            self._faults.clear()

    def rotate_token(self, token: str | None) -> None:
        """Start accepting ``token`` (only), begin a new llhls session (the old one is void)
        and clear a ``token_expire`` fault."""
        with self._lock:
            self._token = token
            self._session = str(uuid.uuid4())
            self._faults.discard("token_expire")

    def end(self) -> None:
        """End the broadcast: the window freezes and the playlists get ``#EXT-X-ENDLIST``."""
        with self._lock:
            self._advance()
            if self._ended_at is None:
                self._ended_at = self._visible()

    def go_offline(self) -> None:
        """Make every URL of the stream answer 404 (the channel went offline)."""
        self._online = False

    def go_online(self) -> None:
        """Undo ``go_offline()``; the live clock kept running meanwhile."""
        self._online = True

    # -- what the server asks -------------------------------------------------------------

    def accepts_token(self, given: str | None) -> bool:
        """Whether a request carrying ``given`` as its ``token`` query parameter is allowed."""
        with self._lock:
            if self._faults.get("token_expire") is not None:
                return False
            return self._token is None or given == self._token

    def accepts(self, *, master: bool, token: str | None, session: str | None) -> bool:
        """Whether a request is allowed: by ``token`` (llhls: by ``session`` but for the
        master playlist); nothing is while the token is expired."""
        if self.format != "llhls" or master:
            return self.accepts_token(token)
        with self._lock:
            return self._faults.get("token_expire") is None and session == self._session

    def response_delay(self) -> float:
        """Seconds every response must currently be delayed by (``slow`` fault)."""
        with self._lock:
            fault = self._faults.get("slow")
            return fault.delay if fault is not None else 0.0

    def injected_status(self, kind: str) -> int | None:
        """The status an ``http_error`` fault imposes on a request of ``kind``, if any."""
        with self._lock:
            return self._faults.injected_status(kind)

    def master_playlist(self) -> str:
        """The master playlist, with relative URIs (token, or llhls session, on each)."""
        with self._lock:
            query = self._query()
        return self._renderer.master_playlist(query)

    def media_playlist(self, variant_index: int, track: str = "video") -> str | None:
        """The live media playlist of a rendition (None: no such rendition). ``track`` is
        ``video`` (``variant_index``: the variant) or ``audio`` (cmaf/llhls; index 0)."""
        with self._lock:
            window, query = self._window(), self._query()
        return self._renderer.media_playlist(track, variant_index, window, query)

    def init_segment(self, variant_index: int, track: str = "video") -> bytes | None:
        """The fMP4 initialization segment of a rendition (None: no such rendition)."""
        source = self._renderer.rendition(track, variant_index)
        return source.init_bytes() if isinstance(source, Fmp4Track) else None

    def segment(self, variant_index: int, msn: int, track: str = "video") -> bytes | None:
        """Bytes of segment ``msn`` (None: unknown rendition, not yet published, or expired)."""
        source = self._renderer.rendition(track, variant_index)
        with self._lock:
            self._advance()
            end = self._visible()
            if source is None or not self._first_kept(end) <= msn < end:
                return None
            index, loop = self._source_and_loop(msn)
        return source.segment_bytes(index, loop)

    def part(self, variant_index: int, msn: int, part: int, track: str = "video") -> bytes | None:
        """Bytes of an llhls part: a fragment of segment ``msn``, which may be in progress
        (None: unknown, not yet out, or expired)."""
        source = self._renderer.rendition(track, variant_index)
        if self.format != "llhls" or not isinstance(source, Fmp4Track):
            return None
        with self._lock:
            if not self._part_out(source, msn, part):
                return None
            index, loop = self._source_and_loop(msn)
        return source.part_bytes(index, part, loop)

    def part_ready(
        self, variant_index: int, msn: int, part: int | None, track: str = "video"
    ) -> bool | None:
        """For blocking llhls requests: whether segment ``msn`` (``part`` None) or that part is
        out; None when it is too far ahead to wait for (or there is no such rendition)."""
        source = self._renderer.rendition(track, variant_index)
        if self.format != "llhls" or not isinstance(source, Fmp4Track):
            return None
        with self._lock:
            self._advance()
            end = self._visible()
            if msn > end + 1:
                return None
            return msn < end or (part is not None and self._part_out(source, msn, part))

    @property
    def part_target(self) -> float:
        """The llhls ``PART-TARGET`` (seconds)."""
        return self._renderer.part_target

    @property
    def target_duration(self) -> int:
        """The ``EXT-X-TARGETDURATION`` (seconds)."""
        return self._renderer.target_duration

    def state(self) -> dict[str, Any]:
        """A JSON-ready snapshot: live edge, sequences, token, variants and active faults."""
        with self._lock:
            self._advance()
            end = self._visible()
            first = max(0, end - self.window)
            return {
                "name": self.name,
                "format": self.format,
                "stream_id": self.stream_id,
                "online": self._online,
                "ended": self._ended_at is not None,
                "token": self._token,
                "session": self._session if self.format == "llhls" else None,
                "window": self.window,
                "grace_segments": self.grace_segments,
                "seamless_loop": self.seamless_loop,
                "segment_duration": self.media.segment_duration,
                "segment_count": self.media.segment_count,
                "published": end,
                "media_sequence": first,
                "discontinuity_sequence": self._discontinuity_sequence(first),
                "restarts": [r for r in self._restarts if r > 0],
                "variants": [
                    {
                        "index": i,
                        "resolution": f"{v.spec.width}x{v.spec.height}",
                        "fps": v.spec.fps,
                        "bandwidth": v.bandwidth,
                        "codecs": v.codecs,
                    }
                    for i, v in enumerate(self.media.variants)
                ],
                "faults": self._faults.state(),
            }

    # -- internals (the caller holds the lock) ---------------------------------------------

    def _query(self) -> str:
        """The query every listed URI carries."""
        if self.format == "llhls":
            return f"?session={self._session}"
        return f"?token={self._token}" if self._token is not None else ""

    def _window(self) -> Window:
        self._advance()
        end = self._visible()
        first = max(0, end - self.window)
        entries = []
        for msn in range(first, end):
            start = self._wall0 + self._starts[msn - self._starts_first]
            pdt = datetime.fromtimestamp(start, UTC).isoformat(timespec="milliseconds")
            pdt = pdt.replace("+00:00", "Z")
            entries.append(Entry(msn, self._source_index(msn), self._is_discontinuity(msn), pdt))
        live = self._ended_at is None and self._faults.get("stall") is None
        elapsed = self._clock() - self._t0 + self._jump_offset - self._next_start
        return Window(
            media_sequence=first,
            discontinuity_sequence=self._discontinuity_sequence(first),
            entries=tuple(entries),
            ended=self._ended_at is not None,
            live_msn=end,
            live_source=self._source_index(end),
            live_elapsed=max(0.0, elapsed) if live and end == self._published else None,
            live_discontinuity=self._is_discontinuity(end),
        )

    def _part_out(self, fmp4: Fmp4Track, msn: int, part: int) -> bool:
        window = self._window()
        if part < 0 or msn < self._first_kept(window.live_msn):
            return False
        if msn < window.live_msn:
            return part < len(fmp4.parts[self._source_index(msn)])
        return msn == window.live_msn and part < published_parts(fmp4, window)

    def _first_kept(self, end: int) -> int:
        """The oldest segment still served (listed or in grace) when ``end`` are out."""
        return max(0, end - self.window - self.grace_segments)

    def _source_and_loop(self, msn: int) -> tuple[int, int]:
        """The source segment played as ``msn`` and in which pass over the loop."""
        restart = self._restarts[bisect_right(self._restarts, msn) - 1]
        index, loop = (msn - restart) % self.media.segment_count, 0
        if self.seamless_loop:
            loop = (msn - restart) // self.media.segment_count
        return index, loop

    def _visible(self) -> int:
        """Published segment count as clients see it (a stall or the end freezes it)."""
        end = self._published
        stall = self._faults.get("stall")
        if stall is not None:
            end = min(end, stall.frozen_at)
        if self._ended_at is not None:
            end = min(end, self._ended_at)
        return end

    def _advance(self) -> None:
        now = self._clock() - self._t0 + self._jump_offset
        while self._next_start + self._duration(self._published) <= now + 1e-6:
            self._publish_one()
        floor = self._visible() - self._keep
        while self._starts and self._starts_first < floor:
            self._starts.popleft()
            self._starts_first += 1

    def _publish_one(self) -> None:
        self._starts.append(self._next_start)
        self._next_start += self._duration(self._published)
        self._published += 1

    def _duration(self, msn: int) -> float:
        return self.media.variants[0].durations[self._source_index(msn)]

    def _source_index(self, msn: int) -> int:
        restart = self._restarts[bisect_right(self._restarts, msn) - 1]
        return (msn - restart) % self.media.segment_count

    def _is_discontinuity(self, msn: int) -> bool:
        if self.seamless_loop:
            return msn > 0 and msn in self._restarts
        return msn > 0 and self._source_index(msn) == 0

    def _discontinuity_sequence(self, first: int) -> int:
        """Discontinuities at or before ``first`` (the first listed segment carries no tag)."""
        if self.seamless_loop:
            return sum(1 for restart in self._restarts if 0 < restart <= first)
        n = self.media.segment_count
        count = 0
        for i, restart in enumerate(self._restarts):
            if restart > first:
                break
            last = self._restarts[i + 1] - 1 if i + 1 < len(self._restarts) else first
            lo, hi = (restart if restart > 0 else n), min(last, first)
            if hi >= lo:
                count += (hi - lo) // n + 1
        return count
