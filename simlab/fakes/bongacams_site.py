"""A fake BongaCams on loopback: the amf.php status call and the rooms' CDN playlist, with faults.

URLs (``<user>`` is case-insensitive; built from ``shared/brief/SITES.md``)::

    POST /tools/amf.php                          form method=getRoomData&args[]=<u>&args[]=false
    GET  /hls/stream_<user>/playlist.m3u8        the room's master playlist (the "video server")
    GET|POST /_control...                        the kit's control API (``site_kit.py``)

The fake is its own video server: ``localData.videoServerUrl`` is ``//127.0.0.1:<port>``
(``video_server_url`` on a room overrides it, to play a hostile site). The playlist is the
master of the room's stream on the fake CDN origin (``stream_url``, ``hls_origin.py``) with its
URIs made absolute, so media playlists and segments come from the origin. While the room has
no stream, the playlist answers a 404 or the 25-byte body (``cdn_offline``). The playlist
wants ``Referer``/``Origin`` of ``cdn_referer`` (403 otherwise).

Choices where the real behaviour is unverified (kept strict rather than friendly):

- amf.php without ``X-Requested-With: XMLHttpRequest``, not a POST, or without a urlencoded
  form: HTTP 403 HTML. ``method`` other than getRoomData: ``{"status": "error"}`` too.
- A room in a private/group/ticket/exclusive show still has its ``videoServerUrl`` (the
  performer is streaming, to others): only ``showType`` tells the show apart.
- ``required_cookie`` (option): an amf call without it gets Cloudflare's challenge.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qs, urljoin

from simlab.fakes.site_kit import FakeSite, Reply, error_reply, html_page, json_reply

__all__ = ["OFFLINE_BODY", "SHOW_TYPES", "BongaRoom", "FakeBongaCams"]

#: The CDN's 25-byte "no stream" body (its real text is unknown; only its size is reported).
OFFLINE_BODY = b"stream is not available\r\n"
assert len(OFFLINE_BODY) == 25
SHOW_TYPES = ("public", "private", "group", "ticket", "exclusive")
_PLAYLIST = re.compile(r"^/hls/stream_([A-Za-z0-9_]+)/playlist\.m3u8$")
_URI_ATTR = re.compile(r'URI="([^"]*)"')


@dataclass
class BongaRoom:
    """One performer. ``username`` keeps its canonical spelling (the site's answers use it).

    ``online``: broadcasting (``videoServerUrl`` given, the CDN serves ``stream_url``);
    ``show_type``: one of SHOW_TYPES; ``cdn_offline``: "404" or "short" (the 25-byte body),
    what the CDN answers while there is no stream; ``video_server_url``: overrides the
    ``//host:port`` the site reports.
    """

    username: str
    online: bool = True
    show_type: str = "public"
    display_name: str = ""
    stream_url: str = ""
    cdn_offline: str = "short"
    video_server_url: str | None = None
    #: A different username in the answer (a site answering about someone else).
    answer_username: str | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_]+", self.username):
            raise ValueError(f"invalid username {self.username!r}: [A-Za-z0-9_] only")
        if self.show_type not in SHOW_TYPES:
            raise ValueError(f"show_type must be one of {SHOW_TYPES}")
        if self.cdn_offline not in ("404", "short"):
            raise ValueError("cdn_offline must be '404' or 'short'")

    @property
    def streaming(self) -> bool:
        """True when the CDN serves the public show."""
        return self.online and self.show_type == "public" and bool(self.stream_url)

    def state(self) -> dict[str, Any]:
        return {**self.__dict__, "streaming": self.streaming}


class FakeBongaCams(FakeSite[BongaRoom]):
    """Threaded HTTP server on loopback that behaves like BongaCams and its video server.

    Site options: ``required_cookie`` (``"name=value"``: without it, a challenge) and
    ``cdn_referer`` (what the playlist's ``Referer`` must be; ``Origin`` its origin).
    """

    thread_name = "fake-bongacams"
    kinds = ("amf", "playlist", "other")
    room_type = BongaRoom
    default_options: ClassVar[Mapping[str, Any]] = {
        "required_cookie": None,
        "cdn_referer": "https://bongacams.com/",
    }

    def route(self, path: str) -> str:
        if path == "/tools/amf.php":
            return "amf"
        return "playlist" if _PLAYLIST.match(path) else "other"

    def challenge(self, headers: Mapping[str, str]) -> Reply | None:
        """Cloudflare's challenge for a site request without the required cookie (the video
        server is another host: the site's cookie is not asked there)."""
        cookie = self.options["required_cookie"]
        sent = {c.strip() for c in headers.get("cookie", "").split(";")}
        if cookie and cookie not in sent:
            body = html_page("Just a moment...", "<div id='cf-chl-widget'></div>")
            return Reply(403, body, headers={"cf-mitigated": "challenge"})
        return None

    def answer(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        form: Mapping[str, str],
        body: bytes,
    ) -> Reply:
        kind = self.route(path)
        if kind == "amf":
            return self.challenge(headers) or self._amf(method, headers, body)
        if kind == "playlist" and method == "GET":
            match = _PLAYLIST.match(path)
            assert match is not None
            return self._playlist(match.group(1), headers)
        return error_reply(404)

    def _amf(self, method: str, headers: Mapping[str, str], body: bytes) -> Reply:
        urlencoded = headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
        if method != "POST" or headers.get("x-requested-with") != "XMLHttpRequest":
            return error_reply(403)
        if not urlencoded:
            return error_reply(403)
        fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        args = fields.get("args[]", [])
        if fields.get("method") != ["getRoomData"] or len(args) != 2 or args[1] != "false":
            return json_reply({"status": "error"})
        room = self.get(args[0])
        if room is None:
            return json_reply({"status": "error"})
        performer = {
            "username": room.answer_username or room.username,
            "displayName": room.display_name or room.username,
            "showType": room.show_type,
            "isOnline": room.online,
        }
        local: dict[str, Any] = {"dataKey": "k"}
        if room.online:
            server = room.video_server_url
            local["videoServerUrl"] = server if server is not None else f"//{self._netloc()}"
        return json_reply({"status": "success", "performerData": performer, "localData": local})

    def _playlist(self, user: str, headers: Mapping[str, str]) -> Reply:
        referer = str(self.options["cdn_referer"])
        origin = referer.rstrip("/")
        if headers.get("referer") != referer or headers.get("origin") != origin:
            return error_reply(403)
        room = self.get(user)
        # The path carries the canonical spelling, as the site's player builds it.
        if room is None or room.username != user or not room.streaming:
            if room is not None and room.cdn_offline == "short":
                return Reply(200, OFFLINE_BODY, "application/vnd.apple.mpegurl")
            return error_reply(404)
        with urllib.request.urlopen(room.stream_url, timeout=5) as response:
            text = response.read().decode()
        return Reply(200, absolute_uris(text, room.stream_url).encode(), "application/x-mpegURL")

    def _netloc(self) -> str:
        return self.base_url.removeprefix("http://")


def absolute_uris(playlist: str, base: str) -> str:
    """``playlist`` with every URI (lines and ``URI="..."`` attributes) made absolute."""
    lines = []
    for line in playlist.splitlines():
        if line and not line.startswith("#"):
            line = urljoin(base, line)
        elif line.startswith("#"):
            line = _URI_ATTR.sub(lambda m: f'URI="{urljoin(base, m.group(1))}"', line)
        lines.append(line)
    return "\n".join(lines) + "\n"
