"""The real gateway app, in-process (ASGI, lifespan and all), over real gRPC on loopback to
the fake servicers of :mod:`tests.gateway.fake_recorder`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from grpc import aio

from gateway.app import create_app
from gateway.settings import GatewaySettings
from servicekit.grpc_server import build_server
from simlab.harness import free_port
from streamrec.v1 import channel_service_pb2_grpc as ch_grpc
from streamrec.v1 import recording_service_pb2_grpc as rec_grpc
from tests.gateway.fake_recorder import FakeChannels, FakeRecordings, Fakes


@pytest.fixture
async def fakes() -> AsyncIterator[Fakes]:
    channels, recordings = FakeChannels(), FakeRecordings()

    def register(server: aio.Server) -> None:
        ch_grpc.add_ChannelServiceServicer_to_server(channels, server)
        rec_grpc.add_RecordingServiceServicer_to_server(recordings, server)

    app = build_server(
        register,
        ["streamrec.v1.ChannelService", "streamrec.v1.RecordingService"],
        host="127.0.0.1",
        port=0,
    )
    await app.server.start()
    try:
        yield Fakes(channels, recordings, app.port)
    finally:
        await app.server.stop(0)


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    out = tmp_path / "data"
    (out / "records").mkdir(parents=True)
    return out


@pytest.fixture
async def client(fakes: Fakes, output_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway, lifespan and all, talking gRPC to the fakes."""
    async with gateway_client(f"127.0.0.1:{fakes.port}", output_dir) as c:
        yield c


@pytest.fixture
async def down_client(output_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway with no recorder behind it."""
    async with gateway_client(f"127.0.0.1:{free_port()}", output_dir) as c:
        yield c


@contextlib.asynccontextmanager
async def gateway_client(
    recorder_addr: str, output_dir: Path, api_token: str = ""
) -> AsyncIterator[httpx.AsyncClient]:
    settings = GatewaySettings(
        recorder_addr=recorder_addr,
        output_dir=output_dir,
        rpc_timeout=5,
        build_commit="test",  # never ask git
        api_token=api_token,
    )
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=10) as client,
    ):
        yield client
