"""Stripchat's answers, parsed and mapped (pure: no I/O, table-tested).

What the site says (``shared/brief/SITES.md``, "Stripchat") becomes a :class:`CamInfo`, a
:class:`Renamed` or an :class:`Answer` (a status with no model behind it: not found, blocked,
rate limited, broken); ``availability_for`` maps a model's state onto Availability. Nothing the
site sends is trusted: ids must be positive integers, usernames must match the site's pattern,
thumbnail URLs must be http(s).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from servicekit.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
    UpstreamError,
)

from ..status import Availability, ChannelStatus
from ..targets import check_http_url

__all__ = [
    "Answer",
    "CamInfo",
    "Renamed",
    "availability_for",
    "bulk_models",
    "http_answer",
    "master_url",
    "model_id",
    "not_recordable",
    "parse_cam",
    "parse_page",
    "site_username",
]

#: Stripchat usernames as we accept them from users and from the site.
USERNAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_MAX_ID = 2**53  # JSON numbers past this lose precision; no real id is near it
_MAX_VIEWERS = 2**32 - 1
_PRIVATE = frozenset({"private", "p2p", "virtualPrivate", "p2pVoice"})
_OFFLINE = frozenset({"off", "idle"})
_STREAM_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")
_STATE = re.compile(r"window\.__PRELOADED_STATE__\s*=\s*")


@dataclass(frozen=True)
class CamInfo:
    """One model as the cam API (or the page, or the bulk list) describes it. ``cam_active``
    and ``cam_available`` are None when the answer did not say (bulk, page)."""

    id: int
    username: str
    status: str
    deleted: bool = False
    geo_banned: bool = False
    cam_active: bool | None = None
    cam_available: bool | None = None
    viewers: int | None = None
    topic: str = ""
    thumbnail_url: str = ""


@dataclass(frozen=True)
class Renamed:
    """The name asked for belongs to nobody now: the model is called ``new_username``."""

    new_username: str


@dataclass(frozen=True)
class Answer:
    """A status without a model: what stood in the way, with a reason code."""

    availability: Availability
    message: str
    reason: str = ""
    retry_after: float | None = None


def availability_for(info: CamInfo) -> tuple[Availability, str]:
    """What a model's state means for recording, with a message for anything not ONLINE.

    ``public`` with the cam not active (or not available) is AWAY: the model is in her room
    but there is no video to record, which is neither "offline" nor a private show.
    """
    if info.deleted:
        return Availability.NOT_FOUND, "the account was deleted"
    if info.geo_banned:
        return Availability.GEO_RESTRICTED, "the model blocks this region"
    if info.status == "public":
        if info.cam_active is False:
            return Availability.AWAY, "public, but the cam is not active"
        if info.cam_available is False:
            return Availability.AWAY, "public, but the cam is not available"
        return Availability.ONLINE, ""
    if info.status in _PRIVATE:
        return Availability.PRIVATE, f"in a {info.status} show"
    if info.status == "groupShow":
        return Availability.GROUP_SHOW, ""
    if info.status in _OFFLINE:
        return Availability.OFFLINE, ""
    return Availability.UPSTREAM_ERROR, f"unknown status {info.status[:40]!r}"


def http_answer(status: int, retry_after: float | None, what: str) -> Answer | None:
    """The Answer an HTTP status means before the body is read; None for 200 and 404 (whose
    bodies tell more)."""
    if status in (200, 404):
        return None
    if status == 429:
        return Answer(Availability.RATE_LIMITED, f"{what}: HTTP 429", "RATE_LIMITED", retry_after)
    if status in (418, 403):
        # 418 (403 by id): the site refuses non-browser clients; nothing about the model.
        return Answer(
            Availability.BLOCKED,
            f"{what}: HTTP {status}, the site refuses this client (a browser User-Agent or a"
            " cookie may help)",
            f"BLOCKED_HTTP_{status}",
        )
    if status >= 500:
        return Answer(Availability.UPSTREAM_ERROR, f"{what}: HTTP {status}", "UPSTREAM_5XX")
    return Answer(Availability.UPSTREAM_ERROR, f"{what}: HTTP {status}", f"UPSTREAM_HTTP_{status}")


def parse_cam(status: int, body: Any, image_base: str = "") -> CamInfo | Renamed | Answer:
    """The cam endpoint's JSON ``body`` (answered with HTTP ``status``: 200 or 404). Without a
    ``previewUrlThumbBig``, the thumbnail is ``<image_base>/thumbs/<snapshotTimestamp>/
    <streamName>``."""
    if not isinstance(body, dict):
        return Answer(Availability.UPSTREAM_ERROR, "cam: not a JSON object", "NOT_JSON")
    error = body.get("error")
    if isinstance(error, str) and error:
        if error == "Model not found":
            data = body.get("data")
            new = data.get("newUsername") if isinstance(data, dict) else None
            if isinstance(new, str) and USERNAME.fullmatch(new):
                return Renamed(new)
        if error in ("Not Found", "Model not found"):
            return Answer(Availability.NOT_FOUND, "no such model")
        return Answer(Availability.UPSTREAM_ERROR, f"cam: {error[:80]}", "SITE_ERROR")
    if status != 200:
        return Answer(Availability.UPSTREAM_ERROR, f"cam: HTTP {status}", f"UPSTREAM_HTTP_{status}")
    outer = _dict(body.get("user"))
    user = _dict(outer.get("user"))
    cam = _dict(body.get("cam"))
    info = _model(user)
    if info is None:
        return Answer(Availability.UPSTREAM_ERROR, "cam: no model id or status", "BAD_ANSWER")
    topic = cam.get("topic")
    thumb = info.thumbnail_url or _snapshot(image_base, user.get("snapshotTimestamp"), cam)
    return CamInfo(
        id=info.id,
        username=info.username,
        status=info.status,
        deleted=user.get("isDeleted") is True,
        geo_banned=outer.get("isGeoBanned") is True,
        cam_active=_flag(cam.get("isCamActive")),
        cam_available=_flag(cam.get("isCamAvailable")),
        viewers=info.viewers,
        topic=topic[:500] if isinstance(topic, str) else "",
        thumbnail_url=thumb,
    )


def _snapshot(image_base: str, stamp: Any, cam: Mapping[str, Any]) -> str:
    stream = cam.get("streamName")
    if not image_base or not isinstance(stamp, int) or isinstance(stamp, bool) or stamp < 0:
        return ""
    if not isinstance(stream, str) or not _STREAM_NAME.fullmatch(stream):
        return ""
    return f"{image_base.rstrip('/')}/thumbs/{stamp}/{stream}"


def bulk_models(body: Any) -> dict[int, CamInfo] | None:
    """The bulk list's models by id; None when the answer is not ``{models: [...]}``."""
    models = body.get("models") if isinstance(body, dict) else None
    if not isinstance(models, list):
        return None
    found: dict[int, CamInfo] = {}
    for item in models:
        info = _model(item) if isinstance(item, dict) else None
        if info is not None:
            found[info.id] = info
    return found


def parse_page(html: str) -> CamInfo | None:
    """``viewCam.model`` of the profile page's ``window.__PRELOADED_STATE__`` (a JSON object
    read to its balanced end), None when absent or broken."""
    match = _STATE.search(html)
    if match is None:
        return None
    try:
        state, _ = json.JSONDecoder().raw_decode(html, match.end())
    except ValueError:
        return None
    view = _dict(_dict(state).get("viewCam"))
    info = _model(_dict(view.get("model")))
    if info is None:
        return None
    cam = _dict(view.get("cam"))
    return CamInfo(
        id=info.id,
        username=info.username,
        status=info.status,
        cam_active=_flag(cam.get("isCamActive")),
        cam_available=_flag(cam.get("isCamAvailable")),
    )


def model_id(value: Any) -> int | None:
    """A model id from the site: a positive integer (or its decimal string), else None."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 17:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < _MAX_ID:
        return value
    return None


def site_username(value: Any) -> str | None:
    """A username the site sent, if it is one."""
    return value if isinstance(value, str) and USERNAME.fullmatch(value) else None


def master_url(template: str, tld: str, model: int) -> str:
    """The master playlist URL for ``model`` on the CDN host of ``tld`` (checked http(s))."""
    return check_http_url(template.replace("{tld}", tld).replace("{id}", str(model)))


def check_template(template: str) -> str:
    """The master URL template, if it names ``{id}`` and makes http(s) URLs."""
    if "{id}" not in template:
        raise InvalidArgument("the master URL template must contain {id}", reason="BAD_TEMPLATE")
    master_url(template, "com", 1)
    return template


def _model(data: Mapping[str, Any]) -> CamInfo | None:
    ident = model_id(data.get("id"))
    status = data.get("status")
    if ident is None or not isinstance(status, str) or not status:
        return None
    thumb = data.get("previewUrlThumbBig")
    try:
        thumb_url = check_http_url(thumb) if isinstance(thumb, str) and thumb else ""
    except InvalidArgument:
        thumb_url = ""
    return CamInfo(
        id=ident,
        username=site_username(data.get("username")) or "",
        status=status[:40],
        viewers=_viewers(data.get("viewersCount")),
        thumbnail_url=thumb_url,
    )


def _viewers(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return min(value, _MAX_VIEWERS)
    return None


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# Why a model that is not online cannot be recorded, as a domain error.
_NOT_RECORDABLE: dict[Availability, tuple[type[DomainError], str, str]] = {
    Availability.OFFLINE: (FailedPrecondition, "CHANNEL_OFFLINE", "is offline"),
    Availability.AWAY: (FailedPrecondition, "CHANNEL_AWAY", "is in the room with the cam off"),
    Availability.PRIVATE: (FailedPrecondition, "CHANNEL_PRIVATE", "is in a private show"),
    Availability.GROUP_SHOW: (FailedPrecondition, "CHANNEL_GROUP_SHOW", "is in a group show"),
    Availability.GEO_RESTRICTED: (
        FailedPrecondition, "CHANNEL_GEO_RESTRICTED", "is not available in this region"),
    Availability.NOT_FOUND: (NotFound, "CHANNEL_NOT_FOUND", "does not exist"),
    Availability.RATE_LIMITED: (
        Unavailable, "RATE_LIMITED", "could not be checked: the site is rate limiting us"),
    Availability.BLOCKED: (
        UpstreamError, "BLOCKED_BY_SITE", "could not be checked: the site refuses this client"),
}  # fmt: skip


def not_recordable(status: ChannelStatus) -> DomainError:
    """The domain error for a status that is not ONLINE (its reason and message say why)."""
    error, reason, phrase = _NOT_RECORDABLE.get(
        status.availability,
        (UpstreamError, status.reason or "UPSTREAM_ERROR", "could not be checked: the site failed"),
    )
    message = f"channel {status.target} {phrase}"
    if status.message:
        message += f" ({status.message})"
    metadata = {"availability": status.availability.value, "channel": status.target}
    if status.room_status:
        metadata["room_status"] = status.room_status
    if status.retry_after is not None:
        metadata["retry_after_seconds"] = str(round(status.retry_after))
    return error(message, reason=reason, metadata=metadata)
