"""The gateway's gRPC clients (one channel per service, opened at start-up)."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from grpc import aio

from gateway.settings import GatewaySettings
from servicekit.grpc_interceptors import insecure_channel
from streamrec.v1 import channel_service_pb2_grpc, recorder_service_pb2_grpc


@dataclass
class Backend:
    settings: GatewaySettings
    recorder_channel: aio.Channel
    recorder: recorder_service_pb2_grpc.RecorderServiceStub
    channels: channel_service_pb2_grpc.ChannelServiceStub

    @classmethod
    def connect(cls, settings: GatewaySettings) -> Backend:
        channel = insecure_channel(settings.recorder_addr)
        return cls(
            settings,
            channel,
            recorder_service_pb2_grpc.RecorderServiceStub(channel),
            channel_service_pb2_grpc.ChannelServiceStub(channel),
        )

    async def close(self) -> None:
        await self.recorder_channel.close()


def backend(request: Request) -> Backend:
    """FastAPI dependency: the backend opened by the app's lifespan."""
    found: Backend = request.app.state.backend
    return found
