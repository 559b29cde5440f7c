"""Assembling the recorder's pictures from its settings: live thumbnails, room images, the
recordings' posters and contact sheets, and MediaService over them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from recorder_service.autorecord import ChannelRuntime
from recorder_service.events import EventBus
from recorder_service.finalizer import Finalizer
from recorder_service.media_servicer import MediaServicer
from recorder_service.model import Session
from recorder_service.paths import records_root
from recorder_service.recording_pictures import RecordingPictures
from recorder_service.recordings import RecordingIndex
from recorder_service.resolver_client import GrpcResolver
from recorder_service.settings import RecorderSettings
from recorder_service.store import Channel, Store
from recorder_service.thumbnails import ChannelThumbnails, LiveThumbnails, RoomImages


@dataclass
class Media:
    thumbnails: ChannelThumbnails
    pictures: RecordingPictures
    servicer: MediaServicer

    @classmethod
    def build(
        cls,
        settings: RecorderSettings,
        *,
        ffmpeg: str,
        store: Store,
        resolver: GrpcResolver,
        index: RecordingIndex,
        running: Callable[[], list[Session]],
        channel: Callable[[str, str], Channel],
        runtime: Callable[[str], ChannelRuntime | None],
    ) -> Media:
        config = settings.pictures
        out = settings.output_dir
        # One limit for every picture ffmpeg of the recorder (live frames, posters, sheets).
        limiter = asyncio.Semaphore(config.concurrency)

        def availability(username: str) -> str:
            state = runtime(username)
            return state.last_availability if state is not None else ""

        thumbnails = ChannelThumbnails(
            LiveThumbnails(ffmpeg, out, limiter, refresh_s=config.live_refresh),
            RoomImages(out, resolver.room_image, refresh_s=config.room_refresh),
            running=running,
            channel=channel,
            availability=availability,
            enabled=config.enabled,
        )
        pictures = RecordingPictures(
            store, out, ffmpeg, limiter, enabled=config.enabled, sheet=config.sheet
        )
        return cls(thumbnails, pictures, MediaServicer(thumbnails, index, records_root(out)))

    def attach(self, finalizer: Finalizer, bus: EventBus) -> None:
        """Pictures of every file finalized from now on; live frames dropped as sessions end;
        half-written and orphaned pictures of an earlier run removed (call before anything
        records)."""
        self.pictures.recover()
        finalizer.on_finalized = self.pictures.schedule
        bus.add_listener(self.thumbnails.live.on_event)

    async def close(self, within: float = 0.5) -> None:
        """Stop making pictures (a shutdown): refreshes are cancelled, recordings' pictures
        get ``within`` seconds and no new ones start (the rest are left undone)."""
        self.pictures.enabled = False
        await self.thumbnails.close()
        await self.pictures.drain(within)
