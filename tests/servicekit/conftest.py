"""Fixtures for the service-kit integration tests: a tiny RecorderService on a real
grpc.aio server (127.0.0.1, port 0), a correlation-forwarding channel and a log capture
that stamps records the way production handlers do (``servicekit.logs.ContextFilter``)."""

from __future__ import annotations

import logging

import pytest
from grpc import aio

from servicekit import correlation
from servicekit.errors import FailedPrecondition, NotFound
from servicekit.grpc_interceptors import insecure_channel
from servicekit.grpc_server import GrpcApp, build_server
from servicekit.logs import ContextFilter
from streamrec.v1 import recorder_service_pb2, recorder_service_pb2_grpc, session_pb2

SERVICE_NAME = recorder_service_pb2.DESCRIPTOR.services_by_name["RecorderService"].full_name
#: WatchSessions ``after_sequence`` values that make the test servicer fail mid-stream.
FAIL_WITH_DOMAIN_ERROR = 1001
FAIL_WITH_UNEXPECTED_ERROR = 1002
#: How many messages WatchSessions sends before it ends (or fails).
STREAM_MESSAGES = 3

handler_log = logging.getLogger("tests.kit.handler")


class KitServicer(recorder_service_pb2_grpc.RecorderServiceServicer):
    """Just enough of RecorderService to exercise the interceptors."""

    def __init__(self) -> None:
        self.seen_ids: list[str | None] = []

    async def GetSession(self, request, context):
        cid = correlation.get()
        self.seen_ids.append(cid)
        handler_log.info("getting session", extra={"session_id": request.session_id})
        return recorder_service_pb2.GetSessionResponse(
            session=session_pb2.Session(session_id=request.session_id, correlation_id=cid or "")
        )

    async def StopRecording(self, request, context):
        raise NotFound("no such session", reason="SESSION_NOT_FOUND", metadata={"k": "v"})

    async def StartRecording(self, request, context):
        raise RuntimeError("boom: secret-internals")

    async def ListSessions(self, request, context):
        return recorder_service_pb2.ListSessionsResponse()

    async def OpenPreview(self, request, context):
        raise NotFound("no such session", reason="SESSION_NOT_FOUND")

    async def WatchSessions(self, request, context):
        handler_log.info("watch started")
        for sequence in range(1, STREAM_MESSAGES):
            # Read the id afresh for every message: it must survive the yields.
            cid = correlation.get()
            self.seen_ids.append(cid)
            yield recorder_service_pb2.WatchSessionsResponse(
                snapshot=recorder_service_pb2.SessionSnapshot(
                    sequence=sequence,
                    sessions=[session_pb2.Session(session_id="s1", correlation_id=cid or "")],
                )
            )
        yield recorder_service_pb2.WatchSessionsResponse(
            heartbeat=recorder_service_pb2.Heartbeat(sequence=STREAM_MESSAGES)
        )
        if request.after_sequence == FAIL_WITH_DOMAIN_ERROR:
            raise FailedPrecondition("stream broke", reason="STREAM_BROKE", metadata={"at": "3"})
        if request.after_sequence == FAIL_WITH_UNEXPECTED_ERROR:
            raise RuntimeError("stream exploded: secret-internals")
        handler_log.info("watch done")


class Captured(logging.Handler):
    """Keeps every record; ContextFilter (installed on it) adds correlation_id as in prod."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.addFilter(ContextFilter("kit-test"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def with_action(self, action: str) -> list[logging.LogRecord]:
        return [r for r in self.records if getattr(r, "event.action", None) == action]


@pytest.fixture
def logs():
    root = logging.getLogger()
    handler = Captured()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


@pytest.fixture
def servicer():
    return KitServicer()


def make_app(servicer: KitServicer) -> GrpcApp:
    def register(server: aio.Server) -> None:
        recorder_service_pb2_grpc.add_RecorderServiceServicer_to_server(servicer, server)

    return build_server(register, [SERVICE_NAME], host="127.0.0.1", port=0)


@pytest.fixture
async def app(servicer, logs):
    app = make_app(servicer)
    await app.server.start()
    try:
        yield app
    finally:
        await app.server.stop(None)


@pytest.fixture
async def channel(app):
    channel = insecure_channel(f"127.0.0.1:{app.port}")
    try:
        yield channel
    finally:
        await channel.close()


@pytest.fixture
async def raw_channel(app):
    """A plain channel without the client interceptors (sends metadata as given)."""
    channel = aio.insecure_channel(f"127.0.0.1:{app.port}")
    try:
        yield channel
    finally:
        await channel.close()


@pytest.fixture
def stub(channel):
    return recorder_service_pb2_grpc.RecorderServiceStub(channel)
