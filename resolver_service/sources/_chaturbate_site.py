"""The three ways to ask chaturbate.com about a room, and its bulk online-rooms list.

Each method turns the site's answer into a :class:`Lookup` (a ChannelStatus, plus the master
playlist URL when the room is streaming) and never raises for what the site says: challenge
pages, age gates, 429s, 5xx, timeouts and non-JSON bodies are all classified, so the caller
can fall back to the next method or report exactly what stood in the way. The facts behind
each rule are in ``shared/brief/UPSTREAM.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from servicekit.errors import DomainError, Unavailable, UpstreamError

from ..room_image import RoomImage, fetch_room_image
from ..site_client import SiteClient, SiteResponse
from ..status import Availability, ChannelStatus, availability_for_room_status

__all__ = ["BULK_MAX_BYTES", "Lookup", "SiteMethods", "is_challenge"]

BULK_MAX_BYTES = 64 * 1024 * 1024
_DOSSIER = re.compile(r"initialRoomDossier\s*=\s*\"((?:[^\"\\]|\\.)*)\"", re.DOTALL)
_JS_HEX_ESCAPE = re.compile(r"\\x([0-9A-Fa-f]{2})")
_CHALLENGE_MARKERS = (b"<title>Just a moment...</title>", b"cf-chl-", b"challenge-platform")
_MAX_VIEWERS = 2**32 - 1  # the wire field is a uint32
_AGE_GATE = re.compile(r"verify\s+your\s+age", re.IGNORECASE)


@dataclass(frozen=True)
class Lookup:
    """What one method learnt: the status, and the master playlist URL when ONLINE."""

    status: ChannelStatus
    hls_url: str = ""


def is_challenge(response: SiteResponse) -> bool:
    """A bot-protection (Cloudflare) interstitial rather than the page asked for.

    Only an HTML error page counts (or Cloudflare's own header): JSON and ordinary pages carry
    text the broadcasters write, and a room title must not pass for a challenge.
    """
    if response.headers.get("cf-mitigated", "").lower() == "challenge":
        return True
    if response.status not in (403, 429, 503):
        return False
    if "html" not in response.headers.get("content-type", "").lower():
        return False
    head = response.body[:20_000]
    return any(marker in head for marker in _CHALLENGE_MARKERS)


class SiteMethods:
    """Room lookups against one site base URL, all through ``site`` (the request budget)."""

    def __init__(
        self,
        site: SiteClient,
        *,
        base_url: str,
        headers: Mapping[str, str],
        thumbnail_base_url: str,
        source: str = "chaturbate",
    ) -> None:
        self._site = site
        self._base = base_url.rstrip("/")
        self._headers = dict(headers)
        self._thumbs = thumbnail_base_url.rstrip("/")
        self._source = source
        self.by_name: dict[str, Callable[[str], Awaitable[Lookup]]] = {
            "ajax": self.ajax,
            "api": self.api,
            "page": self.page,
        }

    # -- the three methods --------------------------------------------------------------

    async def ajax(self, username: str) -> Lookup:
        """``POST /get_edge_hls_url_ajax/``: the stream URL and the room status."""
        url = f"{self._base}/get_edge_hls_url_ajax/"
        response = await self._call(
            "ajax",
            username,
            "POST",
            url,
            headers={
                "X-Requested-With": "XMLHttpRequest",
                "Accept": "application/json, text/javascript, */*; q=0.01",
                "Referer": f"{self._base}/{username}/",
                "Origin": self._base,
            },
            data={"room_slug": username, "bandwidth": "high"},
        )
        if isinstance(response, Lookup):
            return response
        if response.status != 200:
            # A 403 here usually means the endpoint wants a CSRF token now: the others may work.
            return self.failed(
                "ajax", username, f"HTTP {response.status}", f"AJAX_HTTP_{response.status}"
            )
        data = _json_object(response)
        if data is None:
            return self.failed("ajax", username, "the answer is not a JSON object", "NOT_JSON")
        room_status = str(data.get("room_status") or "")
        if not room_status:
            error = str(data.get("error") or data.get("message") or "no room_status")
            return self.failed("ajax", username, f"unsuccessful: {error}", "AJAX_UNSUCCESSFUL")
        return self._room(
            "ajax",
            username,
            room_status=room_status,
            hls_url=str(data.get("url") or ""),
            hidden_message=str(data.get("hidden_message") or ""),
        )

    async def api(self, username: str) -> Lookup:
        """``GET /api/chatvideocontext/<username>/``: status, stream, viewers and title."""
        url = f"{self._base}/api/chatvideocontext/{quote(username)}/"
        response = await self._call(
            "api",
            username,
            "GET",
            url,
            headers={"Accept": "application/json", "Referer": f"{self._base}/"},
        )
        if isinstance(response, Lookup):
            return response
        if response.status == 401:
            return self._room("api", username, room_status="password protected")
        if response.status == 404:
            return self._status("api", username, Availability.NOT_FOUND, "no such room")
        if response.status != 200:
            return self.failed(
                "api", username, f"HTTP {response.status}", f"UPSTREAM_HTTP_{response.status}"
            )
        data = _json_object(response)
        if data is None:
            return self.failed("api", username, "the answer is not a JSON object", "NOT_JSON")
        return self._context("api", username, data)

    async def page(self, username: str) -> Lookup:
        """``GET /<username>/``: the room page's ``window.initialRoomDossier`` JSON."""
        url = f"{self._base}/{quote(username)}/"
        response = await self._call(
            "page",
            username,
            "GET",
            url,
            headers={"Accept": "text/html,application/xhtml+xml", "Referer": f"{self._base}/"},
        )
        if isinstance(response, Lookup):
            return response
        if response.status == 404:
            return self._status("page", username, Availability.NOT_FOUND, "no such room")
        if response.status != 200:
            return self.failed(
                "page", username, f"HTTP {response.status}", f"UPSTREAM_HTTP_{response.status}"
            )
        text = response.text
        dossier = decode_dossier(text)
        if dossier is None:
            if _AGE_GATE.search(text):
                return self._status(
                    "page", username, Availability.AGE_GATE, "the site asks to verify age"
                )
            return self.failed("page", username, "no room dossier in the page", "NO_DOSSIER")
        return self._context("page", username, dossier)

    # -- the room image ------------------------------------------------------------------

    async def room_image(self, username: str) -> RoomImage:
        """``GET <thumbnail base>/<username>.jpg`` (see ``room_image.fetch_room_image``).

        The image host is not the site: the site's cookie is not sent there."""
        headers = {"Referer": f"{self._base}/"}
        if "User-Agent" in self._headers:
            headers["User-Agent"] = self._headers["User-Agent"]
        return await fetch_room_image(
            self._site, f"{self._thumbs}/{quote(username)}.jpg", headers=headers
        )

    # -- bulk ----------------------------------------------------------------------------

    async def online_rooms(self, affiliate_code: str) -> dict[str, dict[str, Any]]:
        """Every online room from ``/affiliates/api/onlinerooms/``, by lower-case username.

        Raises Unavailable (RATE_LIMITED) or UpstreamError (BLOCKED_BY_CHALLENGE,
        BULK_HTTP_<status>, NOT_JSON, ...) when the list cannot be had.
        """
        query = urlencode({"format": "json", "wm": affiliate_code})
        url = f"{self._base}/affiliates/api/onlinerooms/?{query}"
        response = await self._site.request(
            "GET",
            url,
            headers={**self._headers, "Accept": "application/json"},
            max_body_bytes=BULK_MAX_BYTES,
            final=is_challenge,
        )
        if response.status == 429:
            retry = response.retry_after
            raise Unavailable(
                "the online-rooms list is rate limited",
                reason="RATE_LIMITED",
                metadata={"retry_after_seconds": str(round(retry))} if retry else None,
            )
        if is_challenge(response):
            raise UpstreamError("a challenge page blocks the list", reason="BLOCKED_BY_CHALLENGE")
        if response.status >= 500:
            raise UpstreamError(
                f"the online-rooms list failed (HTTP {response.status})", reason="UPSTREAM_5XX"
            )
        if response.status != 200:
            # 401/403 for a wrong wm code, 400 for a changed API: the list, not the site.
            raise UpstreamError(
                f"the online-rooms list answered HTTP {response.status}",
                reason=f"BULK_HTTP_{response.status}",
            )
        try:
            rooms = response.json()
        except ValueError:
            rooms = None
        if not isinstance(rooms, list):
            raise UpstreamError("the online-rooms list is not a JSON array", reason="NOT_JSON")
        found: dict[str, dict[str, Any]] = {}
        for room in rooms:
            if isinstance(room, dict) and isinstance(room.get("username"), str):
                found[room["username"].lower()] = room
        return found

    def from_bulk(self, username: str, room: dict[str, Any] | None) -> ChannelStatus:
        """The status ``username`` has according to the online-rooms list."""
        if room is None:
            # The list only holds online rooms: an unknown name also lands here.
            return self._status(
                "bulk", username, Availability.OFFLINE, "not in the online-rooms list"
            ).status
        show = str(room.get("current_show") or "")
        lookup = self._room("bulk", username, room_status=show)
        return replace(
            lookup.status,
            viewers=_viewers(room),
            title=str(room.get("room_subject") or ""),
        )

    # -- shared classification ----------------------------------------------------------

    async def _call(
        self,
        method: str,
        username: str,
        verb: str,
        url: str,
        *,
        headers: Mapping[str, str],
        data: Mapping[str, str] | None = None,
    ) -> SiteResponse | Lookup:
        """Send; a Lookup comes back instead of the response for what every method treats
        alike: transport failures, 429, challenge pages and 5xx."""
        try:
            response = await self._site.request(
                verb, url, headers={**self._headers, **headers}, data=data, final=is_challenge
            )
        except DomainError as exc:
            if exc.reason == "RATE_LIMITED":
                retry = exc.metadata.get("retry_after_seconds", "")
                return self._rate_limited(method, username, float(retry) if retry else None)
            return self.failed(method, username, exc.message, exc.reason)
        if response.status == 429:
            return self._rate_limited(method, username, response.retry_after)
        if is_challenge(response):
            return self._status(
                method,
                username,
                Availability.BLOCKED,
                f"a challenge page answered (HTTP {response.status}); a cookie may help",
                reason="BLOCKED_BY_CHALLENGE",
            )
        if response.status >= 500:
            return self.failed(method, username, f"HTTP {response.status}", "UPSTREAM_5XX")
        return response

    def _rate_limited(self, method: str, username: str, retry_after: float | None) -> Lookup:
        lookup = self._status(
            method, username, Availability.RATE_LIMITED, "the site is rate limiting us"
        )
        return Lookup(replace(lookup.status, reason="RATE_LIMITED", retry_after=retry_after))

    def _context(self, method: str, username: str, data: dict[str, Any]) -> Lookup:
        """A chatvideocontext-shaped object (the API answer or the page dossier)."""
        if str(data.get("code") or "").lower() == "unauthorized":
            return self._room(method, username, room_status="password protected")
        room_status = str(data.get("room_status") or "")
        if not room_status:
            return self.failed(method, username, "no room_status in the answer", "NO_ROOM_STATUS")
        lookup = self._room(
            method,
            username,
            room_status=room_status,
            hls_url=str(data.get("hls_source") or ""),
            hidden_message=str(data.get("hidden_message") or ""),
        )
        status = replace(
            lookup.status, viewers=_viewers(data), title=str(data.get("room_title") or "")
        )
        return replace(lookup, status=status)

    def _room(
        self,
        method: str,
        username: str,
        *,
        room_status: str,
        hls_url: str = "",
        hidden_message: str = "",
    ) -> Lookup:
        availability = availability_for_room_status(room_status)
        if availability is None:
            return self.failed(
                method, username, f"unknown room status {room_status!r}", "UNKNOWN_ROOM_STATUS"
            )
        message = hidden_message if availability is Availability.HIDDEN else ""
        if availability is Availability.ONLINE and not hls_url and method != "bulk":
            # UPSTREAM.md: "public" without a URL is the site hiding the stream from our region.
            availability = Availability.GEO_RESTRICTED
            message = "the room is public but its stream is not offered in this region"
        lookup = self._status(method, username, availability, message)
        status = replace(lookup.status, room_status=room_status)
        return Lookup(status, hls_url if availability is Availability.ONLINE else "")

    def failed(self, method: str, username: str, message: str, reason: str) -> Lookup:
        """An UPSTREAM_ERROR lookup: ``method`` could not tell."""
        return self._status(method, username, Availability.UPSTREAM_ERROR, message, reason=reason)

    def _status(
        self,
        method: str,
        username: str,
        availability: Availability,
        message: str,
        *,
        reason: str = "",
    ) -> Lookup:
        return Lookup(
            ChannelStatus(
                target=username,
                source=self._source,
                availability=availability,
                checked_at=datetime.now(UTC),
                message=f"{method}: {message}" if message else "",
                reason=reason,
                method=method,
                thumbnail_url=f"{self._thumbs}/{quote(username)}.jpg",
            )
        )


def decode_dossier(html: str) -> dict[str, Any] | None:
    """The ``window.initialRoomDossier`` object of a room page, None when absent or broken."""
    match = _DOSSIER.search(html)
    if match is None:
        return None
    # A JavaScript string literal: JSON's escapes plus \xHH, which JSON lacks.
    literal = _JS_HEX_ESCAPE.sub(lambda m: "\\u00" + m.group(1), match.group(1))
    try:
        data = json.loads(json.loads(f'"{literal}"'))
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _json_object(response: SiteResponse) -> dict[str, Any] | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _viewers(data: Mapping[str, Any]) -> int | None:
    # Which field the site really uses is unverified (UPSTREAM.md): take either.
    for key in ("num_users", "num_viewers"):
        value = data.get(key)
        if isinstance(value, bool):
            continue
        if isinstance(value, str) and value.isascii() and value.isdigit():
            value = int(value)
        if isinstance(value, int) and value >= 0:
            return min(value, _MAX_VIEWERS)
    return None
