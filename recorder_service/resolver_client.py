"""The recorder's view of the resolver: a gRPC client with retries, behind the Resolver port."""

from __future__ import annotations

import grpc
from grpc import aio

from recorder_service.convert import SOURCE_FROM_PB, SOURCE_TO_PB, variant_from_pb
from recorder_service.ports import QualityWish, ResolvedStream
from servicekit.errors import InvalidArgument
from servicekit.grpc_errors import domain_error_from_rpc
from servicekit.retry import call_idempotent
from streamrec.v1 import quality_pb2, resolver_service_pb2, resolver_service_pb2_grpc


class GrpcResolver:
    """Calls ResolverService.Resolve (idempotent: retried on UNAVAILABLE, bounded)."""

    def __init__(self, channel: aio.Channel, *, timeout: float = 20.0) -> None:
        self._stub = resolver_service_pb2_grpc.ResolverServiceStub(channel)
        self._timeout = timeout

    async def resolve(self, target: str, source_type: str, quality: QualityWish) -> ResolvedStream:
        """Resolve through the resolver service; its errors come back as domain errors."""
        try:
            source_pb = SOURCE_TO_PB[source_type]
        except KeyError:
            raise InvalidArgument(
                f"unknown source_type {source_type!r}", reason="UNKNOWN_SOURCE_TYPE"
            ) from None
        request = resolver_service_pb2.ResolveRequest(
            target=target,
            source_type=source_pb,
            quality=quality_pb2.QualityPreference(
                height=quality.height,
                policy=quality_pb2.QualityPolicy.Value(f"QUALITY_POLICY_{quality.policy}"),
                fps=quality.fps,
                fallback=quality.fallback,
            ),
        )
        try:
            response: resolver_service_pb2.ResolveResponse = await call_idempotent(
                lambda: self._stub.Resolve(request, timeout=self._timeout)
            )
        except grpc.RpcError as exc:
            raise domain_error_from_rpc(exc, unavailable_reason="RESOLVER_UNAVAILABLE") from None
        return ResolvedStream(
            source_type=SOURCE_FROM_PB.get(response.source_type, "hls"),
            media_url=response.media_url,
            audio_url=response.audio_url or None,
            headers=dict(response.http_headers),
            variant=variant_from_pb(response.chosen_variant)
            if response.HasField("chosen_variant")
            else None,
            person_hint=response.person_hint,
            is_live=response.is_live,
        )
