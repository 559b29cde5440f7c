"""RecorderService over gRPC: a thin adapter over the SessionManager and the EventBus.

Domain errors raised below are mapped to status codes by the server interceptor, once."""

from __future__ import annotations

import collections
import logging
from collections.abc import AsyncIterator

from google.protobuf import timestamp_pb2
from grpc import aio

from recorder_service.convert import (
    event_pb,
    quality_from_pb,
    session_pb,
    snapshot_pb,
    source_from_pb,
)
from recorder_service.manager import SessionManager, StartRequest
from recorder_service.model import SessionEvent
from recorder_service.preview import PreviewManager
from servicekit.errors import FailedPrecondition
from streamrec.v1 import recorder_service_pb2, recorder_service_pb2_grpc

log = logging.getLogger(__name__)

# Events whose wire form is kept, so that one event sent to many subscribers is converted once.
_EVENT_PB_CACHE = 512
# Events in one batch at most (about 300 bytes each), for subscribers that allow batches.
_BATCH_MAX = 64


def _source(request: recorder_service_pb2.StartRecordingRequest) -> str:
    """The source a start names: ``source`` (any registered name, the resolver checks it),
    else the deprecated enum; "auto" lets the target's shape decide."""
    return source_from_pb(request.source, request.source_type) or "auto"


class RecorderServicer(recorder_service_pb2_grpc.RecorderServiceServicer):
    def __init__(
        self,
        manager: SessionManager,
        *,
        heartbeat_interval: float,
        previews: PreviewManager | None = None,
    ) -> None:
        self._manager = manager
        self._previews = previews
        self._heartbeat = heartbeat_interval
        self._event_pbs: collections.OrderedDict[
            int, tuple[SessionEvent, recorder_service_pb2.WatchSessionsResponse]
        ] = collections.OrderedDict()

    def _event_pb(self, event: SessionEvent) -> recorder_service_pb2.WatchSessionsResponse:
        """``event_pb``, once per event however many subscribers it goes to (the message is
        only serialized by gRPC, never changed, so subscribers can share it)."""
        cached = self._event_pbs.get(event.sequence)
        if cached is not None and cached[0] is event:
            return cached[1]
        message = event_pb(event)
        self._event_pbs[event.sequence] = (event, message)
        if len(self._event_pbs) > _EVENT_PB_CACHE:
            self._event_pbs.popitem(last=False)
        return message

    def _batch_pb(self, events: list[SessionEvent]) -> recorder_service_pb2.WatchSessionsResponse:
        """``events`` as one message (a single event stays an ``event``)."""
        if len(events) == 1:
            return self._event_pb(events[0])
        return recorder_service_pb2.WatchSessionsResponse(
            batch=recorder_service_pb2.EventBatch(events=[self._event_pb(e).event for e in events])
        )

    async def StartRecording(
        self, request: recorder_service_pb2.StartRecordingRequest, context: aio.ServicerContext
    ) -> recorder_service_pb2.StartRecordingResponse:
        session = await self._manager.start(
            StartRequest(
                target=request.target,
                source_type=_source(request),
                name=request.name,
                person=request.person,
                quality=quality_from_pb(request.quality),
                request_id=request.request_id,
            )
        )
        return recorder_service_pb2.StartRecordingResponse(session=session_pb(session))

    async def StopRecording(
        self, request: recorder_service_pb2.StopRecordingRequest, context: aio.ServicerContext
    ) -> recorder_service_pb2.StopRecordingResponse:
        session = await self._manager.stop(request.session_id)
        return recorder_service_pb2.StopRecordingResponse(session=session_pb(session))

    async def GetSession(
        self, request: recorder_service_pb2.GetSessionRequest, context: aio.ServicerContext
    ) -> recorder_service_pb2.GetSessionResponse:
        return recorder_service_pb2.GetSessionResponse(
            session=session_pb(self._manager.get(request.session_id))
        )

    async def OpenPreview(
        self, request: recorder_service_pb2.OpenPreviewRequest, context: aio.ServicerContext
    ) -> recorder_service_pb2.OpenPreviewResponse:
        if self._previews is None:
            raise FailedPrecondition("live previews are off", reason="PREVIEW_OFF")
        path, started = await self._previews.open(request.session_id)
        return recorder_service_pb2.OpenPreviewResponse(playlist_path=path, started=started)

    async def ListSessions(
        self, request: recorder_service_pb2.ListSessionsRequest, context: aio.ServicerContext
    ) -> recorder_service_pb2.ListSessionsResponse:
        sessions, token = self._manager.list(
            page_size=request.page_size,
            page_token=request.page_token,
            include_ended=request.include_ended,
        )
        return recorder_service_pb2.ListSessionsResponse(
            sessions=[session_pb(s) for s in sessions], next_page_token=token
        )

    async def WatchSessions(
        self, request: recorder_service_pb2.WatchSessionsRequest, context: aio.ServicerContext
    ) -> AsyncIterator[recorder_service_pb2.WatchSessionsResponse]:
        bus = self._manager.bus
        sub = bus.subscribe(request.after_sequence, self._manager.running)
        batch = _BATCH_MAX if request.allow_batches else 1
        try:
            if sub.snapshot is not None:
                yield snapshot_pb(sub.snapshot)
            for start in range(0, len(sub.replay), batch):
                yield self._batch_pb(sub.replay[start : start + batch])
            while not sub.closed:
                live = await sub.next(self._heartbeat)
                if live is None:
                    if sub.closed:
                        return
                    now = timestamp_pb2.Timestamp()
                    now.GetCurrentTime()
                    yield recorder_service_pb2.WatchSessionsResponse(
                        heartbeat=recorder_service_pb2.Heartbeat(
                            heartbeat_time=now, sequence=bus.last_sequence
                        )
                    )
                else:
                    # Events that came while this one waited for its turn (many sessions
                    # reporting at once) go with it: one message, one wakeup of the client.
                    yield self._batch_pb([live, *sub.ready(batch - 1)])
        finally:
            # Runs on cancellation too; CancelledError itself propagates untouched.
            sub.close()
