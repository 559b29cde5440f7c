"""ResolverService over gRPC: a thin adapter over :class:`resolver_service.core.Resolver`."""

from __future__ import annotations

from typing import Protocol

from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio

from resolver_service.core import Resolver
from resolver_service.playlist import Variant
from resolver_service.quality import QualityPolicy, QualityPreference
from resolver_service.status import ChannelStatus
from resolver_service.targets import TargetKind
from servicekit.errors import InvalidArgument
from streamrec.v1 import quality_pb2, resolver_service_pb2, resolver_service_pb2_grpc

# The deprecated enum, still understood from old clients and still filled for them.
_SOURCE_NAMES = {
    resolver_service_pb2.SOURCE_TYPE_UNSPECIFIED: None,
    resolver_service_pb2.SOURCE_TYPE_HLS: "hls",
    resolver_service_pb2.SOURCE_TYPE_CHATURBATE: "chaturbate",
}
_SOURCE_TO_PB = {
    "hls": resolver_service_pb2.SOURCE_TYPE_HLS,
    "chaturbate": resolver_service_pb2.SOURCE_TYPE_CHATURBATE,
}


class _HasSource(Protocol):
    source: str
    source_type: resolver_service_pb2.SourceType.ValueType


def _source_name(request: _HasSource) -> str | None:
    """The source a request names: ``source`` (any registered name) wins over the deprecated
    ``source_type``; neither: the target's shape decides."""
    if request.source:
        return request.source
    if request.source_type not in _SOURCE_NAMES:
        raise InvalidArgument(
            f"unknown source_type {request.source_type}", reason="UNKNOWN_SOURCE_TYPE"
        )
    return _SOURCE_NAMES[request.source_type]


def source_type_pb(source: str) -> resolver_service_pb2.SourceType.ValueType:
    """The deprecated enum's value for ``source`` (UNSPECIFIED for the sources it never had)."""
    return _SOURCE_TO_PB.get(source, resolver_service_pb2.SOURCE_TYPE_UNSPECIFIED)


def preference(pb: quality_pb2.QualityPreference) -> QualityPreference:
    """The domain preference for a wire one (invalid values raise InvalidArgument)."""
    if pb.policy not in quality_pb2.QualityPolicy.values():
        raise InvalidArgument(f"unknown quality policy {pb.policy}", reason="INVALID_QUALITY")
    name = quality_pb2.QualityPolicy.Name(pb.policy).removeprefix("QUALITY_POLICY_")
    policy = QualityPolicy.BEST if name == "UNSPECIFIED" else QualityPolicy[name]
    return QualityPreference(
        height=pb.height or None,
        policy=policy,
        fps=pb.fps or None,
        fallback=pb.fallback if pb.HasField("fallback") else True,
    )


def variant_pb(v: Variant) -> quality_pb2.Variant:
    return quality_pb2.Variant(
        width=v.width or 0,
        height=v.height or 0,
        fps=v.frame_rate or 0.0,
        bandwidth=v.bandwidth,
        codecs=v.codecs or "",
        name=v.name or "",
    )


def channel_status_pb(status: ChannelStatus) -> resolver_service_pb2.ChannelStatus:
    """The wire form of a domain ChannelStatus."""
    checked = Timestamp()
    checked.FromDatetime(status.checked_at)
    pb = resolver_service_pb2.ChannelStatus(
        target=status.target,
        source_type=source_type_pb(status.source),
        source=status.source,
        availability=resolver_service_pb2.ChannelAvailability.Value(
            f"CHANNEL_AVAILABILITY_{status.availability.value}"
        ),
        room_status=status.room_status,
        title=status.title,
        thumbnail_url=status.thumbnail_url,
        checked_time=checked,
        message=status.message,
        reason=status.reason,
        method=status.method,
        retry_after_seconds=round(status.retry_after or 0),
    )
    if status.viewers is not None:
        pb.viewers = status.viewers
    return pb


class ResolverServicer(resolver_service_pb2_grpc.ResolverServiceServicer):
    def __init__(self, resolver: Resolver) -> None:
        self._resolver = resolver

    async def Resolve(
        self, request: resolver_service_pb2.ResolveRequest, context: aio.ServicerContext
    ) -> resolver_service_pb2.ResolveResponse:
        resolved = await self._resolver.resolve(
            request.target, _source_name(request), preference(request.quality)
        )
        r = resolved.resolution
        return resolver_service_pb2.ResolveResponse(
            source_type=source_type_pb(r.source),
            source=r.source,
            username=r.username,
            cdn_proxy=r.cdn_proxy or "",
            media_url=r.media_url,
            audio_url=r.audio_url or "",
            http_headers=r.http_headers,
            chosen_variant=variant_pb(r.chosen) if r.chosen else None,
            variants=[variant_pb(v) for v in r.variants],
            is_live=r.is_live,
            person_hint=resolved.person_hint,
            direct_hosts=[h for h in r.direct_hosts if h],
        )

    async def GetChannelStatus(
        self, request: resolver_service_pb2.GetChannelStatusRequest, context: aio.ServicerContext
    ) -> resolver_service_pb2.GetChannelStatusResponse:
        status = await self._resolver.channel_status(
            request.target,
            _source_name(request),
            skip_cache=request.skip_cache,
        )
        return resolver_service_pb2.GetChannelStatusResponse(status=channel_status_pb(status))

    async def BatchGetChannelStatus(
        self,
        request: resolver_service_pb2.BatchGetChannelStatusRequest,
        context: aio.ServicerContext,
    ) -> resolver_service_pb2.BatchGetChannelStatusResponse:
        statuses = await self._resolver.batch_channel_status(
            list(request.targets),
            _source_name(request),
            skip_cache=request.skip_cache,
        )
        return resolver_service_pb2.BatchGetChannelStatusResponse(
            statuses=[channel_status_pb(s) for s in statuses]
        )

    async def ClassifyTarget(
        self, request: resolver_service_pb2.ClassifyTargetRequest, context: aio.ServicerContext
    ) -> resolver_service_pb2.ClassifyTargetResponse:
        target, folder = self._resolver.classify(request.target, request.source or None)
        return resolver_service_pb2.ClassifyTargetResponse(
            source=target.source,
            username=target.value if target.kind is TargetKind.USERNAME else "",
            person_hint=folder,
        )

    async def GetRoomImage(
        self, request: resolver_service_pb2.GetRoomImageRequest, context: aio.ServicerContext
    ) -> resolver_service_pb2.GetRoomImageResponse:
        image = await self._resolver.room_image(request.target, _source_name(request))
        fetched = Timestamp()
        fetched.FromDatetime(image.fetched_at)
        return resolver_service_pb2.GetRoomImageResponse(
            image=image.data, content_type=image.content_type, fetch_time=fetched
        )
