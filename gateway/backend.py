"""The gateway's gRPC clients (one channel per service, opened at start-up)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from fastapi import Request
from grpc import aio

from gateway.settings import GatewaySettings
from servicekit.errors import DomainError
from servicekit.grpc_interceptors import service_channel
from streamrec.v1 import (
    channel_service_pb2_grpc,
    recorder_service_pb2_grpc,
    recording_service_pb2_grpc,
    system_service_pb2_grpc,
)

T = TypeVar("T")
#: The page size asked for when the gateway lists everything (the services' maximum).
PAGE_SIZE = 1000
_MAX_PAGES = 10_000


@dataclass
class Backend:
    settings: GatewaySettings
    recorder_channel: aio.Channel
    recorder: recorder_service_pb2_grpc.RecorderServiceStub
    channels: channel_service_pb2_grpc.ChannelServiceStub
    recordings: recording_service_pb2_grpc.RecordingServiceStub
    system: system_service_pb2_grpc.SystemServiceStub

    @classmethod
    def connect(cls, settings: GatewaySettings) -> Backend:
        channel = service_channel(settings.recorder_addr, settings.tls.channel_credentials())
        return cls(
            settings=settings,
            recorder_channel=channel,
            recorder=recorder_service_pb2_grpc.RecorderServiceStub(channel),
            channels=channel_service_pb2_grpc.ChannelServiceStub(channel),
            recordings=recording_service_pb2_grpc.RecordingServiceStub(channel),
            system=system_service_pb2_grpc.SystemServiceStub(channel),
        )

    async def close(self) -> None:
        await self.recorder_channel.close()


def backend(request: Request) -> Backend:
    """FastAPI dependency: the backend opened by the app's lifespan."""
    found: Backend = request.app.state.backend
    return found


async def all_pages(fetch: Callable[[str], Awaitable[tuple[Sequence[T], str]]]) -> list[T]:
    """Every item of a paged List call: ``fetch(page_token)`` returns one page's items and the
    next token (empty on the last page). A token seen twice (a server bug) ends in an error
    rather than a loop that never ends."""
    items: list[T] = []
    seen: set[str] = set()
    token = ""
    for _ in range(_MAX_PAGES):
        page, token = await fetch(token)
        items.extend(page)
        if not token:
            return items
        if token in seen:
            break
        seen.add(token)
    raise DomainError("the recorder's paging did not end", reason="PAGING_LOOP")
