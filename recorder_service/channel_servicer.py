"""ChannelService over gRPC: what the recorder knows about channels, for its clients.

Clients talk to the recorder only (the network policy allows gateway -> recorder ->
resolver), so channel status questions are passed on to the resolver from here.
"""

from __future__ import annotations

from grpc import aio

from recorder_service.convert import SOURCE_FROM_PB, channel_check_pb
from recorder_service.ports import StatusChecker
from servicekit.errors import InvalidArgument
from streamrec.v1 import channel_service_pb2, channel_service_pb2_grpc


class ChannelServicer(channel_service_pb2_grpc.ChannelServiceServicer):
    def __init__(self, resolver: StatusChecker) -> None:
        self._resolver = resolver

    async def CheckChannelStatus(
        self, request: channel_service_pb2.CheckChannelStatusRequest, context: aio.ServicerContext
    ) -> channel_service_pb2.CheckChannelStatusResponse:
        source = SOURCE_FROM_PB.get(request.source_type)
        if source is None:
            raise InvalidArgument(
                f"unknown source_type {request.source_type}", reason="UNKNOWN_SOURCE_TYPE"
            )
        check = await self._resolver.channel_status(
            request.target, source, skip_cache=request.skip_cache
        )
        return channel_service_pb2.CheckChannelStatusResponse(status=channel_check_pb(check))
