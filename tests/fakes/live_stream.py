"""One simulated live HLS stream: its live clock, sliding window, playlists and faults.

The stream is already ``window + start_offset_segments`` segments in when it is created (so a
client gets a full window at once), then publishes one segment each time its duration has
elapsed. Media sequence number ``msn`` serves source segment ``msn % N`` of the pre-encoded
loop. Wherever the source restarts at segment 0 (the loop wraps, or an injected discontinuity
restarts the "encoder") the timestamps jump back and the playlist says
``#EXT-X-DISCONTINUITY``; with ``seamless_loop`` the loop wrap instead shifts the timestamps
on, so the stream looks like one endless encode and only injected discontinuities remain.

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

import math
import threading
import time
from bisect import bisect_right, insort
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from tests.fakes.media import MediaSet

FAULT_KINDS = ("stall", "http_error", "window_jump", "slow", "token_expire", "discontinuity")
#: ``http_error`` targets: the master playlist, media playlists, segments, or every request.
ERROR_TARGETS = ("master", "playlist", "segment", "all")
# The parameters of each lasting fault that its state shows.
_FIELDS: dict[str, set[str]] = {
    "stall": {"frozen_at"},
    "http_error": {"status", "target", "count"},
    "slow": {"delay"},
    "token_expire": set(),
}


@dataclass
class Fault:
    """An active fault; ``expires_at`` is on the stream's monotonic clock (None: until cleared)."""

    kind: str
    expires_at: float | None = None
    status: int = 503
    target: str = "all"
    delay: float = 0.0
    count: int | None = None
    frozen_at: int = 0


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
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if window < 1 or start_offset_segments < 0 or grace_segments < 0:
            raise ValueError("window must be >= 1; offsets and grace must be >= 0")
        self.name = name
        self.media = media
        self.window = window
        self.grace_segments = grace_segments
        self.seamless_loop = seamless_loop
        self._token = token
        self._clock = clock
        self._lock = threading.Lock()
        self._faults: dict[str, Fault] = {}
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
        self._target_duration = max(
            1, max(math.ceil(round(d, 3)) for v in media.variants for d in v.durations)
        )

    # -- control ------------------------------------------------------------------------

    @property
    def token(self) -> str | None:
        """The token every URL must carry (None: no token needed)."""
        return self._token

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
                self._faults[fault] = Fault(
                    fault, expires, status, target, delay, count, frozen_at=self._visible()
                )

    def clear_faults(self) -> None:
        """Clear every active fault (an expired token stays expired until rotated)."""
        with self._lock:
            expired = self._faults.get("token_expire")
            self._faults.clear()
            if expired is not None:
                self._faults["token_expire"] = expired

    def rotate_token(self, token: str | None) -> None:
        """Start accepting ``token`` (only) and clear a ``token_expire`` fault."""
        with self._lock:
            self._token = token
            self._faults.pop("token_expire", None)

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
            if self._active("token_expire") is not None:
                return False
            return self._token is None or given == self._token

    def response_delay(self) -> float:
        """Seconds every response must currently be delayed by (``slow`` fault)."""
        with self._lock:
            fault = self._active("slow")
            return fault.delay if fault is not None else 0.0

    def injected_status(self, kind: str) -> int | None:
        """The status an ``http_error`` fault imposes on a request of ``kind``, if any."""
        with self._lock:
            fault = self._active("http_error")
            if fault is None or fault.target not in ("all", kind):
                return None
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    del self._faults["http_error"]
            return fault.status

    def master_playlist(self) -> str:
        """The master playlist, with relative variant URIs."""
        lines = ["#EXTM3U", "#EXT-X-VERSION:3"]
        for index, variant in enumerate(self.media.variants):
            spec = variant.spec
            lines.append(
                f"#EXT-X-STREAM-INF:BANDWIDTH={variant.bandwidth},"
                f"RESOLUTION={spec.width}x{spec.height},FRAME-RATE={spec.fps:.3f},"
                f'CODECS="{variant.codecs}"'
            )
            lines.append(self._with_token(f"v{index}/index.m3u8"))
        return "\n".join(lines) + "\n"

    def media_playlist(self, variant_index: int) -> str | None:
        """The live media playlist of one variant (None: no such variant)."""
        if not 0 <= variant_index < len(self.media.variants):
            return None
        durations = self.media.variants[variant_index].durations
        with self._lock:
            self._advance()
            end = self._visible()
            first = max(0, end - self.window)
            lines = [
                "#EXTM3U",
                "#EXT-X-VERSION:3",
                f"#EXT-X-TARGETDURATION:{self._target_duration}",
                f"#EXT-X-MEDIA-SEQUENCE:{first}",
                f"#EXT-X-DISCONTINUITY-SEQUENCE:{self._discontinuity_sequence(first)}",
            ]
            for msn in range(first, end):
                if msn > first and self._is_discontinuity(msn):
                    lines.append("#EXT-X-DISCONTINUITY")
                start = self._wall0 + self._starts[msn - self._starts_first]
                pdt = datetime.fromtimestamp(start, UTC).isoformat(timespec="milliseconds")
                lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{pdt.replace('+00:00', 'Z')}")
                lines.append(f"#EXTINF:{durations[self._source_index(msn)]:.6f},")
                lines.append(self._with_token(f"seg_{msn}.ts"))
            if self._ended_at is not None:
                lines.append("#EXT-X-ENDLIST")
        return "\n".join(lines) + "\n"

    def segment(self, variant_index: int, msn: int) -> bytes | None:
        """Bytes of segment ``msn`` (None: unknown variant, not yet published, or expired)."""
        if not 0 <= variant_index < len(self.media.variants):
            return None
        with self._lock:
            self._advance()
            end = self._visible()
            if not max(0, end - self.window - self.grace_segments) <= msn < end:
                return None
            restart = self._restarts[bisect_right(self._restarts, msn) - 1]
        index, loop = (msn - restart) % self.media.segment_count, 0
        if self.seamless_loop:
            loop = (msn - restart) // self.media.segment_count
        return self.media.variants[variant_index].segment_bytes(index, loop)

    def state(self) -> dict[str, Any]:
        """A JSON-ready snapshot: live edge, sequences, token, variants and active faults."""
        with self._lock:
            self._advance()
            now = self._clock()
            end = self._visible()
            first = max(0, end - self.window)
            faults = {}
            for kind in list(self._faults):
                fault = self._active(kind)
                if fault is not None:
                    info = {k: v for k, v in asdict(fault).items() if k in _FIELDS[kind]}
                    left = None if fault.expires_at is None else round(fault.expires_at - now, 3)
                    faults[kind] = {**info, "remaining": left}
            return {
                "name": self.name,
                "online": self._online,
                "ended": self._ended_at is not None,
                "token": self._token,
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
                "faults": faults,
            }

    # -- internals (the caller holds the lock) ---------------------------------------------

    def _with_token(self, uri: str) -> str:
        return f"{uri}?token={self._token}" if self._token is not None else uri

    def _active(self, kind: str) -> Fault | None:
        fault = self._faults.get(kind)
        if fault is not None and fault.expires_at is not None and self._clock() >= fault.expires_at:
            del self._faults[kind]
            return None
        return fault

    def _visible(self) -> int:
        """Published segment count as clients see it (a stall or the end freezes it)."""
        end = self._published
        stall = self._active("stall")
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
