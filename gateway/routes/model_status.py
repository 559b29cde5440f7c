"""Channel routes: the seed's ``GET /api/model/{username}/status``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from gateway.backend import Backend, backend
from gateway.errors import error_response
from gateway.sites import MAX_KEY, SiteQuery, parse_key
from servicekit.retry import call_idempotent
from streamrec.v1 import channel_service_pb2, resolver_service_pb2

router = APIRouter(prefix="/api", tags=["channels"])

_PREFIX = "CHANNEL_AVAILABILITY_"
# Availabilities that are not an answer about the channel: the client gets an error status
# rather than an "isOnline": false that would read as "offline".
_NO_ANSWER = {
    "NOT_FOUND": (404, "CHANNEL_NOT_FOUND"),
    "RATE_LIMITED": (503, "RATE_LIMITED"),
    "BLOCKED": (502, "BLOCKED_BY_CHALLENGE"),
    "AGE_GATE": (502, "AGE_GATE"),
    "UPSTREAM_ERROR": (502, "UPSTREAM_ERROR"),
}


def channel_status_json(status: resolver_service_pb2.ChannelStatus) -> dict[str, Any]:
    """The seed's fields (``username``, ``isOnline``, ``viewers``, ``thumbnail``) plus
    ``roomStatus`` and the rest of what the resolver knows."""
    availability = resolver_service_pb2.ChannelAvailability.Name(status.availability)
    availability = availability.removeprefix(_PREFIX)
    checked = status.checked_time.ToJsonString() if status.HasField("checked_time") else None
    return {
        "username": status.target,
        "site": status.source or None,
        "isOnline": availability == "ONLINE",
        "viewers": status.viewers if status.HasField("viewers") else None,
        "thumbnail": status.thumbnail_url or None,
        "roomStatus": status.room_status or availability.lower(),
        "availability": availability,
        "title": status.title,
        "checkedAt": checked,
        "message": status.message,
        "method": status.method,
    }


@router.get("/model/{username}/status", summary="Is a channel live?")
async def model_status(
    username: Annotated[str, Path(max_length=MAX_KEY, description="username or site:username")],
    be: Annotated[Backend, Depends(backend)],
    fresh: Annotated[bool, Query(description="ask the site even if an answer is cached")] = False,
    site: SiteQuery = None,
) -> Any:
    """Online / room status / viewers / thumbnail. 404 for an unknown user; 503 (with
    Retry-After) when the site rate-limits us; 502 when a challenge page, an age gate or a
    site failure kept us from knowing. ``stripchat:alice`` (or ``?site=stripchat``) asks
    another site than the default one."""
    ref = parse_key(username, site)
    request = channel_service_pb2.CheckChannelStatusRequest(
        # The key's own form: every recorder and resolver classifies "site:username" by shape.
        target=f"{ref.site}:{ref.username}" if ref.site else ref.username,
        # The seed's route: a bare name is a Chaturbate username (old recorders know only this).
        source_type=resolver_service_pb2.SOURCE_TYPE_UNSPECIFIED
        if ref.site
        else resolver_service_pb2.SOURCE_TYPE_CHATURBATE,
        skip_cache=fresh,
    )
    response: channel_service_pb2.CheckChannelStatusResponse = await call_idempotent(
        lambda: be.channels.CheckChannelStatus(request, timeout=be.settings.rpc_timeout)
    )
    body = channel_status_json(response.status)
    failure = _NO_ANSWER.get(body["availability"])
    if failure is None:
        return body
    http_status, code = failure
    reason = response.status.reason
    if reason and (
        body["availability"] == "UPSTREAM_ERROR"
        # The site's own word on how it blocks us (Stripchat's BLOCKED_HTTP_418, ...).
        or (body["availability"] == "BLOCKED" and reason.startswith("BLOCKED_"))
    ):
        code = reason
    detail = f"the status of {username} is unknown: {response.status.message or code}"
    if http_status == 404:
        detail = f"channel {username} does not exist"
    reply: JSONResponse = error_response(http_status, detail, code)
    if response.status.retry_after_seconds:
        reply.headers["Retry-After"] = str(response.status.retry_after_seconds)
    return reply
