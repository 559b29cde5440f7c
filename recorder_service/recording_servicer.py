"""RecordingService over gRPC: a thin adapter over the RecordingIndex and Retention."""

from __future__ import annotations

import asyncio

from grpc import aio

from recorder_service.convert import recording_pb, storage_pb
from recorder_service.recordings import RecordingIndex, check_person
from recorder_service.retention import Retention
from servicekit.errors import InvalidArgument
from streamrec.v1 import recording_service_pb2, recording_service_pb2_grpc


class RecordingServicer(recording_service_pb2_grpc.RecordingServiceServicer):
    def __init__(self, index: RecordingIndex, retention: Retention) -> None:
        self._index = index
        self._retention = retention

    async def ListRecordings(
        self, request: recording_service_pb2.ListRecordingsRequest, context: aio.ServicerContext
    ) -> recording_service_pb2.ListRecordingsResponse:
        views, token = self._index.list(
            request.person, page_size=request.page_size, page_token=request.page_token
        )
        return recording_service_pb2.ListRecordingsResponse(
            recordings=[recording_pb(v) for v in views], next_page_token=token
        )

    async def GetRecording(
        self, request: recording_service_pb2.GetRecordingRequest, context: aio.ServicerContext
    ) -> recording_service_pb2.GetRecordingResponse:
        view = self._index.get(request.person, request.file_name)
        return recording_service_pb2.GetRecordingResponse(recording=recording_pb(view))

    async def UpdateRecording(
        self, request: recording_service_pb2.UpdateRecordingRequest, context: aio.ServicerContext
    ) -> recording_service_pb2.UpdateRecordingResponse:
        paths = set(request.update_mask.paths)
        if paths != {"pinned"}:
            raise InvalidArgument(
                "update_mask must be exactly ['pinned']", reason="INVALID_UPDATE_MASK"
            )
        r = request.recording
        view = self._index.set_pinned(r.person, r.file_name, r.pinned)
        return recording_service_pb2.UpdateRecordingResponse(recording=recording_pb(view))

    async def DeleteRecording(
        self, request: recording_service_pb2.DeleteRecordingRequest, context: aio.ServicerContext
    ) -> recording_service_pb2.DeleteRecordingResponse:
        freed = self._index.delete(request.person, request.file_name)
        return recording_service_pb2.DeleteRecordingResponse(bytes_freed=freed)

    async def RunRetention(
        self, request: recording_service_pb2.RunRetentionRequest, context: aio.ServicerContext
    ) -> recording_service_pb2.RunRetentionResponse:
        person = check_person(request.person) if request.person else None
        report = self._retention.run(person=person, dry_run=request.dry_run)
        return recording_service_pb2.RunRetentionResponse(
            files_deleted=report.files_deleted,
            bytes_freed=report.bytes_freed,
            free_bytes=max(report.free_bytes, 0),
            dry_run=report.dry_run,
            channels=[
                recording_service_pb2.RetentionChannelReport(
                    person=c.person,
                    files_deleted=c.files_deleted,
                    bytes_freed=c.bytes_freed,
                    files=list(c.files),
                )
                for c in report.per_channel
            ],
        )

    async def GetStorage(
        self, request: recording_service_pb2.GetStorageRequest, context: aio.ServicerContext
    ) -> recording_service_pb2.GetStorageResponse:
        # A walk of records/: off the event loop (see storage.tree_bytes for its cost).
        return storage_pb(await asyncio.to_thread(self._retention.storage))
