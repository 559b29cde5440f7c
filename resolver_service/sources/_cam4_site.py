"""CAM4, as pure functions: its three URLs and what each answer means.

The facts (``shared/brief/SITES.md``, none checked live): ``GET <base>/rest/v1.0/profile/<u>/info``
answers 403 when the room is geo-restricted, another non-200 when there is no such user, and
``online: false`` when it is offline (the ``www`` host wants a login since 2026: the ``hu``
host does not). ``GET <webchat>/requestAccess?roomname=<u>`` says ``privateStream: true``
during a private show. ``GET <base>/rest/v1.0/profile/<u>/streamInfo`` is 204 while offline,
else ``{cdnURL}``: the master playlist, a new one every time the room comes back. Challenge
pages, 429 and 5xx are read first by the caller (``_site_answers.generic_failure``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from servicekit.errors import InvalidArgument

from ..status import Availability
from ..targets import check_http_url
from ._site_answers import Verdict

__all__ = ["access_url", "info_url", "read_access", "read_info", "read_stream_info", "stream_url"]


def info_url(base_url: str, username: str) -> str:
    return f"{base_url.rstrip('/')}/rest/v1.0/profile/{quote(username, safe='')}/info"


def stream_url(base_url: str, username: str) -> str:
    return f"{base_url.rstrip('/')}/rest/v1.0/profile/{quote(username, safe='')}/streamInfo"


def access_url(webchat_url: str, username: str) -> str:
    return f"{webchat_url.rstrip('/')}/requestAccess?{urlencode({'roomname': username})}"


def read_info(status: int, data: dict[str, Any] | None) -> Verdict:
    """The profile info answer: ONLINE means "ask on" (the private check comes next)."""
    if status == 403:
        return Verdict(Availability.GEO_RESTRICTED, "info: HTTP 403, not offered in this region")
    if status == 401:
        # A login wall (the www host), not an answer about the user.
        return Verdict(
            Availability.UPSTREAM_ERROR,
            "info: HTTP 401, this host wants a login (use the hu host)",
            "LOGIN_REQUIRED",
        )
    if status != 200:
        return Verdict(Availability.NOT_FOUND, f"info: HTTP {status}, no such user")
    if data is None:
        return Verdict(Availability.UPSTREAM_ERROR, "info: not a JSON object", "NOT_JSON")
    online = data.get("online")
    if online is True:
        return Verdict(Availability.ONLINE)
    if online is False:
        return Verdict(Availability.OFFLINE, "info: online is false")
    return Verdict(Availability.UPSTREAM_ERROR, "info: no online flag", "NO_ONLINE_FLAG")


def read_access(status: int, data: dict[str, Any] | None) -> Verdict:
    """The private check: PRIVATE during a private show, ONLINE otherwise."""
    if status != 200:
        return Verdict(
            Availability.UPSTREAM_ERROR,
            f"requestAccess: HTTP {status}",
            f"UPSTREAM_HTTP_{status}",
        )
    if data is None:
        return Verdict(Availability.UPSTREAM_ERROR, "requestAccess: not a JSON object", "NOT_JSON")
    private = data.get("privateStream", False)
    if private is True:
        return Verdict(Availability.PRIVATE, "requestAccess: privateStream")
    if private is False:
        return Verdict(Availability.ONLINE)
    return Verdict(
        Availability.UPSTREAM_ERROR, "requestAccess: privateStream is not a flag", "BAD_ANSWER"
    )


def read_stream_info(status: int, data: dict[str, Any] | None) -> tuple[Verdict, str]:
    """The stream answer: (ONLINE, the checked master playlist URL), or why there is none."""
    if status == 204:
        return Verdict(Availability.OFFLINE, "streamInfo: HTTP 204, no stream"), ""
    if status == 403:
        return Verdict(Availability.GEO_RESTRICTED, "streamInfo: HTTP 403"), ""
    if status != 200:
        return (
            Verdict(
                Availability.UPSTREAM_ERROR,
                f"streamInfo: HTTP {status}",
                f"UPSTREAM_HTTP_{status}",
            ),
            "",
        )
    if data is None:
        return Verdict(Availability.UPSTREAM_ERROR, "streamInfo: not a JSON object", "NOT_JSON"), ""
    url = data.get("cdnURL")
    if not isinstance(url, str) or not url:
        return Verdict(Availability.UPSTREAM_ERROR, "streamInfo: no cdnURL", "NO_CDN_URL"), ""
    try:
        checked = check_http_url(url.strip())
    except InvalidArgument as exc:
        return (
            Verdict(
                Availability.UPSTREAM_ERROR,
                f"streamInfo: unusable cdnURL: {exc.message}",
                "UNSAFE_MEDIA_URL",
            ),
            "",
        )
    return Verdict(Availability.ONLINE), checked
