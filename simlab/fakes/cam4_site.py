"""A fake CAM4 on loopback: profile info, the webchat's private check, streamInfo, faults.

URLs (``<user>`` is case-insensitive; built from ``shared/brief/SITES.md``)::

    GET /rest/v1.0/profile/<user>/info           {"online": bool, ...}; 403 geo; 404 unknown
    GET /rest/v1.0/profile/<user>/streamInfo     204 while offline, else {"cdnURL": ...}
    GET /requestAccess?roomname=<user>           {"privateStream": bool} (the webchat host)
    GET|POST /_control...                        the kit's control API (``site_kit.py``)

One server plays both hosts (``hu.cam4.com`` and ``webchat.cam4.com``): point
``CAM4_BASE_URL`` and ``CAM4_WEBCHAT_URL`` at it. ``cdn_url`` is the room's master playlist on
the fake CDN origin (``hls_origin.py``); ``go_live`` gives the room a new one, as the real
site does each time a room comes back.

Choices where the real behaviour is unverified (kept strict rather than friendly):

- unknown user: info 404 ``{"error": "not found"}``, streamInfo 404, requestAccess 404.
- ``login_wall`` (option, the www host since 2026): info and streamInfo answer 401.
- a geo-blocked room: info and streamInfo 403 (JSON, no challenge page).
- an online room without a stream yet (``cdn_url`` empty): streamInfo 204.
- ``required_cookie`` (option): every request without it gets Cloudflare's challenge.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qs

from simlab.fakes.site_kit import FakeSite, Reply, error_reply, html_page, json_reply

__all__ = ["Cam4Room", "FakeCam4"]

_PROFILE = re.compile(r"^/rest/v1\.0/profile/([A-Za-z0-9_]+)/(info|streamInfo)$")


@dataclass
class Cam4Room:
    """One performer. ``online``: the info says so; ``private``: the webchat says so;
    ``geo_blocked``: 403 for this region; ``cdn_url``: streamInfo's master ("" = 204)."""

    username: str
    online: bool = True
    private: bool = False
    geo_blocked: bool = False
    cdn_url: str = ""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_]+", self.username):
            raise ValueError(f"invalid username {self.username!r}: [A-Za-z0-9_] only")
        self.username = self.username.lower()

    def state(self) -> dict[str, Any]:
        return dict(self.__dict__)


class FakeCam4(FakeSite[Cam4Room]):
    """Threaded HTTP server on loopback that behaves like CAM4's API and webchat hosts.

    Site options: ``required_cookie`` (``"name=value"``: without it, a challenge) and
    ``login_wall`` (info and streamInfo answer 401, as the www host does).
    """

    thread_name = "fake-cam4"
    server_name = "cloudflare"
    kinds = ("info", "streamInfo", "access", "other")
    room_type = Cam4Room
    default_options: ClassVar[Mapping[str, Any]] = {"required_cookie": None, "login_wall": False}

    def go_live(self, username: str, cdn_url: str) -> Cam4Room:
        """The room comes (back) online with a new master playlist URL."""
        return self.set_room(username, online=True, private=False, cdn_url=cdn_url)

    def route(self, path: str) -> str:
        match = _PROFILE.match(path)
        if match:
            return match.group(2)
        return "access" if path == "/requestAccess" else "other"

    def gate(self, headers: Mapping[str, str]) -> Reply | None:
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
        if method != "GET":
            return error_reply(405)
        kind = self.route(path)
        if kind == "access":
            names = parse_qs(query).get("roomname", [])
            room = self.get(names[0]) if len(names) == 1 else None
            if room is None:
                return json_reply({"error": "not found"}, 404)
            return json_reply(
                {"privateStream": room.online and room.private, "roomname": room.username}
            )
        match = _PROFILE.match(path)
        if match is None:
            return error_reply(404)
        if self.options["login_wall"]:
            return json_reply({"error": "Unauthorized"}, 401)
        room = self.get(match.group(1))
        if room is None:
            return json_reply({"error": "not found"}, 404)
        if room.geo_blocked:
            return json_reply({"error": "Forbidden"}, 403)
        if kind == "info":
            return json_reply({"username": room.username, "online": room.online, "country": "DE"})
        if not room.online or not room.cdn_url:
            return Reply(204, b"", "application/json")
        return json_reply({"cdnURL": room.cdn_url, "edgeServerUrl": ""})
