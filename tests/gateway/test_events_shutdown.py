"""``/api/events`` when the gateway shuts down: the stream ends cleanly at once, with its lines
under the request's correlation id and its access line written (a real RecorderService fake
over gRPC whose WatchSessions never ends by itself)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from grpc import aio

from gateway.app import create_app
from gateway.routes.events import shutdown_event
from gateway.settings import GatewaySettings
from servicekit.grpc_server import build_server
from servicekit.logring import LogRing
from servicekit.logs import ContextFilter, EcsJsonFormatter
from streamrec.v1 import recorder_service_pb2 as pb
from streamrec.v1 import recorder_service_pb2_grpc as pb_grpc


class EndlessWatch(pb_grpc.RecorderServiceServicer):
    """A snapshot, then nothing, for ever (a quiet recorder)."""

    async def WatchSessions(
        self, request: pb.WatchSessionsRequest, context: aio.ServicerContext
    ) -> AsyncIterator[pb.WatchSessionsResponse]:
        yield pb.WatchSessionsResponse(snapshot=pb.SessionSnapshot(sequence=41))
        await asyncio.Event().wait()


@pytest.fixture
async def recorder_port() -> AsyncIterator[int]:
    servicer = EndlessWatch()  # type: ignore[abstract]  # only WatchSessions is called

    def register(server: aio.Server) -> None:
        pb_grpc.add_RecorderServiceServicer_to_server(servicer, server)

    app = build_server(register, ["streamrec.v1.RecorderService"], host="127.0.0.1", port=0)
    await app.server.start()
    try:
        yield app.port
    finally:
        await app.server.stop(0)


@pytest.fixture
def ring() -> Iterator[LogRing]:
    """Every record, stamped as production handlers stamp them (correlation id included)."""
    found = LogRing(1000, EcsJsonFormatter("gateway").record_dict)
    found.addFilter(ContextFilter("gateway"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(found)
    root.setLevel(logging.INFO)
    try:
        yield found
    finally:
        root.removeHandler(found)
        root.setLevel(old_level)


async def test_a_shutdown_ends_open_event_streams_with_their_access_line(
    recorder_port, tmp_path, ring
):
    app = create_app(
        GatewaySettings(
            recorder_addr=f"127.0.0.1:{recorder_port}", output_dir=tmp_path, build_commit="test"
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gateway") as client,
    ):
        request = asyncio.create_task(
            client.get("/api/events", headers={"X-Request-ID": "sse-shutdown-1"})
        )
        await asyncio.sleep(0.5)
        assert not request.done()  # streaming, and it would stream for ever
        shutdown_event(app).set()
        response = await asyncio.wait_for(request, 5)
    assert response.status_code == 200
    assert "event: snapshot" in response.text and "id: 41" in response.text
    lines = [e.fields for e in ring.snapshot() if e.fields["log.logger"].startswith("gateway")]
    assert not [f for f in lines if f["log.level"] in ("error", "critical")]
    closed = [f for f in lines if f.get("event.action") == "sse.shutdown"]
    assert len(closed) == 1 and closed[0]["sequence"] == 41
    assert closed[0]["correlation_id"] == "sse-shutdown-1"
    access = [f for f in lines if f.get("event.action") == "http.request"]
    assert [(f["message"], f["correlation_id"]) for f in access] == [
        ("GET /api/events -> 200", "sse-shutdown-1")
    ]
