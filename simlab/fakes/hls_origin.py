"""A fake CDN origin serving simulated live HLS streams on loopback, with fault injection.

Each stream has a format (``add_stream(format=...)``); URLs (``name``: stream name, ``i``:
video variant, ``id``: the stream's hex id, ``msn``: media sequence number, ``p``: part)::

    ts (legacy MPEG-TS, audio muxed into every variant)
    GET  /live/{name}/master.m3u8               master playlist, relative variant URIs
    GET  /live/{name}/v{i}/index.m3u8           live media playlist (sliding window)
    GET  /live/{name}/v{i}/seg_{msn}.ts         MPEG-TS segment
    cmaf (fMP4: video-only variants + one audio rendition, EXT-X-MAP init segments)
    GET  /cmaf/{name}/master.m3u8               master with EXT-X-MEDIA TYPE=AUDIO
    GET  /cmaf/{name}/v{i}/index.m3u8           video media playlist
    GET  /cmaf/{name}/v{i}/init.mp4             video init segment
    GET  /cmaf/{name}/v{i}/seg_{msn}.m4s        video-only segment
    GET  /cmaf/{name}/audio/{index.m3u8,init.mp4,seg_{msn}.m4s}   the audio rendition
    llhls (the same fMP4 as LL-HLS: parts, preload hints, rendition reports, blocking reload)
    GET  /v1/edge/streams/origin.{name}.{id}/llhls.m3u8                      master
    GET  .../chunklist_{i}_video_{id}_llhls.m3u8[?_HLS_msn=M[&_HLS_part=P]]  media playlist
    GET  .../init_{i}_video_{id}.m4s                                         init segment
    GET  .../seg_{i}_{msn}_video_{id}_llhls.m4s                              segment
    GET  .../part_{i}_{msn}_{p}_video_{id}_llhls.m4s                         part (a fragment)
    (and the same with ``audio`` and index 0 for the audio rendition)

    GET  /_control                         {"streams": [state, ...]}
    GET  /_control/{name}                  the stream's state as JSON
    POST /_control/{name}                  JSON body: a fault or an action (see ``control``)

A ts or cmaf stream created with a token requires ``?token=<token>`` on every live URL (403
otherwise), and its playlists append it to every URI they list. An llhls stream requires the
token on its master playlist only: the URIs the master lists carry ``?session=<uuid>`` instead,
which every other URL requires (``rotate_token`` starts a new session; the old one gets 403).
A blocking playlist reload or a part not out yet is held until it is (at most three target
durations). ``python -m simlab.fakes.hls_origin`` runs one for the demo (see
``simlab/fakes/__main__.py``).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from simlab.fakes.faults import FAULT_KINDS
from simlab.fakes.live_stream import Stream
from simlab.fakes.loopback import Background
from simlab.fakes.media import DEFAULT_VARIANTS, VariantSpec, ensure_media
from simlab.fakes.media_fmp4 import ensure_fmp4
from simlab.fakes.origin_http import ControlError, OriginServer
from simlab.fakes.playlists import FORMATS, master_path, media_path

__all__ = ["ControlError", "HlsOrigin", "RequestRecord"]

log = logging.getLogger(__name__)


class RequestRecord(NamedTuple):
    """One request the origin answered."""

    time: float
    path: str
    status: int
    kind: str


class HlsOrigin(Background[OriginServer]):
    """Threaded HTTP server on loopback hosting any number of simulated live streams."""

    thread_name = "hls-origin"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        cache_dir: Path | None = None,
        request_log_size: int = 1000,
    ) -> None:
        super().__init__(host, port)
        self._cache_dir = cache_dir
        self._streams: dict[str, Stream] = {}
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._log: dict[str, deque[RequestRecord]] = {}
        self._log_size = request_log_size

    def _make_server(self, address: tuple[str, int]) -> OriginServer:
        return OriginServer(address, self)

    # -- streams --------------------------------------------------------------------------

    def add_stream(
        self,
        name: str,
        *,
        variants: Sequence[VariantSpec] | None = None,
        segment_duration: float = 2.0,
        window: int = 6,
        token: str | None = None,
        start_offset_segments: int = 0,
        grace_segments: int = 3,
        segment_count: int = 30,
        seamless_loop: bool = True,
        format: str = "ts",
    ) -> Stream:
        """Create (or replace) a live stream; media is generated on first use, then cached.

        The stream starts ``window + start_offset_segments`` segments in and publishes one
        segment per ``segment_duration`` over a loop of ``segment_count`` source segments.
        Segments stay fetchable ``grace_segments`` after they leave the playlist. With
        ``seamless_loop`` the loop wrap is invisible (timestamps keep increasing); without it
        every wrap is an ``#EXT-X-DISCONTINUITY`` where the timestamps jump back.
        ``format`` is ``ts``, ``cmaf`` or ``llhls`` (see the module docs); the fMP4 media of
        the last two is generated (then cached) only when such a stream is added.
        """
        if not re.fullmatch(r"[\w.-]+", name):
            raise ValueError(f"invalid stream name {name!r}")
        if format not in FORMATS:
            raise ValueError(f"unknown format {format!r}; expected one of {FORMATS}")
        media = ensure_media(
            tuple(variants) if variants is not None else DEFAULT_VARIANTS,
            segment_duration=segment_duration,
            segment_count=segment_count,
            cache_dir=self._cache_dir,
        )
        if format != "ts":
            media = ensure_fmp4(media, cache_dir=self._cache_dir)
        stream = Stream(
            name,
            media,
            window=window,
            token=token,
            start_offset_segments=start_offset_segments,
            grace_segments=grace_segments,
            seamless_loop=seamless_loop,
            format=format,
        )
        with self._lock:
            self._streams[name] = stream
        return stream

    def remove_stream(self, name: str) -> None:
        """Forget the stream: its URLs answer 404 (its request log is kept)."""
        with self._lock:
            self._streams.pop(name, None)

    def stream(self, name: str) -> Stream:
        """The stream called ``name`` (KeyError if there is none)."""
        with self._lock:
            return self._streams[name]

    def get(self, name: str) -> Stream | None:
        """The stream called ``name``, or None."""
        with self._lock:
            return self._streams.get(name)

    def url(self, name: str) -> str:
        """The master playlist URL of the stream's format (with the current token, if any)."""
        stream = self.stream(name)
        return self._with_query(stream, master_path(stream.format, name, stream.stream_id), True)

    def media_url(self, name: str, variant_index: int = 0) -> str:
        """The video media playlist URL of one variant (with the current token, or for llhls
        the current session)."""
        stream = self.stream(name)
        path = media_path(stream.format, name, stream.stream_id, "video", variant_index)
        return self._with_query(stream, path, False)

    def audio_url(self, name: str) -> str:
        """The audio rendition playlist URL of a cmaf or llhls stream (ValueError for ts)."""
        stream = self.stream(name)
        if stream.format == "ts":
            raise ValueError(f"stream {name!r} is ts: its audio is muxed into every variant")
        path = media_path(stream.format, name, stream.stream_id, "audio", 0)
        return self._with_query(stream, path, False)

    def control_url(self, name: str) -> str:
        """The ``/_control/{name}`` URL."""
        return f"{self.base_url}/_control/{name}"

    def _with_query(self, stream: Stream, path: str, master: bool) -> str:
        if stream.format == "llhls" and not master:
            return f"{self.base_url}{path}?session={stream.session}"
        token = stream.token
        return f"{self.base_url}{path}" + (f"?token={token}" if token is not None else "")

    # -- request log ----------------------------------------------------------------------

    def request_count(self, name: str, kind: str | None = None) -> int:
        """Requests answered for ``name``; ``kind``: 'master', 'playlist' or 'segment'."""
        with self._lock:
            if kind is not None:
                return self._counts[(name, kind)]
            return sum(n for (stream, _), n in self._counts.items() if stream == name)

    def requests(self, name: str) -> list[RequestRecord]:
        """The most recent requests for ``name``, oldest first (bounded)."""
        with self._lock:
            return list(self._log.get(name, ()))

    def record(self, name: str, kind: str, path: str, status: int) -> None:
        """Add a request to the log (called by the request handler)."""
        with self._lock:
            self._counts[(name, kind)] += 1
            entries = self._log.setdefault(name, deque(maxlen=self._log_size))
            entries.append(RequestRecord(time.time(), path, status, kind))

    # -- control --------------------------------------------------------------------------

    def control(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Apply a control request; returns the stream's new state.

        ``{"fault": kind, "duration"?, "status"?, "target"?, "segments"?, "delay"?, "count"?}``
        sets a fault; ``{"action": a}`` with ``a`` in ``clear_faults``, ``end``, ``go_offline``,
        ``go_online``, ``remove``, ``rotate_token`` (+ ``"token"``) or ``add`` (+ optional
        ``add_stream`` keyword fields) acts on the stream.
        """
        action = payload.get("action")
        if action == "add":
            allowed = {"token", "window", "segment_duration", "start_offset_segments"}
            allowed |= {"grace_segments", "segment_count", "seamless_loop", "format"}
            kwargs = {k: v for k, v in payload.items() if k in allowed}
            try:
                return self.stream_state(self.add_stream(name, **kwargs))
            except (TypeError, ValueError) as exc:
                raise ControlError(f"bad stream parameters {kwargs!r}: {exc}") from exc
        stream = self.get(name)
        if stream is None:
            raise ControlError(f"no stream {name!r}", 404)
        if "fault" in payload:
            options = {k: v for k, v in payload.items() if k != "fault"}
            try:
                stream.set_fault(str(payload["fault"]), **options)
            except (TypeError, ValueError) as exc:
                raise ControlError(f"bad fault {payload!r}: {exc}; kinds: {FAULT_KINDS}") from exc
        elif action == "remove":
            self.remove_stream(name)
            return {"name": name, "removed": True}
        elif action == "rotate_token":
            stream.rotate_token(payload.get("token"))
        elif action in ("clear_faults", "end", "go_offline", "go_online"):
            getattr(stream, action)()
        else:
            raise ControlError(f"expected a 'fault' or a known 'action', got {payload!r}")
        return self.stream_state(stream)

    def state(self) -> dict[str, Any]:
        """``{"streams": [state, ...]}`` for every stream."""
        with self._lock:
            streams = list(self._streams.values())
        return {"streams": [self.stream_state(s) for s in streams]}

    def stream_state(self, stream: Stream) -> dict[str, Any]:
        """The stream's state plus its master URL (and audio playlist URL, if separate)."""
        audio = self.audio_url(stream.name) if stream.format != "ts" else None
        return {**stream.state(), "master_url": self.url(stream.name), "audio_url": audio}


if __name__ == "__main__":
    from simlab.fakes.__main__ import main

    raise SystemExit(main())
