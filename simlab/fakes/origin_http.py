"""The HTTP side of the fake origin: routing live URLs to streams, blocking LL-HLS requests,
and the ``/_control`` API (see ``hls_origin.py`` for the URLs)."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from simlab.fakes.loopback import TrackedHandler, TrackedServer
from simlab.fakes.playlists import Route, parse_path

if TYPE_CHECKING:
    from simlab.fakes.hls_origin import HlsOrigin
    from simlab.fakes.live_stream import Stream

log = logging.getLogger(__name__)

_CONTROL = re.compile(r"^/_control(?:/(?P<name>[\w.-]+))?/?$")
_M3U8 = "application/vnd.apple.mpegurl"
_CACHE_CONTROL = {"master": "no-cache", "playlist": "max-age=1", "segment": "max-age=60"}


class ControlError(ValueError):
    """A control request that cannot be applied; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class OriginServer(TrackedServer):
    """The origin's HTTP server; handlers reach the origin through ``self.server.origin``."""

    def __init__(self, address: tuple[str, int], origin: HlsOrigin) -> None:
        self.origin = origin
        super().__init__(address, _Handler)


class _Handler(TrackedHandler):
    server: OriginServer

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
        route = parse_path(url.path)
        if route is None:
            self._send(404, b"not found\n", "text/plain", body_wanted)
            return
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        status, body = self._live(route, query)
        self.server.origin.record(route.name, route.request_kind, self.path, status)
        if status == 200:
            ctype = _M3U8 if route.kind in ("master", "playlist") else "video/mp2t"
            if route.format != "ts" and route.kind in ("init", "segment", "part"):
                ctype = f"{route.track}/mp4"
            self._send(200, body, ctype, body_wanted, _CACHE_CONTROL[route.request_kind])
        else:
            self._send(status, body, "text/plain", body_wanted)

    def _live(self, route: Route, query: dict[str, str]) -> tuple[int, bytes]:
        origin = self.server.origin
        stream = origin.get(route.name)
        if stream is None or not stream.online or stream.format != route.format:
            return 404, b"stream not found\n"
        if route.stream_id not in (None, stream.stream_id):
            return 404, b"stream not found\n"
        delay = stream.response_delay()
        if delay > 0:
            origin.stopping.wait(delay)
        token, session = query.get("token"), query.get("session")
        if not stream.accepts(master=route.kind == "master", token=token, session=session):
            return 403, b"forbidden\n"
        injected = stream.injected_status(route.request_kind)
        if injected is not None:
            return injected, f"injected {injected}\n".encode()
        if route.format == "llhls":
            status = self._block(stream, route, query)
            if status is not None:
                return status, b"not available\n"
        body: str | bytes | None
        if route.kind == "master":
            body = stream.master_playlist()
        elif route.kind == "playlist":
            body = stream.media_playlist(route.index, route.track)
        elif route.kind == "init":
            body = stream.init_segment(route.index, route.track)
        elif route.kind == "part":
            body = stream.part(route.index, route.msn, route.part, route.track)
        else:
            body = stream.segment(route.index, route.msn, route.track)
        if body is None:
            return 404, b"not found\n"
        return 200, body.encode() if isinstance(body, str) else body

    def _block(self, stream: Stream, route: Route, query: dict[str, str]) -> int | None:
        """Hold a blocking playlist reload (``_HLS_msn``/``_HLS_part``) or a part request until
        what it asks for is out; returns an error status, or None to answer normally."""
        if route.kind == "part":
            wanted: tuple[int, int | None] = (route.msn, route.part)
        elif route.kind == "playlist" and "_HLS_msn" in query:
            try:
                part = query.get("_HLS_part")
                wanted = (int(query["_HLS_msn"]), None if part is None else int(part))
            except ValueError:
                return 400
        elif route.kind == "playlist" and "_HLS_part" in query:
            return 400
        else:
            return None
        deadline = time.monotonic() + 3 * stream.target_duration
        while not self.server.origin.stopping.is_set():
            ready = stream.part_ready(route.index, *wanted, route.track)
            if ready is None:
                return 400 if route.kind == "playlist" else None
            if ready:
                return None
            if time.monotonic() >= deadline:
                return 503 if route.kind == "playlist" else None
            self.server.origin.stopping.wait(0.02)
        return 503

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
