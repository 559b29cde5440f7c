"""ResolverService over a real gRPC server, resolving from the fake CDN over real HTTP."""

import grpc
import httpx
import pytest

from resolver_service.core import Resolver
from resolver_service.servicer import ResolverServicer
from resolver_service.sources.hls import HlsSource
from servicekit.grpc_errors import parse_rpc_error
from simlab.fakes.hls_origin import HlsOrigin
from streamrec.v1 import quality_pb2, resolver_service_pb2, resolver_service_pb2_grpc
from tests.grpc_util import serving
from tests.resolver_service.sites import site_client


@pytest.fixture(scope="module")
def origin():
    with HlsOrigin() as server:
        server.add_stream("dave", token="tok123")
        yield server


@pytest.fixture
async def stub():
    async with httpx.AsyncClient(timeout=5) as client:
        servicer = ResolverServicer(Resolver({"hls": HlsSource(site_client(client))}))
        async with serving(
            lambda s: resolver_service_pb2_grpc.add_ResolverServiceServicer_to_server(servicer, s),
            "streamrec.v1.ResolverService",
        ) as channel:
            yield resolver_service_pb2_grpc.ResolverServiceStub(channel)


async def test_a_master_playlist_resolves_to_the_best_variant_with_its_token(origin, stub):
    reply = await stub.Resolve(resolver_service_pb2.ResolveRequest(target=origin.url("dave")))
    assert reply.source_type == resolver_service_pb2.SOURCE_TYPE_HLS
    assert reply.chosen_variant.height == 360
    assert sorted(v.height for v in reply.variants) == [180, 360]
    assert reply.media_url.startswith(origin.base_url) and "token=tok123" in reply.media_url
    assert reply.is_live and reply.person_hint == "dave"
    async with httpx.AsyncClient() as client:
        assert (await client.get(reply.media_url)).status_code == 200


async def test_a_wanted_height_picks_that_variant(origin, stub):
    quality = quality_pb2.QualityPreference(
        height=200, policy=quality_pb2.QUALITY_POLICY_HIGHEST_BELOW
    )
    reply = await stub.Resolve(
        resolver_service_pb2.ResolveRequest(target=origin.url("dave"), quality=quality)
    )
    assert reply.chosen_variant.height == 180


async def test_a_media_playlist_is_returned_as_is(origin, stub):
    url = origin.media_url("dave", 1)
    reply = await stub.Resolve(resolver_service_pb2.ResolveRequest(target=url))
    assert reply.media_url == url and not reply.HasField("chosen_variant")


@pytest.mark.parametrize(
    ("target", "code", "reason"),
    [
        ("file:///etc/passwd", grpc.StatusCode.INVALID_ARGUMENT, "UNSUPPORTED_PROTOCOL"),
        ("concat:a|b", grpc.StatusCode.INVALID_ARGUMENT, "UNSUPPORTED_PROTOCOL"),
        ("", grpc.StatusCode.INVALID_ARGUMENT, "EMPTY_TARGET"),
        ("bad user!", grpc.StatusCode.INVALID_ARGUMENT, "INVALID_USERNAME"),
        ("someuser", grpc.StatusCode.FAILED_PRECONDITION, "SOURCE_NOT_ENABLED"),
    ],
)
async def test_bad_targets_are_refused_with_a_reason(stub, target, code, reason):
    with pytest.raises(grpc.RpcError) as err:
        await stub.Resolve(resolver_service_pb2.ResolveRequest(target=target))
    parsed = parse_rpc_error(err.value)
    assert (parsed.code, parsed.reason) == (code, reason)


async def test_upstream_failures_are_classified(origin, stub):
    missing = origin.base_url + "/live/nobody/master.m3u8"
    with pytest.raises(grpc.RpcError) as err:
        await stub.Resolve(resolver_service_pb2.ResolveRequest(target=missing))
    assert parse_rpc_error(err.value).reason == "STREAM_NOT_FOUND"
    no_token = origin.url("dave").split("?")[0]
    with pytest.raises(grpc.RpcError) as err:
        await stub.Resolve(resolver_service_pb2.ResolveRequest(target=no_token))
    assert parse_rpc_error(err.value).reason == "STREAM_FORBIDDEN"
