"""ResolverService over gRPC: a thin adapter over :class:`resolver_service.core.Resolver`."""

from __future__ import annotations

from grpc import aio

from resolver_service.core import Resolver
from resolver_service.playlist import Variant
from resolver_service.quality import QualityPolicy, QualityPreference
from streamrec.v1 import quality_pb2, resolver_service_pb2, resolver_service_pb2_grpc

_SOURCE_NAMES = {
    resolver_service_pb2.SOURCE_TYPE_UNSPECIFIED: None,
    resolver_service_pb2.SOURCE_TYPE_HLS: "hls",
    resolver_service_pb2.SOURCE_TYPE_CHATURBATE: "chaturbate",
}
_SOURCE_TO_PB = {
    "hls": resolver_service_pb2.SOURCE_TYPE_HLS,
    "chaturbate": resolver_service_pb2.SOURCE_TYPE_CHATURBATE,
}


def preference(pb: quality_pb2.QualityPreference) -> QualityPreference:
    """The domain preference for a wire one (invalid values raise InvalidArgument)."""
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


class ResolverServicer(resolver_service_pb2_grpc.ResolverServiceServicer):
    def __init__(self, resolver: Resolver) -> None:
        self._resolver = resolver

    async def Resolve(
        self, request: resolver_service_pb2.ResolveRequest, context: aio.ServicerContext
    ) -> resolver_service_pb2.ResolveResponse:
        resolved = await self._resolver.resolve(
            request.target, _SOURCE_NAMES.get(request.source_type), preference(request.quality)
        )
        r = resolved.resolution
        return resolver_service_pb2.ResolveResponse(
            source_type=_SOURCE_TO_PB.get(r.source, resolver_service_pb2.SOURCE_TYPE_UNSPECIFIED),
            media_url=r.media_url,
            audio_url=r.audio_url or "",
            http_headers=r.http_headers,
            chosen_variant=variant_pb(r.chosen) if r.chosen else None,
            variants=[variant_pb(v) for v in r.variants],
            is_live=r.is_live,
            person_hint=resolved.person_hint,
        )
