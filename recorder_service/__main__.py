"""Entry point: ``python -m recorder_service`` (or the ``streamrec-recorder`` script)."""

from __future__ import annotations

import asyncio
import logging

from grpc import aio

from recorder_service.autorecord import AutoRecorder
from recorder_service.channel_servicer import ChannelServicer
from recorder_service.diskguard import disk_guard_loop
from recorder_service.events import EventBus
from recorder_service.finalizer import Finalizer
from recorder_service.manager import SessionManager
from recorder_service.media_wiring import Media
from recorder_service.metrics import EventCounters, RecorderCollector, register_collector
from recorder_service.notify.wiring import Notifications
from recorder_service.paths import records_root
from recorder_service.preview import PreviewManager
from recorder_service.recording_servicer import RecordingServicer
from recorder_service.recordings import RecordingIndex
from recorder_service.resolver_client import GrpcResolver
from recorder_service.resume import resume_sessions
from recorder_service.retention import Policy, Retention, retention_loop
from recorder_service.servicer import RecorderServicer
from recorder_service.settings import RecorderSettings
from recorder_service.sqlite_store import SqliteStore
from recorder_service.system_servicer import SystemServicer
from recorder_service.timeline import AvailabilityHistory
from recorder_service.watchlist import WatchList
from servicekit.errors import DomainError
from servicekit.ffmpeg import find_ffmpeg
from servicekit.grpc_interceptors import service_channel
from servicekit.grpc_server import build_server, serve
from servicekit.log_service import LogServicer, Upstream
from servicekit.logs import log_ring, setup_logging
from servicekit.metrics import serve_metrics
from servicekit.settings import load_or_exit
from streamrec.v1 import (
    channel_service_pb2,
    channel_service_pb2_grpc,
    log_service_pb2,
    log_service_pb2_grpc,
    media_service_pb2,
    media_service_pb2_grpc,
    notification_service_pb2,
    notification_service_pb2_grpc,
    recorder_service_pb2,
    recorder_service_pb2_grpc,
    recording_service_pb2,
    recording_service_pb2_grpc,
    system_service_pb2,
    system_service_pb2_grpc,
)

log = logging.getLogger("recorder_service")
SERVICE_NAMES = [
    recorder_service_pb2.DESCRIPTOR.services_by_name["RecorderService"].full_name,
    channel_service_pb2.DESCRIPTOR.services_by_name["ChannelService"].full_name,
    recording_service_pb2.DESCRIPTOR.services_by_name["RecordingService"].full_name,
    system_service_pb2.DESCRIPTOR.services_by_name["SystemService"].full_name,
    log_service_pb2.DESCRIPTOR.services_by_name["LogService"].full_name,
    media_service_pb2.DESCRIPTOR.services_by_name["MediaService"].full_name,
    notification_service_pb2.DESCRIPTOR.services_by_name["NotificationService"].full_name,
]


async def run(settings: RecorderSettings) -> None:
    """Build the recorder and serve until SIGTERM/SIGINT; every session is finalized on the way
    out."""
    ffmpeg = find_ffmpeg(settings.ffmpeg_path)
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    records_root(settings.output_dir).mkdir(exist_ok=True)
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
            "preview": settings.preview,
        },
    )
    store = SqliteStore(settings.db_path)
    channel = service_channel(settings.resolver_addr, settings.tls.channel_credentials())
    # A session event's listeners write in one transaction (its row, its notifications).
    bus = EventBus(
        settings.event_ring_size, settings.subscriber_queue_size, atomic=store.transaction
    )
    resolver = GrpcResolver(channel)
    finalizer = Finalizer(
        store,
        bus,
        output_dir=settings.output_dir,
        ffmpeg=ffmpeg,
        remux_mp4=settings.remux_mp4,
        keep_ts=settings.keep_ts,
        concurrency=settings.finalize_concurrency,
    )
    retention = Retention(
        store,
        settings.output_dir,
        Policy(max_age_days=settings.retention_days),
        settings.min_free_bytes,
        active_paths=lambda: manager.active_paths(),
        session_history_days=settings.session_history_days,
    )
    manager = SessionManager(
        settings,
        resolver,
        bus,
        ffmpeg,
        store,
        finalizer=finalizer,
        admission=retention.check_free_space,
    )
    bus.add_listener(EventCounters())
    register_collector(
        RecorderCollector(
            manager.running,
            lambda: bus.subscriber_count,
            store.count_channels,
            settings.output_dir,
        )
    )
    # Before anything records: sessions a crash left running are marked and finalized.
    finalizer.recover()
    watchlist = WatchList(store)
    autorecorder = AutoRecorder(
        watchlist,
        resolver,
        manager,
        interval=settings.autorecord_interval,
        jitter=settings.autorecord_jitter,
        concurrency=settings.autorecord_concurrency,
        backoff_max=settings.autorecord_backoff_max,
    )
    bus.add_listener(autorecorder.on_event)

    # The channel timeline's online spans: every change of what the site says, kept 8 days.
    def person_of(key: str) -> str:
        try:
            return watchlist.get(key).person
        except DomainError:  # deleted meanwhile: its key is all there is
            return key

    autorecorder.availability_listeners.append(AvailabilityHistory(store, person_of).note)
    # Notifications: written with the changes that cause them, delivered in the background.
    notifications = Notifications.build(settings, store)
    autorecorder.atomic = retention.atomic = store.transaction
    notifications.attach(
        store=store,
        bus=bus,
        availability_listeners=autorecorder.availability_listeners,
        runtime=autorecorder.runtime.get,
        retention_listeners=retention.deletion_listeners,
    )
    previews = PreviewManager(
        ffmpeg=ffmpeg,
        output_dir=settings.output_dir,
        mode=settings.preview,
        sessions=manager.get,
        hls_time=settings.hls_time,
        hls_list_size=settings.hls_list_size,
        idle_s=settings.preview_idle,
    )
    bus.add_listener(previews.on_event)
    previews.start()
    servicer = RecorderServicer(
        manager,
        heartbeat_interval=settings.heartbeat_interval,
        previews=previews,  # refuses with PREVIEW_OFF itself when previews are off
    )
    channels = ChannelServicer(
        resolver,
        watchlist,
        running=manager.running,
        runtime=autorecorder.runtime.get,
    )
    recordings = RecordingServicer(
        RecordingIndex(store, settings.output_dir, manager.active_paths), retention
    )
    # Pictures: channel thumbnails (live frames, room images), recordings' posters and sheets.
    media = Media.build(
        settings,
        ffmpeg=ffmpeg,
        store=store,
        resolver=resolver,
        index=RecordingIndex(store, settings.output_dir, manager.active_paths),
        running=manager.running,
        channel=watchlist.get,
        runtime=autorecorder.runtime.get,
    )
    media.attach(finalizer, bus)
    system = SystemServicer(store, retention, processes=manager.processes)

    # The resolver's recent log lines are read through us (gateway -> recorder -> resolver).
    logs = LogServicer(
        "recorder",
        log_ring(),
        upstream=Upstream("resolver", log_service_pb2_grpc.LogServiceStub(channel)),
    )

    def register(server: aio.Server) -> None:
        recorder_service_pb2_grpc.add_RecorderServiceServicer_to_server(servicer, server)
        channel_service_pb2_grpc.add_ChannelServiceServicer_to_server(channels, server)
        recording_service_pb2_grpc.add_RecordingServiceServicer_to_server(recordings, server)
        system_service_pb2_grpc.add_SystemServiceServicer_to_server(system, server)
        log_service_pb2_grpc.add_LogServiceServicer_to_server(logs, server)
        media_service_pb2_grpc.add_MediaServiceServicer_to_server(media.servicer, server)
        notification_service_pb2_grpc.add_NotificationServiceServicer_to_server(
            notifications.servicer, server
        )

    app = build_server(
        register,
        SERVICE_NAMES,
        host=settings.host,
        port=settings.port,
        credentials=settings.tls.server_credentials(),
    )
    serve_metrics(settings.host, settings.metrics_port, service="recorder")
    stop = asyncio.Event()
    background = [
        asyncio.create_task(autorecorder.run(stop), name="autorecord"),
        asyncio.create_task(resume_sessions(manager, store, settings.resume_window), name="resume"),
        asyncio.create_task(
            retention_loop(retention, settings.retention_interval, stop), name="retention"
        ),
        asyncio.create_task(
            disk_guard_loop(
                retention,
                manager.running,
                manager.stop,
                interval_s=settings.disk_check_interval,
                stop=stop,
            ),
            name="diskguard",
        ),
        *(asyncio.create_task(work, name="notify") for work in notifications.tasks(stop)),
    ]

    async def drain() -> None:
        # Everything below fits in SHUTDOWN_GRACE (the orchestrator's patience is longer).
        loop = asyncio.get_running_loop()
        began, grace = loop.time(), settings.shutdown_grace
        stop.set()
        # A cycle may be inside a long batch status call: the sessions must not wait for it.
        _, pending = await asyncio.wait(background, timeout=1.0)
        for task in pending:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await previews.close()
        # q, then SIGINT, then SIGKILL: the three steps together within 60 % of the grace.
        await manager.shutdown(stop_timeout=min(settings.stop_timeout, grace * 0.2))
        # Finalizations left unfinished are redone at the next start (their TS is kept).
        await finalizer.drain(max(0.0, grace - (loop.time() - began) - 1.5))
        await media.close()  # pictures not made by now are left undone
        # Deliveries still in flight after a second go out again at the next start.
        await notifications.close()
        bus.close()

    app.on_shutdown.append(drain)
    try:
        await serve(app, name="recorder", grace=settings.shutdown_grace)
    finally:
        for task in background:
            task.cancel()
        await channel.close()
        store.close()


def main() -> None:
    """Read settings, set up logging, run."""
    setup_logging("recorder")
    asyncio.run(run(load_or_exit(RecorderSettings.from_env)))


if __name__ == "__main__":
    main()
