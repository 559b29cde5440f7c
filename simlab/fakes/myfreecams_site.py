"""A fake MyFreeCams on loopback (share pages and the preview CDN), on the fake site kit.

URLs (``<user>`` is case-insensitive)::

    GET /<user>                 the share page: 404 for no such model; a model's page always
                                carries the tracking link (``/php/tracking.php?model_id=<id>``)
                                and, while she is on cam (``show`` online or private), a
                                ``<div class="campreview" data-cam-preview-server-id-value=...
                                data-cam-preview-model-id-value=... data-cam-preview-is-wzobs-
                                value=...>``
    GET /hls/NxServer/<server>/ngrp:mfc_[a_]<100000000 + model>
        .f4v_mobile_mhp1080_previewurl/playlist.m3u8   (one path)
                                the preview master playlist (the room's origin stream, URIs
                                absolute): 404 unless the room is online with that server,
                                model id and wzobs prefix
    /_control...                the kit's control API (rooms, faults, options)

Point both ``MYFREECAMS_SHARE_URL`` and ``MYFREECAMS_PREVIEW_URL`` at ``base_url``. Endpoint
kinds (log, fault targets): ``share``, ``preview``, ``other``. Rooms: ``show`` is ``online``,
``offline`` or ``private`` (the card is there, its preview stream answers 404: how other
recorders read a private show). ``server_id``/``model_id`` are strings so a test can make the
page carry garbage. Option ``required_user_agent_substring``: other requests get the
Cloudflare challenge (403). Unverified choices (kept strict): the page's markup beyond the
attributes SITES.md names; a 200 maintenance page (the ``non_json`` fault) has neither the card
nor the tracking link.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar
from urllib.parse import unquote

from simlab.fakes.cdn_front import fetch_master
from simlab.fakes.site_kit import FakeSite, Reply, error_reply, html_page

SHOWS = ("online", "offline", "private")
_PREVIEW_PREFIX = "/hls/NxServer/"
_PREVIEW_SUFFIX = ".f4v_mobile_mhp1080_previewurl/playlist.m3u8"
_M3U8 = "application/vnd.apple.mpegurl"


@dataclass
class MfcRoom:
    """A model. ``hls_url``: the origin master playlist her preview serves."""

    username: str
    show: str = "online"
    model_id: str = "1234567"
    server_id: str = "1544"
    wzobs: bool = False
    hls_url: str = ""

    def __post_init__(self) -> None:
        if self.show not in SHOWS:
            raise ValueError(f"show must be one of {SHOWS}, not {self.show!r}")

    def state(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def preview_path(self) -> str:
        """The path the preview playlist of this room has (valid ids only)."""
        stream = f"mfc_{'a_' if self.wzobs else ''}{100_000_000 + int(self.model_id)}"
        return f"{_PREVIEW_PREFIX}{self.server_id}/ngrp:{stream}{_PREVIEW_SUFFIX}"


class FakeMyFreeCams(FakeSite[MfcRoom]):
    """share.myfreecams.com and previews.myfreecams.com on one loopback server."""

    thread_name = "fake-myfreecams"
    kinds: ClassVar[tuple[str, ...]] = ("share", "preview", "other")
    default_options: ClassVar[Mapping[str, Any]] = {"required_user_agent_substring": None}
    room_type = MfcRoom

    def route(self, path: str) -> str:
        if path.startswith(_PREVIEW_PREFIX):
            return "preview"
        parts = [p for p in path.split("/") if p]
        return "share" if len(parts) == 1 else "other"

    def gate(self, headers: Mapping[str, str]) -> Reply | None:
        wanted = self.options["required_user_agent_substring"]
        if wanted and wanted not in headers.get("user-agent", ""):
            body = html_page("Just a moment...", '<div id="cf-chl-widget">Checking</div>')
            return Reply(403, body, "text/html; charset=UTF-8", {"cf-mitigated": "challenge"})
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
        if method != "GET":
            return error_reply(405)
        if kind == "preview":
            return self._preview(unquote(path))
        if kind == "share":
            room = self.get(unquote(path.strip("/")))
            return error_reply(404) if room is None else Reply(200, share_page(room))
        return error_reply(404)

    def _preview(self, path: str) -> Reply:
        room = next((r for r in self.rooms() if r.show == "online" and _has_path(r, path)), None)
        if room is None or not room.hls_url:
            return error_reply(404)
        status, text = fetch_master(room.hls_url)
        if status != 200:
            return error_reply(status if status >= 400 else 502)
        return Reply(200, text.encode(), _M3U8)


def _has_path(room: MfcRoom, path: str) -> bool:
    try:
        return room.preview_path == path
    except ValueError:  # a room made to carry a garbage id has no preview
        return False


def share_page(room: MfcRoom) -> bytes:
    """A model's share page (values escaped: a test may put anything in them)."""
    e = html.escape
    tracking = (
        f"https://www.myfreecams.com/php/tracking.php?model_id={e(room.model_id)}&amp;from=share"
    )
    card = ""
    if room.show in ("online", "private"):
        card = (
            f'<div class="cam-preview campreview" data-controller="cam-preview"\n'
            f'     data-cam-preview-server-id-value="{e(room.server_id)}"\n'
            f'     data-cam-preview-model-id-value="{e(room.model_id)}"\n'
            f'     data-cam-preview-is-wzobs-value="{"true" if room.wzobs else "false"}">\n'
            f'  <img alt="{e(room.username)}" src="/snap.jpg">\n</div>'
        )
    body = (
        f'<header><a href="{tracking}">Join MyFreeCams</a></header>\n'
        f"<main><h1>{e(room.username)}</h1>\n{card}\n</main>"
    )
    return html_page(f"{room.username} | MyFreeCams", body)
