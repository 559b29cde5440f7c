"""A fake CDN origin serving simulated live HLS streams on loopback, with fault injection.

URLs (``name`` is the stream name, ``i`` the variant index)::

    GET  /live/{name}/master.m3u8          master playlist, relative variant URIs
    GET  /live/{name}/v{i}/index.m3u8      live media playlist (sliding window)
    GET  /live/{name}/v{i}/seg_{msn}.ts    MPEG-TS segment
    GET  /_control                         {"streams": [state, ...]}
    GET  /_control/{name}                  the stream's state as JSON
    POST /_control/{name}                  JSON body: a fault or an action (see ``control``)

A stream created with a token requires ``?token=<token>`` on every live URL (403 otherwise),
and its playlists append it to every URI they list. ``python -m tests.fakes.hls_origin`` runs
one for the demo (see ``tests/fakes/__main__.py``).
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from tests.fakes.live_stream import FAULT_KINDS, Stream
from tests.fakes.media import DEFAULT_VARIANTS, VariantSpec, ensure_media

log = logging.getLogger(__name__)

_LIVE = re.compile(
    r"^/live/(?P<name>[\w.-]+)/(?:(?P<master>master\.m3u8)"
    r"|v(?P<variant>\d+)/(?:(?P<playlist>index\.m3u8)|seg_(?P<msn>\d+)\.ts))$"
)
_CONTROL = re.compile(r"^/_control(?:/(?P<name>[\w.-]+))?/?$")
_M3U8 = "application/vnd.apple.mpegurl"
_CACHE_CONTROL = {"master": "no-cache", "playlist": "max-age=1", "segment": "max-age=60"}


class RequestRecord(NamedTuple):
    """One request the origin answered."""

    time: float
    path: str
    status: int
    kind: str


class ControlError(ValueError):
    """A control request that cannot be applied; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class HlsOrigin:
    """Threaded HTTP server on loopback hosting any number of simulated live streams."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        cache_dir: Path | None = None,
        request_log_size: int = 1000,
    ) -> None:
        self._address = (host, port)
        self._cache_dir = cache_dir
        self._streams: dict[str, Stream] = {}
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()
        self._log: dict[str, deque[RequestRecord]] = {}
        self._log_size = request_log_size
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> HlsOrigin:
        """Bind and serve in a daemon thread; returns self."""
        if self._server is not None:
            raise RuntimeError("origin already started")
        self.stopping.clear()
        self._server = _Server(self._address, _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="hls-origin", daemon=True
        )
        self._thread.start()
        log.debug("fake HLS origin listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving, close open connections and join the server thread."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self.stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> HlsOrigin:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._server is None:
            raise RuntimeError("origin not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

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
    ) -> Stream:
        """Create (or replace) a live stream; media is generated on first use, then cached.

        The stream starts ``window + start_offset_segments`` segments in and publishes one
        segment per ``segment_duration`` over a loop of ``segment_count`` source segments.
        Segments stay fetchable ``grace_segments`` after they leave the playlist. With
        ``seamless_loop`` the loop wrap is invisible (timestamps keep increasing); without it
        every wrap is an ``#EXT-X-DISCONTINUITY`` where the timestamps jump back.
        """
        if not re.fullmatch(r"[\w.-]+", name):
            raise ValueError(f"invalid stream name {name!r}")
        media = ensure_media(
            tuple(variants) if variants is not None else DEFAULT_VARIANTS,
            segment_duration=segment_duration,
            segment_count=segment_count,
            cache_dir=self._cache_dir,
        )
        stream = Stream(
            name,
            media,
            window=window,
            token=token,
            start_offset_segments=start_offset_segments,
            grace_segments=grace_segments,
            seamless_loop=seamless_loop,
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
        """The master playlist URL (with the current token, if any)."""
        return self._tokenized(name, f"/live/{name}/master.m3u8")

    def media_url(self, name: str, variant_index: int = 0) -> str:
        """The media playlist URL of one variant (with the current token, if any)."""
        return self._tokenized(name, f"/live/{name}/v{variant_index}/index.m3u8")

    def control_url(self, name: str) -> str:
        """The ``/_control/{name}`` URL."""
        return f"{self.base_url}/_control/{name}"

    def _tokenized(self, name: str, path: str) -> str:
        token = self.stream(name).token
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
            allowed |= {"grace_segments", "segment_count", "seamless_loop"}
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
        """The stream's state plus its master URL."""
        return {**stream.state(), "master_url": self.url(stream.name)}


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], origin: HlsOrigin
    ) -> None:
        self.origin = origin
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, handler)

    def close_connections(self) -> None:
        """Shut down kept-alive client sockets so their handler threads end now."""
        with self.connections_lock:
            for conn in self.connections:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients (ffmpeg) hang up mid-response all the time; that is not worth a traceback.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: avoid 40 ms stalls
    timeout = 30

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        """Serve a live URL or the control state."""
        self._serve(body_wanted=True)

    def do_HEAD(self) -> None:
        """Like GET, without the body."""
        self._serve(body_wanted=False)

    def do_POST(self) -> None:
        """Apply a control request."""
        match = _CONTROL.match(urlsplit(self.path).path)
        if match is None or match["name"] is None:
            self._send(404, b"not found\n", "text/plain")
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            payload = json.loads(self.rfile.read(length) or b"{}")
        except ValueError as exc:
            self._send_json(400, {"error": f"invalid JSON: {exc}"})
            return
        try:
            if not isinstance(payload, dict):
                raise ControlError("the body must be a JSON object")
            self._send_json(200, self.server.origin.control(match["name"], payload))
        except ControlError as exc:
            self._send_json(exc.status, {"error": str(exc)})

    def _serve(self, *, body_wanted: bool) -> None:
        url = urlsplit(self.path)
        control = _CONTROL.match(url.path)
        if control is not None:
            self._control_state(control["name"], body_wanted)
            return
        match = _LIVE.match(url.path)
        if match is None:
            self._send(404, b"not found\n", "text/plain", body_wanted)
            return
        name = match["name"]
        kind = "master" if match["master"] else "playlist" if match["playlist"] else "segment"
        status, body = self._live(name, kind, match, parse_qs(url.query).get("token", [None])[0])
        self.server.origin.record(name, kind, self.path, status)
        if status == 200:
            ctype = "video/mp2t" if kind == "segment" else _M3U8
            self._send(200, body, ctype, body_wanted, _CACHE_CONTROL[kind])
        else:
            self._send(status, body, "text/plain", body_wanted)

    def _live(
        self, name: str, kind: str, match: re.Match[str], token: str | None
    ) -> tuple[int, bytes]:
        stream = self.server.origin.get(name)
        if stream is None or not stream.online:
            return 404, b"stream not found\n"
        delay = stream.response_delay()
        if delay > 0:
            self.server.origin.stopping.wait(delay)
        if not stream.accepts_token(token):
            return 403, b"forbidden\n"
        injected = stream.injected_status(kind)
        if injected is not None:
            return injected, f"injected {injected}\n".encode()
        body: str | bytes | None
        if kind == "master":
            body = stream.master_playlist()
        elif kind == "playlist":
            body = stream.media_playlist(int(match["variant"]))
        else:
            body = stream.segment(int(match["variant"]), int(match["msn"]))
        if body is None:
            return 404, b"not found\n"
        return 200, body.encode() if isinstance(body, str) else body

    def _control_state(self, name: str | None, body_wanted: bool) -> None:
        origin = self.server.origin
        if name is None:
            self._send_json(200, origin.state(), body_wanted)
            return
        stream = origin.get(name)
        if stream is None:
            self._send_json(404, {"error": f"no stream {name!r}"}, body_wanted)
        else:
            self._send_json(200, origin.stream_state(stream), body_wanted)

    def _send_json(self, status: int, data: dict[str, Any], body_wanted: bool = True) -> None:
        body = json.dumps(data, indent=1).encode() + b"\n"
        self._send(status, body, "application/json", body_wanted)

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        body_wanted: bool = True,
        cache_control: str = "no-store",
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", cache_control)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        if body_wanted:
            self.wfile.write(body)


if __name__ == "__main__":
    from tests.fakes.__main__ import main

    raise SystemExit(main())
