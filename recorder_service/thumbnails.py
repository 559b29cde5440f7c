"""One picture per channel, taken only when asked: a live frame while it records, else the
site's room image.

Live frames are taken from the tail of the file being written (no second download of the
stream), kept in memory per session with their time, and taken again only when asked and
older than ``THUMBNAIL_REFRESH``. The asks of a moment are gathered (a dashboard asks for all
its cards at once) and their keyframes, taken out of the files by ``ts_keyframe``, decoded by
one ffmpeg: a few milliseconds of CPU a frame instead of ~50 for an ffmpeg each. Room images
are fetched by the resolver (under the site's request budget) and kept on disk,
``OUTPUT_DIR/thumbs/{channel}.{ext}``, refreshed when asked and older than
``ROOM_IMAGE_REFRESH``, and never replaced while the channel is offline: the last good one
stays, and so it does when a fetch fails.

An ask starts the refresh that is due; one that finds no picture at all waits a moment for it,
the others are answered with the picture there is (the next ask gets the new one), so a page
is never held up by a refresh. Concurrent asks share one refresh. Picture ffmpegs run niced,
under one limit for the whole recorder (``THUMBNAIL_CONCURRENCY``), with a time limit; their
failures are logged and never reach a recording, a finalization or a start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from recorder_service.model import EventType, Session, SessionEvent
from recorder_service.paths import room_image_name, thumbs_dir
from recorder_service.pictures import (
    CANVAS,
    PictureError,
    keyframes_command,
    live_command,
    live_window,
    run_picture,
    split_jpegs,
)
from recorder_service.ports import RoomImage
from recorder_service.recordings import check_person
from recorder_service.store import Channel
from recorder_service.ts_keyframe import keyframe_of
from servicekit.errors import DomainError, ErrorKind, NotFound
from servicekit.images import IMAGE_TYPES, sniff_image

log = logging.getLogger(__name__)

_TS_PACKET = 188
_ENDED = (EventType.STOPPED, EventType.FAILED)
#: What the site said of a channel that has no picture worth refreshing.
_GONE = frozenset({"OFFLINE", "NOT_FOUND"})
ROOM_IMAGE_MAX_BYTES = 1024 * 1024


def is_due(
    now: float,
    taken_at: float | None,
    tried_at: float | None,
    *,
    refresh_s: float,
    retry_s: float,
    keep: bool = False,
) -> bool:
    """Whether an ask should take a new picture (times on one monotonic clock).

    Never within ``retry_s`` of the last try, failed or not (a failing source is not
    hammered); always when there is no picture; when the picture is ``refresh_s`` old, unless
    ``keep`` (a channel gone offline keeps its last good picture).
    """
    if tried_at is not None and now - tried_at < retry_s:
        return False
    if taken_at is None:
        return True
    return not keep and now - taken_at >= refresh_s


@dataclass(frozen=True)
class Thumbnail:
    """A channel's picture; ``source`` is "live", "room" or "none" (then ``data`` is empty)."""

    data: bytes
    content_type: str
    taken_at: datetime | None
    source: str


NO_THUMBNAIL = Thumbnail(b"", "", None, "none")


@dataclass
class _Slot:
    """One cached picture and its refresh; ``taken``/``tried`` on the monotonic clock."""

    data: bytes = b""
    content_type: str = ""
    taken_wall: datetime | None = None
    taken: float | None = None
    tried: float | None = None
    task: asyncio.Future[None] | None = None


async def _settle(slot: _Slot, wait_s: float) -> None:
    """Wait up to ``wait_s`` for the slot's refresh (never cancelling it)."""
    task = slot.task
    if task is not None and not task.done():
        await asyncio.wait({task}, timeout=wait_s)


@dataclass
class _Ask:
    """A frame wanted for a session; ``done`` resolves when its batch has run."""

    session: Session
    slot: _Slot
    done: asyncio.Future[None]


def _orientation(session: Session) -> str:
    v = session.variant
    return "portrait" if v is not None and v.height > v.width > 0 else "landscape"


def _window(session: Session) -> int:
    rate = session.bytes_written / session.media_seconds if session.media_seconds > 0 else 0
    return live_window(rate)


def _keyframes(asks: list[_Ask], out: Path) -> list[bytes | None]:
    """Each session's last keyframe (in a thread: a few reads of up to 8 MiB)."""
    return [keyframe_of(out / a.session.record_paths[-1], _window(a.session)) for a in asks]


class LiveThumbnails:
    """Frames of running sessions, per session (see the module).

    The asks of a moment (a dashboard asks for every card at once) are gathered for
    ``gather_s`` and their keyframes decoded by one ffmpeg (``pictures.keyframes_command``); a
    session whose keyframe cannot be taken out of its file gets an ffmpeg of its own.
    """

    def __init__(
        self,
        ffmpeg: str,
        output_dir: Path,
        limiter: asyncio.Semaphore,
        *,
        refresh_s: float = 60.0,
        retry_s: float = 15.0,
        wait_s: float = 2.0,
        timeout_s: float = 10.0,
        gather_s: float = 0.5,
        max_batch: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ffmpeg = ffmpeg
        self._out = output_dir
        self._limiter = limiter
        self.refresh_s = refresh_s
        self._retry_s = retry_s
        self._wait_s = wait_s
        self._timeout_s = timeout_s
        self._gather_s = gather_s
        self._max_batch = max_batch
        self._clock = clock
        self._slots: dict[str, _Slot] = {}
        self._pending: list[_Ask] = []
        self._flusher: asyncio.TimerHandle | None = None
        self._batches: set[asyncio.Task[None]] = set()
        self.taken = 0  # frames taken since start (for the bench and tests)
        self.ffmpegs = 0  # ffmpegs run for them

    async def get(self, session: Session) -> Thumbnail | None:
        """The session's latest frame; None if there is none yet. A due refresh is started;
        only an ask with no frame at all waits for it (up to ``wait_s``): the others get the
        frame there is, and the next ask the new one."""
        slot = self._slots.setdefault(session.session_id, _Slot())
        now = self._clock()
        due = is_due(now, slot.taken, slot.tried, refresh_s=self.refresh_s, retry_s=self._retry_s)
        if due and slot.task is None and session.record_paths:
            slot.tried = now
            slot.task = self._submit(session.snapshot(), slot)
        if not slot.data:
            await _settle(slot, self._wait_s)
        if not slot.data:
            return None
        return Thumbnail(slot.data, slot.content_type, slot.taken_wall, "live")

    def on_event(self, event: SessionEvent) -> None:
        """Bus listener: an ended session's frame goes (its refresh is left to finish)."""
        if event.type in _ENDED:
            self._slots.pop(event.session.session_id, None)

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
        for ask in self._pending:
            ask.done.cancel()
        self._pending = []
        for task in list(self._batches):
            task.cancel()
        await asyncio.gather(*self._batches, return_exceptions=True)

    # -- batches -----------------------------------------------------------------------------

    def _submit(self, session: Session, slot: _Slot) -> asyncio.Future[None]:
        loop = asyncio.get_running_loop()
        ask = _Ask(session, slot, loop.create_future())
        self._pending.append(ask)
        # A session's first frame is waited for: its batch goes after a fifth of the gathering
        # time (a page opened on many new sessions asks a few at a time, over 6 connections).
        gather = self._gather_s / 5 if not slot.data else self._gather_s
        if len(self._pending) >= self._max_batch:
            self._flush()
        elif self._flusher is None or self._flusher.when() > loop.time() + gather:
            if self._flusher is not None:
                self._flusher.cancel()
            self._flusher = loop.call_later(gather, self._flush)
        return ask.done

    def _flush(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        while self._pending:
            batch = self._pending[: self._max_batch]
            self._pending = self._pending[self._max_batch :]
            task = asyncio.create_task(self._run(batch), name="live-thumbnails")
            self._batches.add(task)
            task.add_done_callback(self._batches.discard)

    async def _run(self, batch: list[_Ask]) -> None:
        try:
            await self._take(batch)
        finally:
            for ask in batch:
                ask.slot.task = None
                if not ask.done.done():
                    ask.done.set_result(None)

    async def _take(self, batch: list[_Ask]) -> None:
        started = time.monotonic()
        units = await asyncio.to_thread(_keyframes, batch, self._out)
        groups: dict[str, list[tuple[_Ask, bytes]]] = {}
        alone = []
        for ask, unit in zip(batch, units, strict=True):
            if unit is None:
                alone.append(ask)
            else:
                groups.setdefault(_orientation(ask.session), []).append((ask, unit))
        for orientation, items in groups.items():
            try:
                frames = await self._decode(orientation, [unit for _, unit in items])
            except PictureError as exc:
                log.info(
                    "%d live thumbnails could not be decoded together (%s): one ffmpeg each",
                    len(items),
                    exc,
                    extra={"event.action": "thumbnail.live", "event.outcome": "failure"},
                )
                alone.extend(ask for ask, _ in items)
                continue
            for (ask, _), frame in zip(items, frames, strict=True):
                self._keep(ask, frame)
        for ask in alone:
            await self._take_alone(ask)
        log.debug(
            "%d live thumbnail(s), %d taken on their own",
            len(batch),
            len(alone),
            extra={
                "event.action": "thumbnail.live",
                "event.outcome": "success",
                "event.duration": int((time.monotonic() - started) * 1e9),
                "thumbnail.batch": len(batch),
                "thumbnail.alone": len(alone),
            },
        )

    async def _decode(self, orientation: str, units: list[bytes]) -> list[bytes]:
        """One ffmpeg for these keyframes; PictureError unless it gave one frame for each."""
        argv = keyframes_command(self._ffmpeg, CANVAS[orientation])
        async with self._limiter:
            self.ffmpegs += 1
            data = await run_picture(
                argv, self._timeout_s + 0.1 * len(units), stdin=b"".join(units)
            )
        frames = split_jpegs(data)
        if len(frames) != len(units):
            raise PictureError(f"{len(frames)} frames for {len(units)} keyframes")
        return frames

    def _keep(self, ask: _Ask, frame: bytes) -> None:
        slot = ask.slot
        slot.data, slot.content_type = frame, "image/jpeg"
        slot.taken, slot.taken_wall = self._clock(), datetime.now(UTC)
        self.taken += 1

    async def _take_alone(self, ask: _Ask) -> None:
        session = ask.session
        try:
            frame = await self._frame(session, self._out / session.record_paths[-1])
        except asyncio.CancelledError:
            raise
        except (PictureError, OSError) as exc:
            log.warning(
                "no live thumbnail of %s: %s",
                session.person,
                exc,
                extra={
                    "event.action": "thumbnail.live",
                    "event.outcome": "failure",
                    "session_id": session.session_id,
                    "channel": session.person,
                },
            )
            return
        self._keep(ask, frame)

    async def _frame(self, session: Session, path: Path) -> bytes:
        size = (await asyncio.to_thread(path.stat)).st_size
        window = _window(session)
        canvas = CANVAS[_orientation(session)]
        async with self._limiter:
            # A window with no keyframe (a long keyframe interval) is tried once 4 times larger.
            for span in (window, window * 4):
                offset = max(0, size - span) // _TS_PACKET * _TS_PACKET
                self.ffmpegs += 1
                try:
                    return await run_picture(
                        live_command(self._ffmpeg, path, offset, canvas), self._timeout_s
                    )
                except PictureError as exc:
                    if exc.reason != "NO_FRAME" or offset == 0:
                        raise
        raise PictureError("no keyframe near the end of the recording", reason="NO_FRAME")


class RoomImages:
    """The channels' room images, on disk (see the module)."""

    def __init__(
        self,
        output_dir: Path,
        fetch: Callable[[str, str], Awaitable[RoomImage]],
        *,
        refresh_s: float = 300.0,
        retry_s: float = 60.0,
        wait_s: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dir = thumbs_dir(output_dir)
        self._fetch = fetch
        self.refresh_s = refresh_s
        self._retry_s = retry_s
        self._wait_s = wait_s
        self._clock = clock
        self._slots: dict[str, _Slot] = {}
        self.fetched = 0

    async def get(self, channel: Channel, availability: str) -> Thumbnail | None:
        """The channel's room image; None if there is none. A due refresh is started (never
        while the site says the channel is offline, unless there is no image yet); only an ask
        with no image waits for it (up to ``wait_s``)."""
        name = channel.person  # one file per folder: the same name on two sites is two
        slot = self._slots.get(name)
        if slot is None:
            slot = self._slots[name] = await asyncio.to_thread(self._load, name)
        now = self._clock()
        keep = availability in _GONE
        due = is_due(
            now, slot.taken, slot.tried, refresh_s=self.refresh_s, retry_s=self._retry_s, keep=keep
        )
        if due and slot.task is None:
            slot.tried = now
            slot.task = asyncio.create_task(self._refresh(channel, slot))
        if slot.taken_wall is None:
            await _settle(slot, self._wait_s)
        if slot.taken_wall is None:
            return None
        # What the slot says now: a refresh finishing during the read must not label these
        # bytes with the type (or time) of the image that replaces them.
        for _ in range(2):  # a refresh may replace the file (and its type) under the read
            content_type, taken_wall = slot.content_type, slot.taken_wall
            data = await asyncio.to_thread(self._read, name, content_type)
            if data is not None and taken_wall is not None:
                return Thumbnail(data, content_type, taken_wall, "room")
        return None

    def _path(self, name: str, content_type: str) -> Path:
        return self._dir / room_image_name(name, IMAGE_TYPES[content_type])

    def _load(self, name: str) -> _Slot:
        """What an earlier run left on disk (its age from the file's time)."""
        for content_type in IMAGE_TYPES:
            try:
                mtime = self._path(name, content_type).stat().st_mtime
            except FileNotFoundError:
                continue
            age = max(0.0, time.time() - mtime)
            return _Slot(
                content_type=content_type,
                taken_wall=datetime.fromtimestamp(mtime, UTC),
                taken=self._clock() - age,
            )
        return _Slot()

    def _read(self, name: str, content_type: str) -> bytes | None:
        try:
            return self._path(name, content_type).read_bytes()
        except FileNotFoundError:
            return None

    def _save(self, name: str, image: RoomImage) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        path = self._path(name, image.content_type)
        part = path.with_name(f".{path.name}.part")
        try:
            part.write_bytes(image.data)
            os.replace(part, path)
        finally:
            part.unlink(missing_ok=True)
        for other in IMAGE_TYPES:  # the site switched formats: the old one goes
            if other != image.content_type:
                with contextlib.suppress(FileNotFoundError):
                    self._path(name, other).unlink()

    async def _refresh(self, channel: Channel, slot: _Slot) -> None:
        extra = {"event.action": "thumbnail.room", "channel": channel.username}
        try:
            image = await self._fetch(channel.record_target, channel.source)
            if sniff_image(image.data) != image.content_type or not image.data:
                raise DomainError("the resolver's room image is not what it says")
            if len(image.data) > ROOM_IMAGE_MAX_BYTES:
                raise DomainError(f"the room image has {len(image.data)} bytes")
            await asyncio.to_thread(self._save, channel.person, image)
        except asyncio.CancelledError:
            raise
        except (DomainError, OSError) as exc:
            quiet = isinstance(exc, DomainError) and exc.kind in (
                ErrorKind.NOT_FOUND,
                ErrorKind.FAILED_PRECONDITION,
            )
            log.log(
                logging.DEBUG if quiet else logging.WARNING,
                "room image of %s not refreshed (the last good one stays): %s",
                channel.username,
                exc,
                extra={**extra, "event.outcome": "failure", "error.message": str(exc)},
            )
            return
        finally:
            slot.task = None
        slot.content_type, slot.taken_wall = image.content_type, image.fetched_at
        slot.taken = self._clock()
        self.fetched += 1
        log.debug(
            "room image of %s: %d bytes",
            channel.username,
            len(image.data),
            extra={**extra, "event.outcome": "success", "file.size": len(image.data)},
        )

    async def close(self) -> None:
        tasks = [s.task for s in self._slots.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class ChannelThumbnails:
    """``GetChannelThumbnail``: the live frame of a channel that records, else its room image.

    Only channels on the watch list or recording have pictures: a name nobody watches makes no
    request to the site and no file on disk.
    """

    def __init__(
        self,
        live: LiveThumbnails,
        rooms: RoomImages,
        *,
        running: Callable[[], list[Session]],
        channel: Callable[[str, str], Channel],
        availability: Callable[[str], str],
        enabled: bool = True,
    ) -> None:
        self.live = live
        self.rooms = rooms
        self._running = running
        self._channel = channel
        self._availability = availability
        self.enabled = enabled

    async def get(self, username: str, source: str = "") -> Thumbnail:
        """The picture; NO_THUMBNAIL when there is none (or THUMBNAILS is off). NotFound
        (CHANNEL_NOT_FOUND) for a channel neither watched nor recording. ``username`` is a
        watched channel's (``stripchat:alice``, or with ``source``) or a recording folder."""
        channel: Channel | None
        if source or ":" in username:
            channel = self._channel(username, source)  # a site channel must be watched
            name = channel.person
        else:
            name = check_person(username)
            try:
                channel = self._channel(name, "")
            except NotFound:
                channel = None
            else:
                name = channel.person
        key = channel.key if channel is not None else name
        session = next((s for s in self._running() if s.person == name or s.channel == key), None)
        if channel is None and session is None:
            raise NotFound(
                f"channel {name} is not watched and not recording", reason="CHANNEL_NOT_FOUND"
            )
        if not self.enabled:
            return NO_THUMBNAIL
        if session is not None:
            shot = await self.live.get(session)
            if shot is not None:
                return shot
        if channel is not None:
            room = await self.rooms.get(channel, self._availability(key))
            if room is not None:
                return room
        return NO_THUMBNAIL

    async def close(self) -> None:
        await asyncio.gather(self.live.close(), self.rooms.close())
