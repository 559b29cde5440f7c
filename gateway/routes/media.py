"""Pictures (``MediaService`` on the recorder): a channel's thumbnail, and a finished
recording's poster, contact sheet and the sheet's index.

``GET /api/models/{username}/thumbnail``: the live frame of a channel that records, else the
site's room image (fetched by the resolver, never by the browser), with a short max-age.
``GET /api/recordings/{person}/{file}/poster``, ``/sheet`` and ``/sheet.json``: made once
when the file was finalized, so cached for a day and revalidated by ``ETag``. Whatever there
is no picture of is a 404 with the usual error body (the page shows a placeholder). Bytes are
served only when they are what their content type says (checked again here), with
``nosniff``. Reads are retried on UNAVAILABLE like the other reads.
"""

from __future__ import annotations

import hashlib
from datetime import UTC
from email.utils import format_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from google.protobuf.timestamp_pb2 import Timestamp

from gateway.backend import Backend, backend
from gateway.routes.recordings import FileName, Person
from gateway.schemas import check_file_name, check_person
from gateway.sites import SiteQuery, channel_or_folder
from servicekit.errors import DomainError, NotFound
from servicekit.images import IMAGE_TYPES, sniff_image
from servicekit.retry import call_idempotent
from streamrec.v1 import media_service_pb2, media_service_pb2_grpc

router = APIRouter(prefix="/api", tags=["pictures"])

#: Seconds a browser may keep a channel's picture (a live frame changes every minute or so).
LIVE_MAX_AGE = 30
ROOM_MAX_AGE = 60
#: A recording's pictures do not change; a remade one has a new ETag.
RECORDING_MAX_AGE = 86_400
_SOURCES = {
    media_service_pb2.THUMBNAIL_SOURCE_LIVE: ("live", LIVE_MAX_AGE),
    media_service_pb2.THUMBNAIL_SOURCE_ROOM: ("room", ROOM_MAX_AGE),
}
_KINDS = {
    "poster": media_service_pb2.RECORDING_IMAGE_KIND_POSTER,
    "sheet": media_service_pb2.RECORDING_IMAGE_KIND_SHEET,
    "sheet.json": media_service_pb2.RECORDING_IMAGE_KIND_SHEET_INDEX,
}
_IMAGE: dict[str, Any] = {
    "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in IMAGE_TYPES}
}
_JSON: dict[str, Any] = {"content": {"application/json": {}}}


def _stub(be: Backend) -> media_service_pb2_grpc.MediaServiceStub:
    return media_service_pb2_grpc.MediaServiceStub(be.recorder_channel)


def _http_date(ts: Timestamp) -> str | None:
    if not ts.seconds and not ts.nanos:
        return None
    return format_datetime(ts.ToDatetime(tzinfo=UTC).replace(microsecond=0), usegmt=True)


def _picture(data: bytes, content_type: str, headers: dict[str, str]) -> Response:
    if content_type != "application/json" and sniff_image(data) != content_type:
        # Never serve bytes under a type they are not: the recorder checked them, but this is
        # the last place that can.
        raise DomainError("the recorder sent a picture that is not one", reason="BAD_PICTURE")
    headers = {**headers, "X-Content-Type-Options": "nosniff"}
    return Response(data, media_type=content_type, headers=headers)


@router.get(
    "/models/{username}/thumbnail",
    summary="A channel's picture",
    response_class=Response,
    responses={200: _IMAGE},
)
async def channel_thumbnail(
    username: Person, be: Annotated[Backend, Depends(backend)], site: SiteQuery = None
) -> Response:
    """The newest picture of a watched or recording channel: a frame of its recording (taken
    at most once a minute, and only when asked), else the site's room image (the last good
    one when the channel is offline). ``X-Thumbnail-Source`` says which (``live``, ``room``).
    404 ``THUMBNAIL_NOT_FOUND`` when there is none yet, ``CHANNEL_NOT_FOUND`` for a channel
    neither watched nor recording. ``username`` is the channel's key (``stripchat:alice``) or a
    recording folder."""
    ref = channel_or_folder(username, site, check_person)
    request = media_service_pb2.GetChannelThumbnailRequest(username=ref.username, source=ref.site)
    stub = _stub(be)
    reply: media_service_pb2.GetChannelThumbnailResponse = await call_idempotent(
        lambda: stub.GetChannelThumbnail(request, timeout=be.settings.rpc_timeout)
    )
    source = _SOURCES.get(reply.source)
    if source is None or not reply.image:
        raise NotFound(f"there is no picture of {username} yet", reason="THUMBNAIL_NOT_FOUND")
    name, max_age = source
    headers = {"Cache-Control": f"private, max-age={max_age}", "X-Thumbnail-Source": name}
    if modified := _http_date(reply.taken_time):
        headers["Last-Modified"] = modified
    return _picture(reply.image, reply.content_type, headers)


async def _recording_picture(
    person: str, file_name: str, kind: str, request: Request, be: Backend
) -> Response:
    ask = media_service_pb2.GetRecordingImageRequest(
        person=check_person(person), file_name=check_file_name(file_name), kind=_KINDS[kind]
    )
    stub = _stub(be)
    reply: media_service_pb2.GetRecordingImageResponse = await call_idempotent(
        lambda: stub.GetRecordingImage(ask, timeout=be.settings.rpc_timeout)
    )
    etag = f'"{hashlib.blake2b(reply.image, digest_size=16).hexdigest()}"'
    headers = {"Cache-Control": f"private, max-age={RECORDING_MAX_AGE}", "ETag": etag}
    if modified := _http_date(reply.taken_time):
        headers["Last-Modified"] = modified
    wanted = request.headers.get("if-none-match", "")
    if etag in {tag.strip().removeprefix("W/") for tag in wanted.split(",")} or wanted == "*":
        return Response(status_code=304, headers=headers)
    return _picture(reply.image, reply.content_type, headers)


@router.get(
    "/recordings/{username}/{filename}/poster",
    summary="A recording's poster frame",
    response_class=Response,
    responses={200: _IMAGE, 304: {"description": "not modified (If-None-Match)"}},
)
async def recording_poster(
    username: Person,
    filename: FileName,
    request: Request,
    be: Annotated[Backend, Depends(backend)],
) -> Response:
    """A frame from about a third into the recording (JPEG, at most 640 px wide). 404
    ``RECORDING_IMAGE_NOT_FOUND`` when it has none (still being written, made before pictures
    existed, THUMBNAILS off, or its making failed), ``RECORDING_NOT_FOUND`` without it."""
    return await _recording_picture(username, filename, "poster", request, be)


@router.get(
    "/recordings/{username}/{filename}/sheet",
    summary="A recording's contact sheet",
    response_class=Response,
    responses={200: _IMAGE, 304: {"description": "not modified (If-None-Match)"}},
)
async def recording_sheet(
    username: Person,
    filename: FileName,
    request: Request,
    be: Annotated[Backend, Depends(backend)],
) -> Response:
    """A grid of frames across the recording (``CONTACT_SHEET`` columns x rows, tiles of at
    most 320 px), each labelled with its time in the file when ffmpeg can draw text
    (``sheet.json`` says whether it did). 404 like the poster."""
    return await _recording_picture(username, filename, "sheet", request, be)


@router.get(
    "/recordings/{username}/{filename}/sheet.json",
    summary="The layout and tile times of a recording's contact sheet",
    response_class=Response,
    responses={200: _JSON, 304: {"description": "not modified (If-None-Match)"}},
)
async def recording_sheet_index(
    username: Person,
    filename: FileName,
    request: Request,
    be: Annotated[Backend, Depends(backend)],
) -> Response:
    """``{columns, rows, tileWidth, tileHeight, times, labelled}``: ``times`` are the seconds
    from the file's start each tile was asked for, row by row (a tile is the keyframe nearest
    that time); ``labelled`` whether the sheet shows them (else overlay them). 404 like the
    sheet."""
    return await _recording_picture(username, filename, "sheet.json", request, be)
