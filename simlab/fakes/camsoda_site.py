"""A fake CamSoda on loopback (the react API and an LL-HLS edge), on the fake site kit.

URLs (``<user>`` is case-insensitive)::

    GET /api/v1/chat/react/<user>     {"error": "No username found."} (HTTP 200) for no such
                                      user; else {"username", "status", "stream": {
                                      "edge_servers", "private_servers", "stream_name", "token"}}
    GET /<stream>_v1/index.ll.m3u8?filter=tracks:v4v3v2v1a1a2&multitrack=true&token=<token>
                                      the edge: the room's origin master playlist (LL-HLS, URIs
                                      absolute) with a second audio track ``a2``; 403 for a
                                      wrong token (``edge_token`` makes the API's one stale),
                                      400 without the multitrack query, 404 when the room is
                                      not public
    /_control...                      the kit's control API (rooms, faults, options)

Rooms: ``show`` is ``public`` (edge_servers = [``edge`` or this server's host:port]),
``private`` (private_servers non-empty, no edge) or ``offline`` (a token, no servers). The
``edge``, ``stream_name`` and ``token`` fields are sent as given, so a test can make the API
name a hostile edge or stream. Set ``CAMSODA_EDGE_SCHEME=http``. Endpoint kinds (log, fault
targets): ``react``, ``edge``, ``other``.

Faults: the kit's, except that ``rate_limit`` answers as CamSoda does, an HTTP 403 (an HTML
error page without any challenge marker); ``challenge`` is Cloudflare's page
(``cf-mitigated: challenge``). Unverified (kept strict): the status code of the unknown-user
answer (200 here), the shape of the real multitrack master (here the origin's LL-HLS master
plus a non-default ``a2`` audio rendition).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qs, unquote

from simlab.fakes.cdn_front import extra_audio_rendition, fetch_master
from simlab.fakes.site_kit import FakeSite, Fault, Reply, error_reply, json_reply

SHOWS = ("public", "private", "offline")
NO_USERNAME = "No username found."
_REACT = "/api/v1/chat/react/"
_EDGE_SUFFIX = "_v1/index.ll.m3u8"
_M3U8 = "application/vnd.apple.mpegurl"


@dataclass
class SodaRoom:
    """A room. ``hls_url``: the origin master playlist (an llhls stream) the edge serves."""

    username: str
    show: str = "public"
    hls_url: str = ""
    stream_name: str = ""
    token: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    #: The edge host the API names ("" = this fake's own host:port).
    edge: str = ""
    #: The token the edge accepts ("" = ``token``; another value: the API's token is stale).
    edge_token: str = ""

    def __post_init__(self) -> None:
        if self.show not in SHOWS:
            raise ValueError(f"show must be one of {SHOWS}, not {self.show!r}")
        if not self.stream_name:
            self.stream_name = f"{self.username.lower()}-enc1"

    def state(self) -> dict[str, Any]:
        return {**asdict(self), "token": "<set>", "edge_token": "<set>" if self.edge_token else ""}


class FakeCamSoda(FakeSite[SodaRoom]):
    """www.camsoda.com's react API and an edge server on one loopback server."""

    thread_name = "fake-camsoda"
    kinds: ClassVar[tuple[str, ...]] = ("react", "edge", "other")
    room_type = SodaRoom

    def route(self, path: str) -> str:
        if path.startswith(_REACT):
            return "react"
        if path.endswith(_EDGE_SUFFIX) and path.count("/") == 2:
            return "edge"
        return "other"

    def fault_reply(self, fault: Fault) -> Reply:
        if fault.kind == "rate_limit":
            return error_reply(403)  # CamSoda's rate limit is a bare 403 (SITES.md)
        return super().fault_reply(fault)

    def edge_host(self) -> str:
        """``host:port`` of this server, the default edge the API names."""
        return self.base_url.removeprefix("http://")

    def answer(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        form: Mapping[str, str],
        body: bytes,
    ) -> Reply:
        if method != "GET":
            return error_reply(405)
        kind = self.route(path)
        if kind == "react":
            return self._react(unquote(path.removeprefix(_REACT)).strip("/"))
        if kind == "edge":
            name = unquote(path.strip("/").removesuffix(_EDGE_SUFFIX))
            return self._edge(name, parse_qs(query))
        return error_reply(404)

    def _react(self, username: str) -> Reply:
        room = self.get(username) if username else None
        if room is None:
            return json_reply({"error": NO_USERNAME})
        stream = {
            "edge_servers": [room.edge or self.edge_host()] if room.show == "public" else [],
            "private_servers": ["vide-priv-3.camsoda.com"] if room.show == "private" else [],
            "stream_name": room.stream_name if room.show != "offline" else "",
            "token": room.token,
        }
        return json_reply({"username": room.username, "status": room.show, "stream": stream})

    def _edge(self, name: str, query: dict[str, list[str]]) -> Reply:
        room = next((r for r in self.rooms() if r.stream_name == name), None)
        if room is None or room.show != "public" or not room.hls_url:
            return error_reply(404)
        if query.get("token") != [room.edge_token or room.token]:
            return error_reply(403)
        if query.get("multitrack") != ["true"] or not query.get("filter", [""])[0].startswith(
            "tracks:"
        ):
            return error_reply(400)
        status, text = fetch_master(room.hls_url)
        if status != 200:
            return error_reply(status if status >= 400 else 502)
        return Reply(200, extra_audio_rendition(text, "a2").encode(), _M3U8)
