"""Entry point: ``python -m recorder_service`` (or the ``streamrec-recorder`` script)."""

from __future__ import annotations

import asyncio
import logging

from grpc import aio

from recorder_service.channel_servicer import ChannelServicer
from recorder_service.events import EventBus
from recorder_service.manager import SessionManager
from recorder_service.resolver_client import GrpcResolver
from recorder_service.servicer import RecorderServicer
from recorder_service.settings import RecorderSettings
from servicekit.ffmpeg import find_ffmpeg
from servicekit.grpc_interceptors import insecure_channel
from servicekit.grpc_server import build_server, serve
from servicekit.logs import setup_logging
from streamrec.v1 import (
    channel_service_pb2,
    channel_service_pb2_grpc,
    recorder_service_pb2,
    recorder_service_pb2_grpc,
)

log = logging.getLogger("recorder_service")
SERVICE_NAMES = [
    recorder_service_pb2.DESCRIPTOR.services_by_name["RecorderService"].full_name,
    channel_service_pb2.DESCRIPTOR.services_by_name["ChannelService"].full_name,
]


async def run(settings: RecorderSettings) -> None:
    """Build the recorder and serve until SIGTERM/SIGINT; every session is finalized on the way
    out."""
    ffmpeg = find_ffmpeg(settings.ffmpeg_path)
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    (settings.output_dir / "records").mkdir(exist_ok=True)
    (settings.output_dir / "sessions").mkdir(exist_ok=True)
    log.info(
        "recorder starting",
        extra={
            "event.action": "recorder.config",
            "output_dir": str(settings.output_dir.resolve()),
            "ffmpeg": ffmpeg,
            "resolver_addr": settings.resolver_addr,
            "hls_time": settings.hls_time,
            "hls_list_size": settings.hls_list_size,
        },
    )
    channel = insecure_channel(settings.resolver_addr)
    bus = EventBus(settings.event_ring_size, settings.subscriber_queue_size)
    resolver = GrpcResolver(channel)
    manager = SessionManager(settings, resolver, bus, ffmpeg)
    servicer = RecorderServicer(manager, heartbeat_interval=settings.heartbeat_interval)
    channels = ChannelServicer(resolver)

    def register(server: aio.Server) -> None:
        recorder_service_pb2_grpc.add_RecorderServiceServicer_to_server(servicer, server)
        channel_service_pb2_grpc.add_ChannelServiceServicer_to_server(channels, server)

    app = build_server(
        register,
        SERVICE_NAMES,
        host=settings.host,
        port=settings.port,
    )

    async def drain() -> None:
        await manager.shutdown()
        bus.close()

    app.on_shutdown.append(drain)
    try:
        await serve(app, name="recorder", grace=settings.shutdown_grace)
    finally:
        await channel.close()


def main() -> None:
    """Read settings, set up logging, run."""
    setup_logging("recorder")
    asyncio.run(run(RecorderSettings.from_env()))


if __name__ == "__main__":
    main()
