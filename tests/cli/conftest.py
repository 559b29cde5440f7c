"""An in-process fake RecorderService on loopback (the real server kit: interceptors, error
details), for the client and watch tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest
from grpc import aio

from servicekit import correlation
from servicekit.errors import NotFound
from servicekit.grpc_server import build_server
from streamrec.v1 import recorder_service_pb2, recorder_service_pb2_grpc, session_pb2

#: How a scripted WatchSessions call ends after its messages.
DROP, END, HANG, DENY = "drop", "end", "hang", "deny"


@dataclass
class WatchScript:
    messages: list[recorder_service_pb2.WatchSessionsResponse]
    ending: str = HANG


@dataclass
class FakeRecorder(recorder_service_pb2_grpc.RecorderServiceServicer):
    """Records every call with the correlation id it came with; ``unavailable[method]`` calls
    fail with a bare UNAVAILABLE first (as an unreachable service would)."""

    calls: list[tuple[str, Any, str | None]] = field(default_factory=list)
    unavailable: dict[str, int] = field(default_factory=dict)
    sessions: list[session_pb2.Session] = field(default_factory=list)
    watch: list[WatchScript] = field(default_factory=list)

    async def _enter(self, method: str, request: Any, context: aio.ServicerContext) -> None:
        self.calls.append((method, request, correlation.get()))
        if self.unavailable.get(method, 0) > 0:
            self.unavailable[method] -= 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, "try again")

    def methods(self) -> list[str]:
        return [m for m, _, _ in self.calls]

    async def StartRecording(
        self, request: recorder_service_pb2.StartRecordingRequest, context: aio.ServicerContext
    ) -> recorder_service_pb2.StartRecordingResponse:
        await self._enter("StartRecording", request, context)
        return recorder_service_pb2.StartRecordingResponse(
            session=session_pb2.Session(session_id="s1", person="alice", target=request.target)
        )

    async def StopRecording(
        self, request: recorder_service_pb2.StopRecordingRequest, context: aio.ServicerContext
    ) -> recorder_service_pb2.StopRecordingResponse:
        await self._enter("StopRecording", request, context)
        raise NotFound(f"no session {request.session_id!r}", reason="SESSION_NOT_FOUND")

    async def GetSession(
        self, request: recorder_service_pb2.GetSessionRequest, context: aio.ServicerContext
    ) -> recorder_service_pb2.GetSessionResponse:
        await self._enter("GetSession", request, context)
        raise NotFound(f"no session {request.session_id!r}", reason="SESSION_NOT_FOUND")

    async def OpenPreview(
        self, request: recorder_service_pb2.OpenPreviewRequest, context: aio.ServicerContext
    ) -> recorder_service_pb2.OpenPreviewResponse:
        await self._enter("OpenPreview", request, context)
        raise NotFound(f"no session {request.session_id!r}", reason="SESSION_NOT_FOUND")

    async def ListSessions(
        self, request: recorder_service_pb2.ListSessionsRequest, context: aio.ServicerContext
    ) -> recorder_service_pb2.ListSessionsResponse:
        await self._enter("ListSessions", request, context)
        offset = int(request.page_token or 0)  # pages of one, so paging is exercised
        more = offset + 1 < len(self.sessions)
        return recorder_service_pb2.ListSessionsResponse(
            sessions=self.sessions[offset : offset + 1],
            next_page_token=str(offset + 1) if more else "",
        )

    async def WatchSessions(
        self, request: recorder_service_pb2.WatchSessionsRequest, context: aio.ServicerContext
    ) -> AsyncIterator[recorder_service_pb2.WatchSessionsResponse]:
        await self._enter("WatchSessions", request, context)
        script = self.watch.pop(0) if self.watch else WatchScript([])
        for message in script.messages:
            yield message
        if script.ending == DROP:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "dropped")
        elif script.ending == DENY:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "no")
        elif script.ending == HANG:
            await asyncio.Event().wait()


@dataclass
class FakeServer:
    recorder: FakeRecorder
    addr: str


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    recorder = FakeRecorder()

    def register(server: aio.Server) -> None:
        recorder_service_pb2_grpc.add_RecorderServiceServicer_to_server(recorder, server)

    app = build_server(register, ["streamrec.v1.RecorderService"], host="127.0.0.1", port=0)
    await app.server.start()
    try:
        yield FakeServer(recorder, f"127.0.0.1:{app.port}")
    finally:
        await app.server.stop(0)
