"""A fake Stripchat CDN: mouflon-obfuscated fMP4 live streams, the player script that hides
the key, adverts for a wrong key, key rotation, TLD rotation, faults and a request log.

Built on the fake origin's live streams (``HlsOrigin.add_stream(format="cmaf")``, never served
by the origin itself): their media playlists are rewritten here the way SITES.md says the site
obfuscates them. One server stands for every CDN host: the first path segment names the host
(``edge-hls.doppiocdn.<tld>`` for playlists, ``media-hls.doppiocdn.<tld>`` for media)::

    GET /edge-hls.doppiocdn.{tld}/hls/{id}/master/{id}_auto.m3u8   master, #EXT-X-MOUFLON:PSCH
    GET /edge-hls.doppiocdn.{tld}/hls/{id}/{id}_{r}.m3u8?psch=&pkey=
            media playlist of rendition r (v0, v1, ..., audio); without the current (or an
            earlier) pkey, or in advert mode: the promotional clip (#EXT-X-MOUFLON-ADVERT)
    GET /media-hls.doppiocdn.{tld}/b-hls-07/{id}/{id}_{r}_{n}_{sig}_seg.mp4   (n: msn or init)
    GET /media-hls.doppiocdn.{tld}/cpa/v3/{r}_{n}.mp4                          the advert clip
    GET /player/mmp/v{ver}/main.js            names the chunks; one of them mentions MOUFLON
    GET /player/mmp/v{ver}/chunk-{hash}.js    the pdkey among decoys (16-char quoted strings)
    POST /_control                            {"action": ...} (see ``control``)

v1 playlists put ``#EXT-X-MOUFLON:FILE:<base64 name>`` before a ``.../media.mp4`` placeholder;
v2 put ``#EXT-X-MOUFLON:URI:<url>`` whose second-to-last ``_`` token is the encrypted ``sig``
(reversed base64 of sig XOR SHA-256(pdkey)). The init segment (``EXT-X-MAP``) is obfuscated
the same way, and the last segment's LL-HLS parts are listed with placeholders. Segment names
carry a ``sig`` (an HMAC of the room's secret): a name that was not decoded gets 404. Every CDN
request needs ``Referer`` on the site (and ``Origin`` the site, when sent): 403 otherwise. A
TLD set down answers 503. Playlists name the pkey they were encrypted with
(``#EXT-X-MOUFLON:PSCH``), so a key rotation shows in the next reload (unverified: how the
real site rotates is not documented).
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import string
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit

from resolver_service.sources._mouflon import encode_v1, encode_v2_token
from simlab.fakes.hls_origin import HlsOrigin
from simlab.fakes.live_stream import Stream
from simlab.fakes.loopback import Background, TrackedHandler, TrackedServer
from simlab.fakes.media import LOW_VARIANT, VariantSpec

__all__ = ["CdnRequest", "StripchatCdn"]

TLDS = ("com", "net", "org", "live")
_ALNUM = string.ascii_letters + string.digits
_EDGE = re.compile(
    r"/edge-hls\.doppiocdn\.(?P<tld>[a-z]+)/hls/(?P<id>\d+)/(?P<file>(?:master/)?[^/]+)"
)
_MEDIA = re.compile(r"/media-hls\.doppiocdn\.(?P<tld>[a-z]+)/(?P<path>.+)")
_SEG = re.compile(
    r"b-hls-07/(?P<id>\d+)/(?P=id)_(?P<r>v\d+|audio)_(?P<n>\d+|init)_(?P<sig>\w+)_seg\.mp4"
)
_CPA = re.compile(r"cpa/v3/(?P<r>v\d+|audio)_(?P<n>\d+|init)\.mp4")
_PLAYER = re.compile(r"/player/mmp/v(?P<ver>\d+)/(?P<file>main\.js|chunk-[a-z0-9]+\.js)")
_M3U8 = "application/vnd.apple.mpegurl"


def _random_key(rng: secrets.SystemRandom) -> str:
    return "".join(rng.choice(_ALNUM) for _ in range(16))


class CdnRequest(NamedTuple):
    time: float
    path: str
    status: int
    kind: str  # master, playlist, segment, advert, player, other


@dataclass
class _Room:
    model_id: int
    stream: Stream
    psch: str
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    advert: bool = False

    def sig(self, rendition: str, n: str) -> str:
        return hmac.new(self.secret, f"{rendition}:{n}".encode(), "sha256").hexdigest()[:12]


class StripchatCdn(Background["_Server"]):
    """The fake CDN; every method is thread-safe (the server thread reads the same state)."""

    thread_name = "stripchat-cdn"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        site: str = "https://stripchat.com",
        cache_dir: Path | None = None,
        player_version: int = 7,
    ) -> None:
        super().__init__(host, port)
        self.site = site.rstrip("/")
        self._origin = HlsOrigin(cache_dir=cache_dir)  # a stream factory: never started
        self._lock = threading.Lock()
        self._rooms: dict[int, _Room] = {}
        self._rng = secrets.SystemRandom()
        self.pkey, self.pdkey = _random_key(self._rng), _random_key(self._rng)
        self._old_pkeys: list[str] = []
        self.player_version = player_version
        self._chunk = secrets.token_hex(4)
        self._player_key = ("", "", 0.0)  # (pdkey, chunk, until): the old key while lagging
        self.down: set[str] = set()
        self._faults: dict[str, list[int]] = {}  # kind -> statuses to answer, in order
        self.log: list[CdnRequest] = []
        self._advert = self._origin.add_stream(
            "cpa", variants=(LOW_VARIANT,), segment_count=10, format="cmaf", window=4
        )

    def _make_server(self, address: tuple[str, int]) -> _Server:
        return _Server(address, self)

    # -- rooms and keys -------------------------------------------------------------------

    def add_room(
        self,
        model_id: int,
        *,
        psch: str = "v2",
        variants: Sequence[VariantSpec] | None = None,
        segment_duration: float = 2.0,
        window: int = 6,
    ) -> None:
        """A live room (``psch``: "v1" or "v2") whose master is on every TLD not down."""
        if psch not in ("v1", "v2"):
            raise ValueError(f"psch must be v1 or v2, not {psch!r}")
        stream = self._origin.add_stream(
            str(model_id),
            variants=variants,
            segment_duration=segment_duration,
            window=window,
            format="cmaf",
        )
        with self._lock:
            self._rooms[model_id] = _Room(model_id, stream, psch)

    def remove_room(self, model_id: int) -> None:
        with self._lock:
            self._rooms.pop(model_id, None)

    def set_advert(self, model_id: int, on: bool = True) -> None:
        """Serve the promotional clip to every media playlist request of the room."""
        with self._lock:
            self._rooms[model_id].advert = on

    def rotate_key(self, player_lag: float = 0.0) -> tuple[str, str]:
        """A new pkey and pdkey from now on; earlier pkeys are still accepted on variant URLs,
        but playlists use the new key. The player script names the new key ``player_lag``
        seconds later (until then it still holds the old one)."""
        with self._lock:
            self._old_pkeys.append(self.pkey)
            self._player_key = (self.pdkey, self._chunk, time.monotonic() + player_lag)
            self.pkey, self.pdkey = _random_key(self._rng), _random_key(self._rng)
            self._chunk = secrets.token_hex(4)
            return self.pkey, self.pdkey

    def fail(self, kind: str, status: int, count: int = 1) -> None:
        """Answer the next ``count`` requests of ``kind`` (master, playlist, segment, player)
        with ``status``."""
        with self._lock:
            self._faults.setdefault(kind, []).extend([status] * count)

    # -- URLs -----------------------------------------------------------------------------

    @property
    def master_template(self) -> str:
        """The master URL template (``STRIPCHAT_MASTER_URL_TEMPLATE``): ``{tld}``, ``{id}``."""
        return f"{self.base_url}/edge-hls.doppiocdn.{{tld}}/hls/{{id}}/master/{{id}}_auto.m3u8"

    def master_url(self, model_id: int, tld: str = "com") -> str:
        return self.master_template.replace("{tld}", tld).replace("{id}", str(model_id))

    def media_url(self, model_id: int, rendition: str = "v0", tld: str = "com") -> str:
        """A media playlist URL with the current psch/pkey (what a resolver would build)."""
        with self._lock:
            room, pkey = self._rooms[model_id], self.pkey
        return (
            f"{self.base_url}/edge-hls.doppiocdn.{tld}/hls/{model_id}/{model_id}_{rendition}"
            f".m3u8?psch={room.psch}&pkey={pkey}"
        )

    @property
    def player_url(self) -> str:
        return f"{self.base_url}/player/mmp/v{self.player_version}/main.js"

    @property
    def headers(self) -> dict[str, str]:
        """What the CDN wants to see (ffmpeg and the resolver send these)."""
        return {"Referer": f"{self.site}/", "Origin": self.site}

    def count(self, kind: str) -> int:
        with self._lock:
            return sum(1 for r in self.log if r.kind == kind)

    # -- what the server answers ----------------------------------------------------------

    def answer(self, path_qs: str, headers: dict[str, str]) -> tuple[int, bytes, str, str]:
        """(status, body, content type, request kind) for one GET."""
        url = urlsplit(path_qs)
        path, query = url.path, {k: v[0] for k, v in parse_qs(url.query).items()}
        player = _PLAYER.fullmatch(path)
        if player is not None:
            return (*self._player(int(player["ver"]), player["file"]), "player")
        edge, media = _EDGE.fullmatch(path), _MEDIA.fullmatch(path)
        match = edge or media
        if match is None:
            return 404, b"not found\n", "text/plain", "other"
        kind = self._kind(edge is not None, match)
        referer, origin = headers.get("referer", ""), headers.get("origin")
        if not referer.startswith(self.site + "/") or origin not in (None, self.site):
            return 403, b"forbidden: Referer/Origin\n", "text/plain", kind
        if match["tld"] in self.down or match["tld"] not in TLDS:
            return 503, b"host down\n", "text/plain", kind
        with self._lock:
            queued = self._faults.get(kind)
            if queued:
                status = queued.pop(0)
                return status, f"injected {status}\n".encode(), "text/plain", kind
        if edge is not None:
            status, body = self._edge(int(edge["id"]), edge["file"], edge["tld"], query)
            return status, body, _M3U8 if status == 200 else "text/plain", kind
        status, body = self._media(match["path"])
        return status, body, "video/mp4" if status == 200 else "text/plain", kind

    @staticmethod
    def _kind(edge: bool, match: re.Match[str]) -> str:
        if edge:
            return "master" if match["file"].endswith("_auto.m3u8") else "playlist"
        return "advert" if match["path"].startswith("cpa/") else "segment"

    def _player(self, version: int, file: str) -> tuple[int, bytes, str]:
        with self._lock:
            chunk, pdkey = self._chunk, self.pdkey
            old_pdkey, old_chunk, until = self._player_key
            if time.monotonic() < until:  # the player has not caught up with the CDN yet
                chunk, pdkey = old_chunk, old_pdkey
        if version != self.player_version:
            return 404, b"not found\n", "text/plain"
        decoys = [_random_key(self._rng) for _ in range(6)]
        if file == "main.js":
            body = (
                f'import("./chunk-{secrets.token_hex(4)}.js");const a="{decoys[0]}";'
                f'import("./chunk-{chunk}.js");'
            )
        elif file == f"chunk-{chunk}.js":
            keys = [*decoys[1:4], pdkey, *decoys[4:]]
            listed = ",".join(f'k{i}:"{k}"' for i, k in enumerate(keys))
            body = f'const MOUFLON_TAG="#EXT-X-MOUFLON";const K={{{listed}}};var s="short";'
        else:  # another chunk: decoys, no mention of the scheme
            body = f'const A="{decoys[0]}",B="{decoys[1]}";'
        return 200, body.encode(), "text/javascript"

    def _edge(self, model_id: int, file: str, tld: str, query: dict[str, str]) -> tuple[int, bytes]:
        with self._lock:
            room = self._rooms.get(model_id)
            pkey, pdkey, old = self.pkey, self.pdkey, tuple(self._old_pkeys)
        if room is None or not room.stream.online:
            return 404, b"stream not found\n"
        if file == f"master/{model_id}_auto.m3u8":
            return 200, self._master(room, pkey, tld).encode()
        wanted = re.fullmatch(rf"{model_id}_(v\d+|audio)\.m3u8", file)
        if wanted is None:
            return 404, b"not found\n"
        rendition = wanted[1]
        good_key = query.get("psch") == room.psch and query.get("pkey") in (pkey, *old)
        if room.advert or not good_key:
            return 200, self._advert_playlist(rendition, tld).encode()
        text = self._stream_playlist(room.stream, rendition)
        if text is None:
            return 404, b"not found\n"
        return 200, self._obfuscate(room, rendition, text, tld, pkey, pdkey).encode()

    def _master(self, room: _Room, pkey: str, tld: str) -> str:
        """The origin's master with absolute variant URLs on this TLD and the PSCH tag."""
        base = f"{self.base_url}/edge-hls.doppiocdn.{tld}/hls/{room.model_id}/{room.model_id}"
        text = room.stream.master_playlist()
        text = text.replace("audio/index.m3u8", f"{base}_audio.m3u8")
        text = re.sub(r"v(\d+)/index\.m3u8", rf"{base}_v\1.m3u8", text)
        head, _, rest = text.partition("\n")
        return f"{head}\n#EXT-X-MOUFLON:PSCH:{room.psch}:{pkey}\n{rest}"

    @staticmethod
    def _stream_playlist(stream: Stream, rendition: str) -> str | None:
        if rendition == "audio":
            return stream.media_playlist(0, "audio")
        return stream.media_playlist(int(rendition[1:]), "video")

    def _obfuscate(
        self, room: _Room, rendition: str, text: str, tld: str, pkey: str, pdkey: str
    ) -> str:
        media = f"{self.base_url}/media-hls.doppiocdn.{tld}/b-hls-07/{room.model_id}"
        out = [f"#EXT-X-MOUFLON:PSCH:{room.psch}:{pkey}"]

        def hidden(n: str) -> list[str]:
            sig = room.sig(rendition, n)
            name = f"{room.model_id}_{rendition}_{n}_{sig}_seg.mp4"
            if room.psch == "v1":
                return [f"#EXT-X-MOUFLON:FILE:{encode_v1(name)}"]
            token = encode_v2_token(sig, pdkey)
            return [f"#EXT-X-MOUFLON:URI:{media}/{room.model_id}_{rendition}_{n}_{token}_seg.mp4"]

        lines = text.splitlines()
        last_seg = max(i for i, line in enumerate(lines) if line.startswith("seg_"))
        for i, line in enumerate(lines):
            if line.startswith("#EXT-X-MAP:"):
                out += [*hidden("init"), f'#EXT-X-MAP:URI="{media}/media.mp4"']
            elif line.startswith("seg_"):
                msn = line.split("_", 1)[1].split(".", 1)[0]
                if i == last_seg:  # LL-HLS parts of the newest segment, placeholders too
                    for _ in range(2):
                        out += [*hidden(msn), '#EXT-X-PART:DURATION=1.0,URI="media.mp4"']
                out += [*hidden(msn), f"{media}/media.mp4"]
            else:
                out.append(line)
        out.insert(1, out.pop(0))  # the PSCH tag after #EXTM3U
        return "\n".join(out) + "\n"

    def _advert_playlist(self, rendition: str, tld: str) -> str:
        text = self._stream_playlist(self._advert, "audio" if rendition == "audio" else "v0")
        base = f"{self.base_url}/media-hls.doppiocdn.{tld}/cpa/v3/"
        text = (text or "#EXTM3U\n").replace('URI="init.mp4"', f'URI="{base}{rendition}_init.mp4"')
        text = re.sub(r"^seg_(\d+)\.m4s$", rf"{base}{rendition}_\1.mp4", text, flags=re.M)
        head, _, rest = text.partition("\n")
        return f"{head}\n#EXT-X-MOUFLON-ADVERT\n{rest}"

    def _media(self, path: str) -> tuple[int, bytes]:
        seg, cpa = _SEG.fullmatch(path), _CPA.fullmatch(path)
        if cpa is not None:
            body = self._bytes(self._advert, "audio" if cpa["r"] == "audio" else "v0", cpa["n"])
            return (200, body) if body is not None else (404, b"not found\n")
        if seg is None:
            return 404, b"not found\n"
        with self._lock:
            room = self._rooms.get(int(seg["id"]))
        if room is None or not hmac.compare_digest(seg["sig"], room.sig(seg["r"], seg["n"])):
            return 404, b"not found\n"
        body = self._bytes(room.stream, seg["r"], seg["n"])
        return (200, body) if body is not None else (404, b"not found\n")

    @staticmethod
    def _bytes(stream: Stream, rendition: str, n: str) -> bytes | None:
        track, index = ("audio", 0) if rendition == "audio" else ("video", int(rendition[1:]))
        if n == "init":
            return stream.init_segment(index, track)
        return stream.segment(index, int(n), track)

    def control(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``{"action": ...}``: ``add_room`` (``id``, ``psch``), ``remove_room`` (``id``),
        ``advert`` (``id``, ``on``), ``rotate_key`` (``player_lag``), ``down``/``up``
        (``tld``), ``fail`` (``kind``, ``status``, ``count``). Answers the keys and state."""
        action = payload["action"]
        if action == "add_room":
            self.add_room(int(payload["id"]), psch=str(payload.get("psch", "v2")))
        elif action == "remove_room":
            self.remove_room(int(payload["id"]))
        elif action == "advert":
            self.set_advert(int(payload["id"]), bool(payload.get("on", True)))
        elif action == "rotate_key":
            self.rotate_key(float(payload.get("player_lag", 0.0)))
        elif action in ("down", "up"):
            tld = str(payload["tld"])
            (self.down.add if action == "down" else self.down.discard)(tld)
        elif action == "fail":
            self.fail(str(payload["kind"]), int(payload["status"]), int(payload.get("count", 1)))
        else:
            raise ValueError(f"unknown action {action!r}")
        with self._lock:
            rooms = {str(k): {"psch": r.psch, "advert": r.advert} for k, r in self._rooms.items()}
        return {
            "pkey": self.pkey,
            "pdkey": self.pdkey,
            "rooms": rooms,
            "down": sorted(self.down),
            "master_template": self.master_template,
            "player_url": self.player_url,
        }

    def record(self, path: str, status: int, kind: str) -> None:
        with self._lock:
            self.log.append(CdnRequest(time.time(), path, status, kind))
            del self.log[:-5000]


class _Server(TrackedServer):
    def __init__(self, address: tuple[str, int], cdn: StripchatCdn) -> None:
        self.cdn = cdn
        super().__init__(address, _Handler)


class _Handler(TrackedHandler):
    server: _Server

    def do_GET(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, body, ctype, kind = self.server.cdn.answer(self.path, headers)
        self.server.cdn.record(self.path, status, kind)
        self._send(status, body, ctype)

    def do_POST(self) -> None:
        """``POST /_control`` with a JSON action (for the demo and manual runs)."""
        if urlsplit(self.path).path != "/_control":
            self._send(404, b"not found\n", "text/plain")
            return
        try:
            payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            answer = self.server.cdn.control(payload)
        except (ValueError, KeyError, TypeError) as exc:
            self._send(400, json.dumps({"error": str(exc)}).encode(), "application/json")
            return
        self._send(200, json.dumps(answer).encode(), "application/json")

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write(body)
