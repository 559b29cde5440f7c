"""Channel thumbnails: a live frame of a growing recording from the fake origin (real ffmpeg,
niced, one for concurrent asks, taken again only when stale), room images kept on disk (the
last good one stays), and which picture a channel gets."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from recorder_service.manager import SessionManager, StartRequest
from recorder_service.model import EventType, SessionEvent
from recorder_service.ports import RoomImage
from recorder_service.store import Channel
from recorder_service.thumbnails import ChannelThumbnails, LiveThumbnails, RoomImages
from servicekit.errors import NotFound, UpstreamError
from servicekit.ffmpeg import find_ffmpeg
from servicekit.images import jpeg_size
from simlab.fakes.chaturbate_pages import THUMBNAIL
from simlab.fakes.media import SD_VARIANT

from .conftest import managed

FFMPEG = find_ffmpeg()
PNG = b"\x89PNG\r\n\x1a\n" + bytes(40)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def recording(origin: Any, tmp_path: Path) -> AsyncIterator[tuple[SessionManager, list[str]]]:
    """Three sessions recording the fake origin's 640x360 stream for a few seconds already."""
    if origin.get("thumbs") is None:  # one live stream for the module, as a CDN would have
        origin.add_stream("thumbs", segment_duration=1.0, variants=(SD_VARIANT,))
    async with managed(origin, tmp_path) as manager:
        sub = manager.bus.subscribe(0, manager.running)
        ids = []
        for person in ("thumbs", "thumbs_b", "thumbs_c"):
            session = await manager.start(StartRequest(target="thumbs", person=person))
            ids.append(session.session_id)
        waiting, end = set(ids), asyncio.get_running_loop().time() + 30
        while waiting:  # in whatever order they come
            event = await sub.next(max(0.1, end - asyncio.get_running_loop().time()))
            assert event is not None, f"{waiting} never recording"
            if event.type is EventType.RECORDING:
                waiting.discard(event.session.session_id)
        await asyncio.sleep(3)
        sub.close()
        yield manager, ids


def niceness_spy(tmp_path: Path) -> tuple[str, Path]:
    """An ffmpeg that notes its own nice value, then is the real one."""
    log = tmp_path / "nice.log"
    spy = tmp_path / "ffmpeg-spy"
    spy.write_text(f"#!/bin/sh\ncut -d' ' -f19 /proc/$$/stat >> {log}\nexec {FFMPEG} \"$@\"\n")
    spy.chmod(0o755)
    return str(spy), log


async def settled(live: LiveThumbnails) -> None:
    """Let the refreshes under way finish."""
    for _ in range(100):
        if not live._batches and not live._pending:
            return
        await asyncio.sleep(0.05)


async def test_live_frames_of_many_sessions_come_from_one_niced_ffmpeg(
    recording: tuple[SessionManager, list[str]], tmp_path: Path
) -> None:
    manager, ids = recording
    ffmpeg, nice_log = niceness_spy(tmp_path)
    clock = Clock()
    live = LiveThumbnails(
        ffmpeg, tmp_path, asyncio.Semaphore(2), refresh_s=60, wait_s=10, clock=clock
    )
    asks = [live.get(manager.get(sid)) for sid in ids] + [live.get(manager.get(ids[0]))]
    frames = await asyncio.gather(*asks)
    assert all(f is not None for f in frames)
    first = frames[0]
    assert first is not None and frames[-1] is not None and frames[-1].data == first.data
    assert (first.source, first.content_type) == ("live", "image/jpeg")
    assert jpeg_size(first.data) == (320, 180)
    assert first.taken_at is not None and first.taken_at <= datetime.now(UTC)
    # Three sessions (four asks): three frames, one ffmpeg, at the lowest priority.
    assert (live.taken, live.ffmpegs) == (3, 1)
    assert nice_log.read_text().split() == ["19"]

    clock.now += 30  # fresh: no new ffmpeg
    again = await live.get(manager.get(ids[0]))
    assert again is not None and again.data == first.data and live.ffmpegs == 1
    clock.now += 31  # stale: answered with the frame there is, a new one is taken behind it
    await asyncio.sleep(1.5)
    stale = await live.get(manager.get(ids[0]))
    assert stale is not None and stale.taken_at == first.taken_at
    await settled(live)
    newer = await live.get(manager.get(ids[0]))
    assert newer is not None and live.taken == 4
    assert newer.taken_at is not None and newer.taken_at > first.taken_at

    # The session ends: its frame goes.
    ended = manager.get(ids[0])
    live.on_event(SessionEvent(1, datetime.now(UTC), EventType.STOPPED, ended))
    assert ids[0] not in live._slots
    await live.close()


async def test_a_file_whose_keyframe_cannot_be_taken_out_gets_an_ffmpeg_of_its_own(
    recording: tuple[SessionManager, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manager, ids = recording
    monkeypatch.setattr("recorder_service.thumbnails.keyframe_of", lambda path, window: None)
    live = LiveThumbnails(FFMPEG, tmp_path, asyncio.Semaphore(2), wait_s=10)
    frames = await asyncio.gather(*(live.get(manager.get(sid)) for sid in ids[:2]))
    assert all(f is not None and jpeg_size(f.data) == (320, 180) for f in frames)
    assert (live.taken, live.ffmpegs) == (2, 2)


async def test_a_failed_live_frame_is_logged_and_not_retried_at_once(
    recording: tuple[SessionManager, list[str]], tmp_path: Path
) -> None:
    manager, ids = recording
    broken = tmp_path / "broken-ffmpeg"
    broken.write_text("#!/bin/sh\necho 'no such codec' >&2\nexit 1\n")
    broken.chmod(0o755)
    clock = Clock()
    live = LiveThumbnails(str(broken), tmp_path, asyncio.Semaphore(1), wait_s=5, clock=clock)
    assert await live.get(manager.get(ids[0])) is None
    clock.now += 5  # within the retry pause: not asked again
    assert await live.get(manager.get(ids[0])) is None
    # The batch failed, then the frame on its own: two ffmpegs, and no third.
    assert live.ffmpegs == 2 and live._slots[ids[0]].tried == 1000.0


# -- room images ------------------------------------------------------------------------------


class Site:
    """A stand-in for the resolver's GetRoomImage."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.answer: bytes | Exception = THUMBNAIL
        self.gate: asyncio.Event | None = None  # when set, answers wait for it

    async def fetch(self, target: str, source_type: str) -> RoomImage:
        self.calls.append((target, source_type))
        if self.gate is not None:
            await self.gate.wait()
        if isinstance(self.answer, Exception):
            raise self.answer
        kind = "image/png" if self.answer.startswith(b"\x89PNG") else "image/jpeg"
        return RoomImage(self.answer, kind, datetime.now(UTC))


def channel(name: str = "anna", **fields: Any) -> Channel:
    now = datetime.now(UTC)
    return Channel(username=name, created_at=now, updated_at=now, **fields)


async def test_a_room_image_is_fetched_when_asked_and_kept_on_disk(tmp_path: Path) -> None:
    site, clock = Site(), Clock()
    rooms = RoomImages(tmp_path, site.fetch, refresh_s=300, retry_s=60, clock=clock)
    got = await rooms.get(channel(), "ONLINE")
    assert got is not None and (got.data, got.source) == (THUMBNAIL, "room")
    assert (tmp_path / "thumbs" / "anna.jpg").read_bytes() == THUMBNAIL
    assert site.calls == [("anna", "chaturbate")]
    clock.now += 200  # fresh
    await rooms.get(channel(), "ONLINE")
    assert len(site.calls) == 1
    clock.now += 101  # stale: fetched again (behind the answer), in the format now served
    site.answer, site.gate = PNG, asyncio.Event()
    got = await rooms.get(channel(), "ONLINE")
    assert got is not None and got.content_type == "image/jpeg" and len(site.calls) == 2
    assert got.data == THUMBNAIL
    site.gate.set()
    await asyncio.sleep(0.1)
    got = await rooms.get(channel(), "ONLINE")
    assert got is not None and got.content_type == "image/png" and len(site.calls) == 2
    assert sorted(p.name for p in (tmp_path / "thumbs").iterdir()) == ["anna.png"]


async def test_the_last_good_room_image_stays_offline_and_when_the_site_fails(
    tmp_path: Path,
) -> None:
    site, clock = Site(), Clock()
    rooms = RoomImages(tmp_path, site.fetch, refresh_s=300, retry_s=60, clock=clock)
    assert await rooms.get(channel(), "ONLINE") is not None
    clock.now += 1000
    offline = await rooms.get(channel(), "OFFLINE")  # stale, but offline: not replaced
    assert offline is not None and offline.data == THUMBNAIL and len(site.calls) == 1
    site.answer = UpstreamError("the image host is down", reason="UPSTREAM_5XX")
    failed = await rooms.get(channel(), "ONLINE")
    await asyncio.sleep(0.05)
    assert failed is not None and failed.data == THUMBNAIL and len(site.calls) == 2
    clock.now += 30  # failed 30 s ago: not asked again yet
    await rooms.get(channel(), "ONLINE")
    assert len(site.calls) == 2
    # A later run finds the last good image on disk, with its age.
    again = RoomImages(tmp_path, site.fetch, refresh_s=300, clock=Clock())
    site.answer = NotFound("gone", reason="ROOM_IMAGE_NOT_FOUND")
    kept = await again.get(channel(), "OFFLINE")
    assert kept is not None and kept.data == THUMBNAIL and len(site.calls) == 2


async def test_bytes_that_are_not_what_the_resolver_said_are_not_kept(tmp_path: Path) -> None:
    async def lying(target: str, source_type: str) -> RoomImage:
        return RoomImage(b"<html>not an image</html>", "image/jpeg", datetime.now(UTC))

    rooms = RoomImages(tmp_path, lying)
    assert await rooms.get(channel(), "ONLINE") is None
    assert not (tmp_path / "thumbs").exists() or not os.listdir(tmp_path / "thumbs")


# -- which picture a channel gets -------------------------------------------------------------


async def test_a_recording_channel_shows_its_live_frame_else_its_room_image(
    recording: tuple[SessionManager, list[str]], tmp_path: Path
) -> None:
    manager, _ = recording
    site = Site()
    watched = {"thumbs": channel("thumbs"), "anna": channel("anna")}

    def get(name: str, source: str = "") -> Channel:
        if source or name not in watched:
            raise NotFound(f"{name} is not watched", reason="CHANNEL_NOT_FOUND")
        return watched[name]

    limiter = asyncio.Semaphore(2)
    thumbnails = ChannelThumbnails(
        LiveThumbnails(FFMPEG, tmp_path, limiter, wait_s=10),
        RoomImages(tmp_path, site.fetch),
        running=manager.running,
        channel=get,
        availability=lambda name: "ONLINE",
    )
    live = await thumbnails.get("Thumbs")
    assert live.source == "live" and jpeg_size(live.data) == (320, 180)
    room = await thumbnails.get("anna")
    assert (room.source, room.data) == ("room", THUMBNAIL)
    assert site.calls == [("anna", "chaturbate")]  # the recording channel's room was never asked
    with pytest.raises(NotFound):
        await thumbnails.get("nobody")
    with pytest.raises(Exception, match="person"):
        await thumbnails.get("../etc")
    thumbnails.enabled = False
    assert (await thumbnails.get("anna")).source == "none"
    await thumbnails.close()


async def test_the_same_name_on_two_sites_has_two_room_images(tmp_path: Path) -> None:
    site = Site()
    watched = {
        "anna": channel("anna"),
        "othersite:anna": channel("anna", source="othersite", person="othersite-anna"),
    }

    def get(name: str, source: str = "") -> Channel:
        key = f"{source}:{name}" if source else name
        if key not in watched:
            raise NotFound(f"{key} is not watched", reason="CHANNEL_NOT_FOUND")
        return watched[key]

    thumbnails = ChannelThumbnails(
        LiveThumbnails(FFMPEG, tmp_path, asyncio.Semaphore(1)),
        RoomImages(tmp_path, site.fetch),
        running=lambda: [],
        channel=get,
        availability=lambda key: "ONLINE",
    )
    assert (await thumbnails.get("anna")).source == "room"
    site.answer = PNG
    assert (await thumbnails.get("anna", "othersite")).data == PNG
    assert (await thumbnails.get("othersite:anna")).data == PNG
    assert site.calls == [("anna", "chaturbate"), ("anna", "othersite")]
    assert (tmp_path / "thumbs" / "anna.jpg").read_bytes() == THUMBNAIL
    assert (tmp_path / "thumbs" / "othersite-anna.png").read_bytes() == PNG
    with pytest.raises(NotFound):
        await thumbnails.get("anna", "thirdsite")
    await thumbnails.close()
