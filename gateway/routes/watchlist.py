"""``/api/models``: the watch list (``ChannelService`` on the recorder).

JSON names are camelCase, as in the old app (``username``, ``name``, ``autoRecord``,
``retentionDays``...). A channel is the pair (``site``, ``username``); its ``key`` (``alice`` on
the default site, ``stripchat:alice`` elsewhere) is what the ``/api/models/{key}`` routes take
(``?site=`` names the site of a bare name too). Bodies without a site are on the default site.

Reads are retried on UNAVAILABLE; writes are not (a retried create or delete that had in fact
gone through would come back as a 409 or a 404)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Path, Query
from google.protobuf.field_mask_pb2 import FieldMask
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from gateway.backend import PAGE_SIZE, Backend, all_pages, backend
from gateway.schemas import (
    SOURCE_NAMES,
    SOURCE_TYPES,
    QualityBody,
    SourceTypeName,
    enum_name,
    iso_time,
    quality_json,
)
from gateway.sites import (
    LEGACY_SITE,
    MAX_KEY,
    ChannelRef,
    SiteQuery,
    channel_key,
    check_site,
    parse_key,
)
from servicekit.errors import InvalidArgument
from servicekit.retry import call_idempotent
from streamrec.v1 import channel_service_pb2, resolver_service_pb2

router = APIRouter(prefix="/api/models", tags=["models"])

#: The shape only (``site:`` prefix allowed); :func:`gateway.sites.parse_key` checks the rest.
USERNAME_PATTERN = r"^[A-Za-z0-9_:-]{1,97}$"
# The channel key in a path: checked by parse_key (400 with a reason, before any call).
Key = Annotated[
    str,
    Path(
        max_length=MAX_KEY,
        description="the channel's key: a username (default site) or site:username",
    ),
]


class _ChannelFields(BaseModel):
    """The settable fields of a channel. Python names are the proto's field mask paths; the
    JSON names are their camelCase aliases."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel)

    name: str | None = Field(None, max_length=200, description="display name")
    target: str | None = Field(
        None,
        max_length=2048,
        description="an http(s) .m3u8 URL to record instead of the Chaturbate username",
    )
    source_type: SourceTypeName | None = Field(
        None, description="auto (or absent), m3u8, hls or chaturbate"
    )
    auto_record: bool = Field(True, description="record whenever the channel is online")
    retention_days: int = Field(
        0, ge=0, le=36_500, description="delete recordings older than this (0 = keep them)"
    )
    max_bytes: int = Field(
        0, ge=0, le=2**63 - 1, description="keep at most this many bytes (0 = no limit)"
    )
    max_count: int = Field(
        0, ge=0, le=1_000_000, description="keep at most this many recordings (0 = no limit)"
    )
    quality: QualityBody | None = Field(None, description="wanted quality (absent/null = best)")

    def channel_pb(self, ref: ChannelRef) -> channel_service_pb2.Channel:
        return channel_service_pb2.Channel(
            username=ref.username,
            source=ref.site,
            name=self.name or "",
            target=self.target or "",
            source_type=SOURCE_TYPES[self.source_type or "auto"],
            auto_record=self.auto_record,
            retention_days=self.retention_days,
            max_bytes=self.max_bytes,
            max_count=self.max_count,
            quality=self.quality.to_pb() if self.quality else None,
        )


#: Field mask paths, in a stable order (that of the fields above).
MASK_PATHS = tuple(_ChannelFields.model_fields)


class ChannelBody(_ChannelFields):
    """``POST /api/models``: a channel to add to the watch list."""

    username: str = Field(
        ...,
        pattern=USERNAME_PATTERN,
        description="the username on its site (a bare name: the default site), or site:username",
    )
    site: str | None = Field(
        None, max_length=64, description="the channel's site (absent: the default site)"
    )

    def ref(self) -> ChannelRef:
        """The channel this body names (InvalidArgument for a malformed site or name)."""
        return parse_key(self.username, self.site)


class ChannelPatch(_ChannelFields):
    """``PUT /api/models/{username}``: only the fields present change. ``null`` clears
    ``name``, ``target``, ``sourceType`` (back to auto) and ``quality``."""

    username: str | None = Field(
        None, pattern=USERNAME_PATTERN, description="optional; must be the one in the path"
    )
    site: str | None = Field(
        None,
        max_length=64,
        description="optional; must be the path's (channels never move)",
    )

    def mask(self) -> list[str]:
        return [path for path in MASK_PATHS if path in self.model_fields_set]


def channel_json(c: channel_service_pb2.Channel) -> dict[str, Any]:
    """A watched channel as the REST API shows it."""
    # A recorder older than sites as data says neither source nor key: its channels are keyed
    # by username alone, on the one site it knew (or a playlist URL).
    hls = c.source_type == resolver_service_pb2.SOURCE_TYPE_HLS
    site = c.source or ("hls" if hls else LEGACY_SITE)
    key = channel_key(c.source, c.username, c.key) if c.source else c.key or c.username
    return {
        "username": c.username,
        "site": site,
        "key": key,
        "name": c.name,
        "target": c.target,
        "sourceType": SOURCE_NAMES.get(c.source_type, "auto"),
        "autoRecord": c.auto_record,
        "retentionDays": c.retention_days,
        "maxBytes": c.max_bytes,
        "maxCount": c.max_count,
        "quality": quality_json(c.quality) if c.HasField("quality") else None,
        "createdAt": iso_time(c.create_time, c.HasField("create_time")),
        "updatedAt": iso_time(c.update_time, c.HasField("update_time")),
        "recording": bool(c.session_id),
        "sessionId": c.session_id or None,
        "lastAvailability": enum_name(
            resolver_service_pb2.ChannelAvailability.Name,
            c.last_availability,
            "CHANNEL_AVAILABILITY_",
        ),
        "lastCheckAt": iso_time(c.last_check_time, c.HasField("last_check_time")),
        "lastError": c.last_error or None,
        "lastTitle": c.last_title,
        "lastViewers": c.last_viewers if c.HasField("last_viewers") else None,
        "lastRoomStatus": c.last_room_status,
        "lastMessage": c.last_message,
        # Always the route (it answers 404 until there is a picture): media.py.
        "thumbnailUrl": f"/api/models/{quote(key, safe=':')}/thumbnail",
    }


@router.get("", summary="The watch list")
async def list_models(
    be: Annotated[Backend, Depends(backend)],
    site: Annotated[
        str | None, Query(max_length=64, description="only the channels of this site")
    ] = None,
) -> list[dict[str, Any]]:
    """Every watched channel (``?site=``: of one site), by site and username."""
    source = check_site(site) if site else ""

    async def page(token: str) -> tuple[Sequence[channel_service_pb2.Channel], str]:
        request = channel_service_pb2.ListChannelsRequest(
            page_size=PAGE_SIZE, page_token=token, source=source
        )
        reply: channel_service_pb2.ListChannelsResponse = await call_idempotent(
            lambda: be.channels.ListChannels(request, timeout=be.settings.rpc_timeout)
        )
        return reply.channels, reply.next_page_token

    return [channel_json(c) for c in await all_pages(page)]


@router.post("", status_code=201, summary="Watch a channel")
async def create_model(
    body: ChannelBody, be: Annotated[Backend, Depends(backend)]
) -> dict[str, Any]:
    """Add a channel to the watch list (``site`` or a ``site:username``; neither: the default
    site). 409 ``ALREADY_EXISTS`` if it is there already; 400 ``UNKNOWN_SOURCE_TYPE`` from the
    recorder for a site it does not know."""
    request = channel_service_pb2.CreateChannelRequest(channel=body.channel_pb(body.ref()))
    response: channel_service_pb2.CreateChannelResponse = await be.channels.CreateChannel(
        request, timeout=be.settings.rpc_timeout
    )
    return channel_json(response.channel)


@router.get("/{username}", summary="One watched channel")
async def get_model(
    username: Key, be: Annotated[Backend, Depends(backend)], site: SiteQuery = None
) -> Any:
    ref = parse_key(username, site)
    request = channel_service_pb2.GetChannelRequest(username=ref.username, source=ref.site)
    response: channel_service_pb2.GetChannelResponse = await call_idempotent(
        lambda: be.channels.GetChannel(request, timeout=be.settings.rpc_timeout)
    )
    return channel_json(response.channel)


@router.put("/{username}", summary="Change a watched channel")
async def update_model(
    username: Key,
    body: ChannelPatch,
    be: Annotated[Backend, Depends(backend)],
    site: SiteQuery = None,
) -> Any:
    """Only the fields present in the body change (a channel never changes site or name).
    404 if the channel is not watched."""
    ref = parse_key(username, site)
    if body.username is not None or body.site is not None:
        named = parse_key(body.username or ref.key, body.site)
        if named.username.lower() != ref.username.lower() or (
            named.site and named.site != ref.site
        ):
            raise InvalidArgument(
                f"the body names {named.key!r}, not {ref.key!r}", reason="USERNAME_MISMATCH"
            )
    paths = body.mask()
    if not paths:
        raise InvalidArgument(
            "nothing to change: send at least one of "
            + ", ".join(ChannelPatch.model_fields[p].alias or p for p in MASK_PATHS),
            reason="NOTHING_TO_CHANGE",
        )
    request = channel_service_pb2.UpdateChannelRequest(
        channel=body.channel_pb(ref), update_mask=FieldMask(paths=paths)
    )
    response: channel_service_pb2.UpdateChannelResponse = await be.channels.UpdateChannel(
        request, timeout=be.settings.rpc_timeout
    )
    return channel_json(response.channel)


@router.delete("/{username}", summary="Stop watching a channel")
async def delete_model(
    username: Key, be: Annotated[Backend, Depends(backend)], site: SiteQuery = None
) -> Any:
    """Its recordings stay, and so does a recording in progress. 404 if it is not watched."""
    ref = parse_key(username, site)
    request = channel_service_pb2.DeleteChannelRequest(username=ref.username, source=ref.site)
    await be.channels.DeleteChannel(request, timeout=be.settings.rpc_timeout)
    return {"username": ref.username, "key": ref.key, "deleted": True}
