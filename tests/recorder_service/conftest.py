import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from recorder_service.events import EventBus, Subscription
from recorder_service.finalizer import Finalizer
from recorder_service.manager import SessionManager
from recorder_service.model import EventType, Session, SessionEvent
from recorder_service.ports import QualityWish, ResolvedStream
from recorder_service.settings import RecorderSettings
from recorder_service.sqlite_store import SqliteStore
from servicekit.errors import InvalidArgument, NotFound
from servicekit.ffmpeg import find_ffmpeg
from simlab.fakes.hls_origin import HlsOrigin


class OriginResolver:
    """Resolves stream names of the fake origin to their first variant; counts calls.

    The real resolver is covered by its own tests and by tests/e2e; here the recorder core
    is exercised on its own against real ffmpeg."""

    def __init__(self, origin):
        self.origin = origin
        self.calls = 0
        self.seen: set[str] = set()

    async def resolve(self, target, source_type, quality: QualityWish) -> ResolvedStream:
        self.calls += 1
        stream = self.origin.get(target)
        if stream is None:
            if self.calls > 1 and target in self.seen:
                # Known, now gone (404): what the real resolver says of a removed playlist.
                raise NotFound(f"{target} is gone", reason="PLAYLIST_NOT_FOUND")
            raise InvalidArgument(f"unknown test stream {target}", reason="INVALID_USERNAME")
        self.seen.add(target)
        return ResolvedStream(
            source_type="hls",
            media_url=self.origin.media_url(target),
            person_hint=target,
            is_live=not stream.ended,
        )


@pytest.fixture(scope="module")
def origin():
    with HlsOrigin() as server:
        yield server


def make_manager(origin, tmp_path, **overrides):
    """A session manager over a real store, finalizer and ffmpeg, in ``tmp_path``."""
    quick = {"stall_timeout": 5.0, "end_grace": 1.0, "restart_backoff_max": 1.0}
    settings = RecorderSettings(
        output_dir=tmp_path, progress_interval=0.5, stop_timeout=3, **{**quick, **overrides}
    )
    store = SqliteStore(settings.db_path)
    bus = EventBus()
    ffmpeg = find_ffmpeg()
    finalizer = Finalizer(
        store,
        bus,
        output_dir=tmp_path,
        ffmpeg=ffmpeg,
        remux_mp4=settings.remux_mp4,
        keep_ts=settings.keep_ts,
    )
    return SessionManager(settings, OriginResolver(origin), bus, ffmpeg, store, finalizer=finalizer)


@contextlib.asynccontextmanager
async def managed(origin, tmp_path, **overrides) -> AsyncIterator[SessionManager]:
    """``make_manager``'s manager; on exit it is shut down, its files finalized and its store
    closed."""
    mgr = make_manager(origin, tmp_path, **overrides)
    try:
        yield mgr
    finally:
        await mgr.shutdown()
        await mgr.finalizer.drain(10)
        mgr.store.close()


@pytest.fixture
async def manager(origin, tmp_path):
    async with managed(origin, tmp_path) as mgr:
        yield mgr


async def next_event(
    sub: Subscription, kind: EventType, session_id: str, within: float = 20.0
) -> SessionEvent:
    """The next ``kind`` event of ``session_id`` on ``sub`` (AssertionError after ``within``)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while (left := end - loop.time()) > 0:
        event = await sub.next(left)
        if event is not None and event.type is kind and event.session.session_id == session_id:
            return event
    raise AssertionError(f"no {kind.value} event for {session_id} within {within}s")


def bare_session(sid: str) -> Session:
    """A session that only exists to be published about (no ffmpeg, no store row)."""
    return Session(
        session_id=sid,
        person=sid,
        name=sid,
        target=sid,
        source_type="hls",
        start_time=datetime.now(UTC),
        correlation_id="c",
        preview_path="",
    )
