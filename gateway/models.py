"""``/api/models``: the watch list (``ChannelService`` on the recorder).

JSON names are camelCase, as in the old app (``username``, ``name``, ``autoRecord``,
``retentionDays``...). Reads are retried on UNAVAILABLE; writes are not (a retried create
or delete that had in fact gone through would come back as a 409 or a 404)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends
from google.protobuf.field_mask_pb2 import FieldMask
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from gateway.backend import PAGE_SIZE, Backend, all_pages, backend
from gateway.channels import Username
from gateway.schemas import (
    SOURCE_NAMES,
    SOURCE_TYPES,
    QualityBody,
    SourceTypeName,
    enum_name,
    iso_time,
    quality_json,
)
from servicekit.errors import InvalidArgument
from servicekit.retry import call_idempotent
from streamrec.v1 import channel_service_pb2, resolver_service_pb2

router = APIRouter(prefix="/api/models", tags=["models"])

USERNAME_PATTERN = r"^[A-Za-z0-9_]{1,64}$"


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

    def channel_pb(self, username: str) -> channel_service_pb2.Channel:
        return channel_service_pb2.Channel(
            username=username,
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

    username: str = Field(..., pattern=USERNAME_PATTERN, description="the Chaturbate username")


class ChannelPatch(_ChannelFields):
    """``PUT /api/models/{username}``: only the fields present change. ``null`` clears
    ``name``, ``target``, ``sourceType`` (back to auto) and ``quality``."""

    username: str | None = Field(
        None, pattern=USERNAME_PATTERN, description="optional; must be the one in the path"
    )

    def mask(self) -> list[str]:
        return [path for path in MASK_PATHS if path in self.model_fields_set]


def channel_json(c: channel_service_pb2.Channel) -> dict[str, Any]:
    """A watched channel as the REST API shows it."""
    return {
        "username": c.username,
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
        "thumbnailUrl": f"/api/models/{quote(c.username)}/thumbnail",
    }


@router.get("", summary="The watch list")
async def list_models(be: Annotated[Backend, Depends(backend)]) -> list[dict[str, Any]]:
    """Every watched channel, by username."""

    async def page(token: str) -> tuple[Sequence[channel_service_pb2.Channel], str]:
        request = channel_service_pb2.ListChannelsRequest(page_size=PAGE_SIZE, page_token=token)
        reply: channel_service_pb2.ListChannelsResponse = await call_idempotent(
            lambda: be.channels.ListChannels(request, timeout=be.settings.rpc_timeout)
        )
        return reply.channels, reply.next_page_token

    return [channel_json(c) for c in await all_pages(page)]


@router.post("", status_code=201, summary="Watch a channel")
async def create_model(
    body: ChannelBody, be: Annotated[Backend, Depends(backend)]
) -> dict[str, Any]:
    """Add a channel to the watch list. 409 ``ALREADY_EXISTS`` if it is there already."""
    request = channel_service_pb2.CreateChannelRequest(channel=body.channel_pb(body.username))
    response: channel_service_pb2.CreateChannelResponse = await be.channels.CreateChannel(
        request, timeout=be.settings.rpc_timeout
    )
    return channel_json(response.channel)


@router.get("/{username}", summary="One watched channel")
async def get_model(username: Username, be: Annotated[Backend, Depends(backend)]) -> Any:
    request = channel_service_pb2.GetChannelRequest(username=username.lower())
    response: channel_service_pb2.GetChannelResponse = await call_idempotent(
        lambda: be.channels.GetChannel(request, timeout=be.settings.rpc_timeout)
    )
    return channel_json(response.channel)


@router.put("/{username}", summary="Change a watched channel")
async def update_model(
    username: Username, body: ChannelPatch, be: Annotated[Backend, Depends(backend)]
) -> Any:
    """Only the fields present in the body change. 404 if the channel is not watched."""
    key = username.lower()
    if body.username is not None and body.username.lower() != key:
        raise InvalidArgument(
            f"the body's username {body.username!r} is not {username!r}",
            reason="USERNAME_MISMATCH",
        )
    paths = body.mask()
    if not paths:
        raise InvalidArgument(
            "nothing to change: send at least one of "
            + ", ".join(ChannelPatch.model_fields[p].alias or p for p in MASK_PATHS),
            reason="NOTHING_TO_CHANGE",
        )
    request = channel_service_pb2.UpdateChannelRequest(
        channel=body.channel_pb(key), update_mask=FieldMask(paths=paths)
    )
    response: channel_service_pb2.UpdateChannelResponse = await be.channels.UpdateChannel(
        request, timeout=be.settings.rpc_timeout
    )
    return channel_json(response.channel)


@router.delete("/{username}", summary="Stop watching a channel")
async def delete_model(username: Username, be: Annotated[Backend, Depends(backend)]) -> Any:
    """Its recordings stay, and so does a recording in progress. 404 if it is not watched."""
    key = username.lower()
    request = channel_service_pb2.DeleteChannelRequest(username=key)
    await be.channels.DeleteChannel(request, timeout=be.settings.rpc_timeout)
    return {"username": key, "deleted": True}
