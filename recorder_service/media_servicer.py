"""MediaService over gRPC: a thin adapter over the channel thumbnails and the recordings'
pictures."""

from __future__ import annotations

import asyncio
from pathlib import Path

from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio

from recorder_service.convert import ts
from recorder_service.recording_pictures import read_picture
from recorder_service.recordings import RecordingIndex
from recorder_service.thumbnails import ChannelThumbnails
from servicekit.errors import InvalidArgument, NotFound
from streamrec.v1 import media_service_pb2, media_service_pb2_grpc

_SOURCES = {
    "none": media_service_pb2.THUMBNAIL_SOURCE_NONE,
    "live": media_service_pb2.THUMBNAIL_SOURCE_LIVE,
    "room": media_service_pb2.THUMBNAIL_SOURCE_ROOM,
}
_KINDS = {
    media_service_pb2.RECORDING_IMAGE_KIND_POSTER: "poster",
    media_service_pb2.RECORDING_IMAGE_KIND_SHEET: "sheet",
    media_service_pb2.RECORDING_IMAGE_KIND_SHEET_INDEX: "sheet_index",
}


class MediaServicer(media_service_pb2_grpc.MediaServiceServicer):
    def __init__(
        self, thumbnails: ChannelThumbnails, index: RecordingIndex, records_dir: Path
    ) -> None:
        self._thumbnails = thumbnails
        self._index = index
        self._records = records_dir

    async def GetChannelThumbnail(
        self,
        request: media_service_pb2.GetChannelThumbnailRequest,
        context: aio.ServicerContext,
    ) -> media_service_pb2.GetChannelThumbnailResponse:
        shot = await self._thumbnails.get(request.username, request.source.strip().lower())
        return media_service_pb2.GetChannelThumbnailResponse(
            image=shot.data,
            content_type=shot.content_type,
            taken_time=ts(shot.taken_at),
            source=_SOURCES[shot.source],
        )

    async def GetRecordingImage(
        self,
        request: media_service_pb2.GetRecordingImageRequest,
        context: aio.ServicerContext,
    ) -> media_service_pb2.GetRecordingImageResponse:
        kind = _KINDS.get(request.kind)
        if kind is None:
            raise InvalidArgument(
                "kind must be POSTER, SHEET or SHEET_INDEX", reason="INVALID_IMAGE_KIND"
            )
        row = self._index.get(request.person, request.file_name).recording  # checks the names
        folder = self._records / row.person
        found = await asyncio.to_thread(read_picture, folder, row.file_name, kind)
        if found is None:
            raise NotFound(
                f"{row.file_name} has no {kind.replace('_', ' ')}",
                reason="RECORDING_IMAGE_NOT_FOUND",
            )
        taken = Timestamp()
        taken.FromDatetime(found.taken_at)
        return media_service_pb2.GetRecordingImageResponse(
            image=found.data, content_type=found.content_type, taken_time=taken
        )
