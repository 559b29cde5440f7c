"""BongaCams, as pure functions: the amf.php request, what its answer means, the playlist URL.

The facts (``shared/brief/SITES.md``, none checked live): ``POST /tools/amf.php`` with the form
``method=getRoomData&args[]=<u>&args[]=false`` and an XHR's headers answers
``{"status": "error"}`` for no such performer, else ``performerData.{username, displayName,
showType}`` and, only while streaming, ``localData.videoServerUrl`` (protocol-relative,
``//host``). The playlist is ``https:<videoServerUrl>/hls/stream_<username>/playlist.m3u8``;
a 404 or a 25-byte body there means offline. Everything in the answer is untrusted: the
username and the video server are checked before they become part of a URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from servicekit.errors import InvalidArgument

from ..status import Availability
from ..targets import USERNAME_PATTERN, check_http_url
from ._site_answers import Verdict

__all__ = [
    "AMF_PATH",
    "OFFLINE_BODY_BYTES",
    "RoomData",
    "amf_form",
    "amf_headers",
    "parse_room_data",
    "playlist_is_offline",
    "playlist_url",
    "show_availability",
    "video_server",
]

AMF_PATH = "/tools/amf.php"
#: The CDN's "no stream" answer is a 200 with a body of exactly this many bytes.
OFFLINE_BODY_BYTES = 25

# showType words (lower-cased). Ticket shows are paid group shows; exclusive ones are private.
_SHOW_TYPES = {
    "public": Availability.ONLINE,
    "private": Availability.PRIVATE,
    "exclusive": Availability.PRIVATE,
    "group": Availability.GROUP_SHOW,
    "ticket": Availability.GROUP_SHOW,
}
# "//host" or "//host:port" and nothing else: no userinfo, no path, no query.
_VIDEO_SERVER = re.compile(
    r"//(?P<host>[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*)(?::(?P<port>[0-9]{1,5}))?/?"
)


@dataclass(frozen=True)
class RoomData:
    """What the amf answer says: the verdict, the canonical username and, when ONLINE, the
    video server (``host[:port]``, checked)."""

    verdict: Verdict
    username: str = ""
    display_name: str = ""
    show_type: str = ""
    video_server: str = ""


def amf_form(username: str) -> dict[str, str | list[str]]:
    """The form body of ``getRoomData`` (``args[]`` twice: the name, then ``false``)."""
    return {"method": "getRoomData", "args[]": [username, "false"]}


def amf_headers(base_url: str, username: str) -> dict[str, str]:
    """The headers the site's own page sends with the amf call."""
    return {
        "X-Requested-With": "XMLHttpRequest",
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json, text/javascript, */*; q=0.01",
        "Referer": f"{base_url.rstrip('/')}/{username}",
        "Origin": base_url.rstrip("/"),
    }


def show_availability(show_type: str) -> Availability | None:
    """The availability a ``showType`` means; None for a word we do not know."""
    return _SHOW_TYPES.get(show_type.strip().lower())


def video_server(value: object) -> str | None:
    """``host[:port]`` of a protocol-relative ``videoServerUrl``; None when it is anything
    else (a scheme, credentials, a path, a bad host or port)."""
    if not isinstance(value, str):
        return None
    match = _VIDEO_SERVER.fullmatch(value.strip())
    if match is None:
        return None
    port = match.group("port")
    if port is not None and not 0 < int(port) < 65536:
        return None
    host = match.group("host").lower()
    return f"{host}:{port}" if port else host


def parse_room_data(data: dict[str, Any] | None, asked: str) -> RoomData:
    """Read one amf answer (the parsed JSON object, None if it was not one) about ``asked``."""
    if data is None:
        return RoomData(Verdict(Availability.UPSTREAM_ERROR, "amf: not a JSON object", "NOT_JSON"))
    if str(data.get("status") or "").lower() == "error":
        return RoomData(Verdict(Availability.NOT_FOUND, "amf: no such performer"))
    performer = data.get("performerData")
    if not isinstance(performer, dict):
        return _failed("amf: no performerData in the answer", "NO_PERFORMER_DATA")
    username = performer.get("username")
    if not isinstance(username, str) or not USERNAME_PATTERN.fullmatch(username):
        return _failed("amf: the answer names no valid username", "BAD_USERNAME")
    if username.lower() != asked.lower():
        return _failed(f"amf: asked for {asked}, the answer is about someone else", "WRONG_ROOM")
    show = performer.get("showType")
    show_type = show if isinstance(show, str) else ""
    display = performer.get("displayName")
    room = RoomData(
        Verdict(Availability.ONLINE),
        username=username,
        display_name=display if isinstance(display, str) else "",
        show_type=show_type,
    )
    availability = show_availability(show_type or "public")
    if availability is None:
        return _with(room, _failed(f"amf: unknown showType {show_type[:40]!r}", "UNKNOWN_SHOW"))
    if availability is not Availability.ONLINE:
        return _with(room, RoomData(Verdict(availability, f"amf: showType {show_type}")))
    local = data.get("localData")
    raw_server = local.get("videoServerUrl") if isinstance(local, dict) else None
    if not raw_server:
        return _with(room, RoomData(Verdict(Availability.OFFLINE, "amf: no videoServerUrl")))
    server = video_server(raw_server)
    if server is None:
        return _with(room, _failed("amf: videoServerUrl is not //host[:port]", "UNSAFE_MEDIA_URL"))
    return RoomData(
        room.verdict,
        username=username,
        display_name=room.display_name,
        show_type=show_type,
        video_server=server,
    )


def playlist_url(scheme: str, server: str, username: str) -> str:
    """``<scheme>://<server>/hls/stream_<username>/playlist.m3u8`` (both already checked)."""
    if scheme not in ("http", "https") or not USERNAME_PATTERN.fullmatch(username):
        raise InvalidArgument("bad scheme or username for a playlist URL", reason="INVALID_URL")
    return check_http_url(f"{scheme}://{server}/hls/stream_{username}/playlist.m3u8")


def playlist_is_offline(status: int, body: bytes) -> bool:
    """The CDN's "no stream here": a 404, or a 200 whose body is the 25-byte placeholder."""
    return status == 404 or (status == 200 and len(body) == OFFLINE_BODY_BYTES)


def _failed(message: str, reason: str) -> RoomData:
    return RoomData(Verdict(Availability.UPSTREAM_ERROR, message, reason))


def _with(room: RoomData, outcome: RoomData) -> RoomData:
    """``outcome``'s verdict with ``room``'s names (a private room still has its username)."""
    return RoomData(
        outcome.verdict,
        username=room.username,
        display_name=room.display_name,
        show_type=room.show_type,
    )
