"""GetChannelStatus and BatchGetChannelStatus over a real gRPC server, against the fake site
and the fake CDN."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import grpc
import httpx
import pytest

from resolver_service.core import MAX_BATCH
from resolver_service.servicer import ResolverServicer
from resolver_service.settings import ResolverSettings
from resolver_service.wiring import build_resolver, http_client
from servicekit.grpc_errors import parse_rpc_error
from simlab.fakes.chaturbate_site import FakeChaturbate
from simlab.fakes.hls_origin import HlsOrigin
from streamrec.v1 import resolver_service_pb2 as pb
from streamrec.v1 import resolver_service_pb2_grpc
from tests.grpc_util import serving

from .sites import FREE, NO_RETRY, chaturbate_env

A = pb.ChannelAvailability


@pytest.fixture(scope="module")
def origin() -> Iterator[HlsOrigin]:
    with HlsOrigin() as server:
        server.add_stream("live", token="tk")
        server.add_stream("over")
        server.stream("over").end()
        yield server


@pytest.fixture
def site(origin: HlsOrigin) -> Iterator[FakeChaturbate]:
    with FakeChaturbate() as running:
        running.add_room("alice", hls_url=origin.url("live"), viewers=9, title="t")
        running.add_room("bob", room_status="away")
        yield running


@pytest.fixture
async def stub(
    site: FakeChaturbate,
) -> AsyncIterator[resolver_service_pb2_grpc.ResolverServiceStub]:
    settings = ResolverSettings(
        budget=FREE,
        retry=NO_RETRY,
        env=chaturbate_env(site.base_url),
    )
    client: httpx.AsyncClient
    async with http_client(settings) as client:
        servicer = ResolverServicer(build_resolver(settings, client))
        async with serving(
            lambda s: resolver_service_pb2_grpc.add_ResolverServiceServicer_to_server(servicer, s),
            "streamrec.v1.ResolverService",
        ) as channel:
            yield resolver_service_pb2_grpc.ResolverServiceStub(channel)


async def test_a_channel_status_carries_every_field(stub, site) -> None:
    reply = await stub.GetChannelStatus(pb.GetChannelStatusRequest(target="Alice"))
    s = reply.status
    assert (s.target, s.source_type, s.availability) == (
        "alice",
        pb.SOURCE_TYPE_CHATURBATE,
        A.Value("CHANNEL_AVAILABILITY_ONLINE"),
    )
    assert s.HasField("viewers") and s.viewers == 9 and s.title == "t"
    assert s.room_status == "public" and s.method == "api"
    assert s.thumbnail_url.endswith("/alice.jpg") and s.checked_time.seconds > 0
    away = (await stub.GetChannelStatus(pb.GetChannelStatusRequest(target="bob"))).status
    assert away.availability == A.Value("CHANNEL_AVAILABILITY_AWAY")


async def test_playlist_urls_have_a_status_too(stub, origin) -> None:
    async def availability(url: str) -> str:
        reply = await stub.GetChannelStatus(pb.GetChannelStatusRequest(target=url))
        return A.Name(reply.status.availability).removeprefix("CHANNEL_AVAILABILITY_")

    assert await availability(origin.url("live")) == "ONLINE"
    assert await availability(origin.url("over")) == "OFFLINE"  # EXT-X-ENDLIST
    assert await availability(f"{origin.base_url}/live/nope/master.m3u8") == "OFFLINE"
    forbidden = origin.url("live").replace("tk", "bad")
    assert await availability(forbidden) == "UPSTREAM_ERROR"


async def test_a_batch_answers_in_order_for_mixed_targets(stub, site, origin) -> None:
    request = pb.BatchGetChannelStatusRequest(
        targets=["bob", origin.url("live"), "alice", "nobody", "BOB"]
    )
    reply = await stub.BatchGetChannelStatus(request)
    names = [A.Name(s.availability).removeprefix("CHANNEL_AVAILABILITY_") for s in reply.statuses]
    assert names == ["AWAY", "ONLINE", "ONLINE", "NOT_FOUND", "AWAY"]
    assert [s.target for s in reply.statuses][2:] == ["alice", "nobody", "bob"]
    assert site.request_count("api") == 3  # bob once for both spellings


@pytest.mark.parametrize(
    ("targets", "reason"),
    [
        (["alice", "../etc"], "UNSUPPORTED_PROTOCOL"),
        (["alice", "file:///etc/passwd"], "UNSUPPORTED_PROTOCOL"),
        (["bad name"], "INVALID_USERNAME"),
        (["x"] * (MAX_BATCH + 1), "BATCH_TOO_LARGE"),
    ],
)
async def test_a_bad_target_fails_the_batch_before_any_call(stub, site, targets, reason) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.BatchGetChannelStatus(pb.BatchGetChannelStatusRequest(targets=targets))
    error = parse_rpc_error(info.value)
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT and error.reason == reason
    assert site.request_count() == 0


async def test_an_unknown_source_type_is_invalid(stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetChannelStatus(
            pb.GetChannelStatusRequest(
                target="alice",
                source_type=77,  # type: ignore[arg-type]
            )
        )
    assert parse_rpc_error(info.value).reason == "UNKNOWN_SOURCE_TYPE"


async def test_the_source_is_data_and_the_old_enum_still_works(stub, site) -> None:
    by_name = await stub.GetChannelStatus(
        pb.GetChannelStatusRequest(target="alice", source="chaturbate")
    )
    by_enum = await stub.GetChannelStatus(
        pb.GetChannelStatusRequest(target="alice", source_type=pb.SOURCE_TYPE_CHATURBATE)
    )
    prefixed = await stub.GetChannelStatus(pb.GetChannelStatusRequest(target="chaturbate:Alice"))
    for reply in (by_name, by_enum, prefixed):
        assert (reply.status.source, reply.status.source_type) == (
            "chaturbate",
            pb.SOURCE_TYPE_CHATURBATE,
        )
        assert reply.status.availability == A.Value("CHANNEL_AVAILABILITY_ONLINE")
    asked = site.request_count("api")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetChannelStatus(pb.GetChannelStatusRequest(target="alice", source="nosuchsite"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert site.request_count("api") == asked  # refused before any call


async def test_classify_target_names_the_source_username_and_folder(stub, site) -> None:
    async def classify(target: str, source: str = "") -> tuple[str, str, str]:
        reply = await stub.ClassifyTarget(pb.ClassifyTargetRequest(target=target, source=source))
        return reply.source, reply.username, reply.person_hint

    asked = site.request_count("api")
    assert await classify("https://chaturbate.com/Alice/") == ("chaturbate", "alice", "alice")
    assert await classify("Bob") == ("chaturbate", "bob", "bob")
    assert await classify("bob", "chaturbate") == ("chaturbate", "bob", "bob")
    assert await classify("https://cdn.example/live/carol/master.m3u8") == ("hls", "", "carol")
    for bad in ("nosuchsite:bob", "file:///etc/passwd", "bad name!"):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await classify(bad)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert site.request_count("api") == asked  # shape alone: no call to the site
