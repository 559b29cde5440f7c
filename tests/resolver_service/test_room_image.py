"""Room images against the fake site: fetched under the shared request budget, refused when the
answer is not an image or is too large, and served over a real gRPC server (GetRoomImage)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
import httpx
import pytest

from resolver_service.budget import BudgetConfig
from resolver_service.core import Resolver
from resolver_service.room_image import ROOM_IMAGE_MAX_BYTES
from resolver_service.servicer import ResolverServicer
from resolver_service.settings import ResolverSettings
from resolver_service.site_client import RetryPolicy
from resolver_service.wiring import build_resolver, http_client
from servicekit.errors import DomainError, ErrorKind
from servicekit.grpc_errors import parse_rpc_error
from simlab.fakes.chaturbate_pages import THUMBNAIL
from simlab.fakes.chaturbate_site import FakeChaturbate
from streamrec.v1 import resolver_service_pb2 as pb
from streamrec.v1 import resolver_service_pb2_grpc
from tests.grpc_util import serving

from .sites import FREE, NO_RETRY, chaturbate_env

UA = "Mozilla/5.0 streamrec-test"
NOISE = 0.05  # scheduling noise on arrival times at the fake (see test_chaturbate.py)


@pytest.fixture
def site() -> Iterator[FakeChaturbate]:
    with FakeChaturbate() as running:
        running.add_room("alice", room_status="offline")
        yield running


def settings_for(site: FakeChaturbate, **options: Any) -> ResolverSettings:
    budget = options.pop("budget", FREE)
    retry = options.pop("retry", NO_RETRY)
    return ResolverSettings(
        budget=budget,
        retry=retry,
        env=chaturbate_env(site.base_url, user_agent=UA, **options),
    )


@pytest.fixture
async def make(site: FakeChaturbate) -> AsyncIterator[Callable[..., Resolver]]:
    clients: list[httpx.AsyncClient] = []

    def build(**options: Any) -> Resolver:
        settings = settings_for(site, **options)
        client = http_client(settings)
        clients.append(client)
        return build_resolver(settings, client)

    yield build
    for client in clients:
        await client.aclose()


async def image_error(resolver: Resolver, target: str, source: str | None = None) -> DomainError:
    with pytest.raises(DomainError) as info:
        await resolver.room_image(target, source)
    return info.value


async def test_the_room_image_is_fetched_with_the_user_agent_but_not_the_cookie(make, site) -> None:
    image = await make(cookie="cf_clearance=s3cr3t").room_image("Alice", None)
    assert (image.data, image.content_type) == (THUMBNAIL, "image/jpeg")
    [request] = site.requests("thumb")
    assert request.path == "/ri/alice.jpg"
    assert request.headers["user-agent"] == UA
    assert request.headers["referer"] == f"{site.base_url}/"
    # The image host is not the site: its clearance cookie stays with the site.
    assert "cookie" not in request.headers


async def test_a_room_the_site_does_not_know_has_no_image(make, site) -> None:
    error = await image_error(make(), "nobody")
    assert (error.kind, error.reason) == (ErrorKind.NOT_FOUND, "ROOM_IMAGE_NOT_FOUND")


async def test_an_answer_that_is_not_an_image_is_refused(make, site) -> None:
    # A maintenance page served with HTTP 200 and an image URL: its bytes decide, not its URL.
    site.set_fault("non_json", target="thumb")
    error = await image_error(make(), "alice")
    assert (error.kind, error.reason) == (ErrorKind.UNAVAILABLE, "NOT_AN_IMAGE")


async def test_an_oversized_image_is_refused_while_it_is_read(make, site) -> None:
    site.set_room("alice", image_size=ROOM_IMAGE_MAX_BYTES + 1)
    error = await image_error(make(), "alice")
    assert error.reason == "IMAGE_TOO_LARGE"
    site.set_room("alice", image_size=ROOM_IMAGE_MAX_BYTES)
    image = await make().room_image("alice", None)
    assert len(image.data) == ROOM_IMAGE_MAX_BYTES


async def test_a_challenge_in_place_of_the_image_is_refused(make, site) -> None:
    site.set_fault("challenge", target="thumb", status=403)
    error = await image_error(make(), "alice")
    assert error.reason == "UPSTREAM_HTTP_403"


async def test_a_rate_limited_image_host_is_unavailable_and_not_hammered(make, site) -> None:
    site.set_fault("rate_limit", target="thumb", retry_after=300)
    resolver = make(retry=RetryPolicy(retries=2, max_retry_after=5))
    error = await image_error(resolver, "alice")
    assert (error.kind, error.reason) == (ErrorKind.UNAVAILABLE, "RATE_LIMITED")
    # The host is paused for the Retry-After: the next ask is answered without a request.
    error = await image_error(resolver, "alice")
    assert error.reason == "RATE_LIMITED"
    assert site.request_count("thumb") == 1


async def test_an_hls_url_has_no_room_image_and_sends_nothing(make, site) -> None:
    error = await image_error(make(), "https://cdn.example/live/playlist.m3u8")
    assert (error.kind, error.reason) == (ErrorKind.FAILED_PRECONDITION, "NO_ROOM_IMAGE")
    assert site.request_count() == 0


async def test_room_images_share_the_request_budget_with_status_lookups(make, site) -> None:
    # Same host here (the demo's layout): images and lookups draw from one token bucket.
    rate, burst = 100.0, 4
    resolver = make(budget=BudgetConfig(rate=rate, burst=burst, concurrency=4, jitter=0.0))
    await asyncio.gather(
        *(resolver.room_image("alice", None) for _ in range(60)),
        *(resolver.channel_status("alice", None, skip_cache=True) for _ in range(60)),
    )
    assert site.request_count("thumb") == 60 and site.request_count("api") == 60
    for window in (0.25, 0.5):
        assert site.max_requests_in_window(window) <= burst + rate * (window + NOISE)


async def test_get_room_image_over_grpc(site) -> None:
    settings = settings_for(site)
    async with http_client(settings) as client:
        servicer = ResolverServicer(build_resolver(settings, client))
        async with serving(
            lambda s: resolver_service_pb2_grpc.add_ResolverServiceServicer_to_server(servicer, s),
            "streamrec.v1.ResolverService",
        ) as channel:
            stub = resolver_service_pb2_grpc.ResolverServiceStub(channel)
            reply = await stub.GetRoomImage(pb.GetRoomImageRequest(target="alice"))
            assert (reply.image, reply.content_type) == (THUMBNAIL, "image/jpeg")
            assert reply.fetch_time.seconds > 0
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.GetRoomImage(pb.GetRoomImageRequest(target="nobody"))
            assert info.value.code() is grpc.StatusCode.NOT_FOUND
            assert parse_rpc_error(info.value).reason == "ROOM_IMAGE_NOT_FOUND"
