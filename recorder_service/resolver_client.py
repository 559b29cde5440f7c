"""The recorder's view of the resolver: a gRPC client with retries, behind the Resolver port."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC
from typing import TypeVar

import grpc
from grpc import aio

from recorder_service.convert import (
    SOURCE_FROM_PB,
    channel_check_from_pb,
    variant_from_pb,
)
from recorder_service.ports import (
    ChannelCheck,
    QualityWish,
    ResolvedStream,
    RoomImage,
    TargetClass,
)
from servicekit.grpc_errors import domain_error_from_rpc
from servicekit.retry import call_idempotent
from streamrec.v1 import quality_pb2, resolver_service_pb2, resolver_service_pb2_grpc

T = TypeVar("T")


def _source(source: str) -> str:
    """The request's ``source`` field: a registered name, "" (for "auto") to let the target's
    shape decide. The resolver refuses names it does not know."""
    return "" if source == "auto" else source


async def _call(fn: Callable[[], Awaitable[T]]) -> T:
    """An idempotent resolver call; its errors come back as domain errors."""
    try:
        return await call_idempotent(fn)
    except grpc.RpcError as exc:
        raise domain_error_from_rpc(exc, unavailable_reason="RESOLVER_UNAVAILABLE") from None


class GrpcResolver:
    """Calls ResolverService (every call is idempotent: retried on UNAVAILABLE, bounded).

    ``batch_timeout`` bounds BatchGetChannelStatus, which paces itself under the site's request
    budget and can take minutes for thousands of channels without an affiliate code.
    """

    def __init__(
        self, channel: aio.Channel, *, timeout: float = 20.0, batch_timeout: float = 600.0
    ) -> None:
        self._stub = resolver_service_pb2_grpc.ResolverServiceStub(channel)
        self._timeout = timeout
        self._batch_timeout = batch_timeout

    async def channel_status(
        self, target: str, source: str, *, skip_cache: bool = False
    ) -> ChannelCheck:
        """GetChannelStatus: upstream trouble is an availability, not an error."""
        request = resolver_service_pb2.GetChannelStatusRequest(
            target=target, source=_source(source), skip_cache=skip_cache
        )
        response: resolver_service_pb2.GetChannelStatusResponse = await _call(
            lambda: self._stub.GetChannelStatus(request, timeout=self._timeout)
        )
        return channel_check_from_pb(response.status)

    async def batch_channel_status(
        self, targets: Sequence[str], source: str = "auto", *, skip_cache: bool = False
    ) -> list[ChannelCheck]:
        """BatchGetChannelStatus: one check per target, in order."""
        request = resolver_service_pb2.BatchGetChannelStatusRequest(
            targets=list(targets), source=_source(source), skip_cache=skip_cache
        )
        response: resolver_service_pb2.BatchGetChannelStatusResponse = await _call(
            lambda: self._stub.BatchGetChannelStatus(request, timeout=self._batch_timeout)
        )
        return [channel_check_from_pb(s) for s in response.statuses]

    async def room_image(self, target: str, source: str) -> RoomImage:
        """GetRoomImage: the site's picture of the room (NotFound when it has none)."""
        request = resolver_service_pb2.GetRoomImageRequest(target=target, source=_source(source))
        response: resolver_service_pb2.GetRoomImageResponse = await _call(
            lambda: self._stub.GetRoomImage(request, timeout=self._timeout)
        )
        return RoomImage(
            response.image, response.content_type, response.fetch_time.ToDatetime(tzinfo=UTC)
        )

    async def resolve(self, target: str, source: str, quality: QualityWish) -> ResolvedStream:
        """Resolve through the resolver service; its errors come back as domain errors."""
        request = resolver_service_pb2.ResolveRequest(
            target=target,
            source=_source(source),
            quality=quality_pb2.QualityPreference(
                height=quality.height,
                policy=quality_pb2.QualityPolicy.Value(f"QUALITY_POLICY_{quality.policy}"),
                fps=quality.fps,
                fallback=quality.fallback,
            ),
        )
        response: resolver_service_pb2.ResolveResponse = await _call(
            lambda: self._stub.Resolve(request, timeout=self._timeout)
        )
        return ResolvedStream(
            source_type=response.source or SOURCE_FROM_PB.get(response.source_type, "hls"),
            media_url=response.media_url,
            audio_url=response.audio_url or None,
            headers=dict(response.http_headers),
            variant=variant_from_pb(response.chosen_variant)
            if response.HasField("chosen_variant")
            else None,
            person_hint=response.person_hint,
            is_live=response.is_live,
            cdn_proxy=response.cdn_proxy,
            username=response.username,
            direct_hosts=tuple(response.direct_hosts),
        )

    async def classify_target(self, target: str, source: str) -> TargetClass:
        """ClassifyTarget: what ``target`` names, from its shape alone (no call to a site)."""
        request = resolver_service_pb2.ClassifyTargetRequest(target=target, source=_source(source))
        response: resolver_service_pb2.ClassifyTargetResponse = await _call(
            lambda: self._stub.ClassifyTarget(request, timeout=self._timeout)
        )
        return TargetClass(response.source, response.username, response.person_hint)
