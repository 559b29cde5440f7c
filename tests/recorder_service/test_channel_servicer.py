"""ChannelService on the recorder: status questions passed to a real resolver over gRPC."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from recorder_service.channel_servicer import ChannelServicer
from recorder_service.resolver_client import GrpcResolver
from recorder_service.sqlite_store import SqliteStore
from recorder_service.watchlist import WatchList
from resolver_service.servicer import ResolverServicer
from resolver_service.settings import ResolverSettings
from resolver_service.wiring import build_resolver, http_client
from servicekit.grpc_errors import parse_rpc_error
from servicekit.grpc_interceptors import insecure_channel
from simlab.fakes.chaturbate_site import FakeChaturbate
from simlab.harness import free_port
from streamrec.v1 import channel_service_pb2, channel_service_pb2_grpc, resolver_service_pb2
from streamrec.v1 import resolver_service_pb2_grpc as resolver_grpc
from tests.grpc_util import serving
from tests.resolver_service.sites import FREE, NO_RETRY, chaturbate_env


@pytest.fixture
def site() -> Iterator[FakeChaturbate]:
    with FakeChaturbate() as running:
        running.add_room("alice", room_status="private", viewers=3)
        yield running


def channels(
    resolver_channel: grpc.aio.Channel, store: SqliteStore | None = None
) -> ChannelServicer:
    return ChannelServicer(
        GrpcResolver(resolver_channel, timeout=5),
        WatchList(store or SqliteStore(Path(tempfile.mkdtemp()) / "db.sqlite")),
        running=lambda: [],
        runtime=lambda person: None,
    )


@pytest.fixture
async def stub(site: FakeChaturbate) -> AsyncIterator[channel_service_pb2_grpc.ChannelServiceStub]:
    settings = ResolverSettings(budget=FREE, retry=NO_RETRY, env=chaturbate_env(site.base_url))
    async with http_client(settings) as client:
        resolver = ResolverServicer(build_resolver(settings, client))
        async with serving(
            lambda s: resolver_grpc.add_ResolverServiceServicer_to_server(resolver, s),
            "streamrec.v1.ResolverService",
        ) as to_resolver:
            servicer = channels(to_resolver)
            async with serving(
                lambda s: channel_service_pb2_grpc.add_ChannelServiceServicer_to_server(
                    servicer, s
                ),
                "streamrec.v1.ChannelService",
            ) as channel:
                yield channel_service_pb2_grpc.ChannelServiceStub(channel)


async def test_status_questions_reach_the_site_through_the_resolver(stub, site) -> None:
    request = channel_service_pb2.CheckChannelStatusRequest(
        target="alice", source_type=resolver_service_pb2.SOURCE_TYPE_CHATURBATE
    )
    status = (await stub.CheckChannelStatus(request)).status
    assert status.availability == resolver_service_pb2.CHANNEL_AVAILABILITY_PRIVATE
    assert status.viewers == 3 and status.room_status == "private" and status.method == "api"
    assert status.checked_time.seconds > 0
    assert site.request_count() == 1


async def test_bad_input_comes_back_as_invalid_argument(stub, site) -> None:
    for request in (
        channel_service_pb2.CheckChannelStatusRequest(
            target="../x", source_type=resolver_service_pb2.SOURCE_TYPE_CHATURBATE
        ),
        channel_service_pb2.CheckChannelStatusRequest(
            target="alice",
            source_type=99,  # type: ignore[arg-type]
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.CheckChannelStatus(request)
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert site.request_count() == 0


async def test_a_resolver_that_is_down_is_unavailable_with_a_reason() -> None:
    dead = insecure_channel(f"127.0.0.1:{free_port()}")
    servicer = channels(dead)
    async with serving(
        lambda s: channel_service_pb2_grpc.add_ChannelServiceServicer_to_server(servicer, s),
        "streamrec.v1.ChannelService",
    ) as channel:
        stub = channel_service_pb2_grpc.ChannelServiceStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.CheckChannelStatus(
                channel_service_pb2.CheckChannelStatusRequest(target="alice")
            )
    await dead.close()
    error = parse_rpc_error(info.value)
    assert error.code is grpc.StatusCode.UNAVAILABLE and error.reason == "RESOLVER_UNAVAILABLE"
