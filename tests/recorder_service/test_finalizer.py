"""Finalizing recordings (measure, remux, index) and recovering after a crash: real ffmpeg, a
real SqliteStore and real files in tmp_path; only the resolver is the test one."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from recorder_service.events import EventBus, Subscription
from recorder_service.finalizer import Finalizer
from recorder_service.manager import SessionManager, StartRequest
from recorder_service.media import mp4_name, remux_to_mp4
from recorder_service.model import EventType, Session, SessionEvent, SessionState
from recorder_service.paths import record_file_name
from recorder_service.ports import QualityWish, ResolvedStream
from recorder_service.retention import check_free_space
from recorder_service.settings import RecorderSettings
from recorder_service.sqlite_store import SqliteStore
from recorder_service.store import Recording, RecordingState
from servicekit.errors import ResourceExhausted
from servicekit.ffmpeg import find_ffmpeg
from simlab.fakes.media import LOW_VARIANT
from simlab.media_check import decode
from tests.recorder_service.conftest import OriginResolver, make_manager

FFMPEG = find_ffmpeg()
# The live streams: 1 s segments of one small variant, so a few seconds make a whole recording.
STREAM = {"segment_duration": 1.0, "variants": (LOW_VARIANT,)}


# -- helpers ---------------------------------------------------------------------------------


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


@dataclass
class Recorded:
    stopped: Session
    finalized: SessionEvent
    events: list[SessionEvent]


async def record(manager: SessionManager, target: str, seconds: float) -> Recorded:
    """Start ``target``, record ``seconds`` after the first bytes, stop, wait for FINALIZED."""
    sub = manager.bus.subscribe(0, manager.running)
    try:
        started = await manager.start(StartRequest(target=target))
        sid = started.session_id
        await next_event(sub, EventType.RECORDING, sid)
        await asyncio.sleep(seconds)
        stopped = await manager.stop(sid)
        finalized = await next_event(sub, EventType.FINALIZED, sid)
    finally:
        sub.close()
    events = [e for e in manager.bus._ring if e.session.session_id == sid]
    return Recorded(stopped, finalized, events)


def build_manager(
    origin: Any,
    out: Path,
    *,
    resolver: Any = None,
    admission: Callable[[], None] | None = None,
    **overrides: Any,
) -> SessionManager:
    """Like conftest's make_manager, with a chosen resolver and admission check."""
    quick = {"stall_timeout": 5.0, "end_grace": 1.0, "restart_backoff_max": 1.0}
    settings = RecorderSettings(
        output_dir=out, progress_interval=0.5, stop_timeout=3, **{**quick, **overrides}
    )
    store = SqliteStore(settings.db_path)
    bus = EventBus()
    finalizer = Finalizer(
        store,
        bus,
        output_dir=out,
        ffmpeg=FFMPEG,
        remux_mp4=settings.remux_mp4,
        keep_ts=settings.keep_ts,
    )
    extra: dict[str, Any] = {} if admission is None else {"admission": admission}
    return SessionManager(
        settings,
        resolver or OriginResolver(origin),
        bus,
        FFMPEG,
        store,
        finalizer=finalizer,
        **extra,
    )


@pytest.fixture
async def managers(origin: Any, tmp_path: Path) -> AsyncIterator[Callable[..., SessionManager]]:
    """Makes managers (each in its own folder under tmp_path); all are shut down after."""
    made: list[SessionManager] = []

    def make(folder: str, **overrides: Any) -> SessionManager:
        manager: SessionManager = make_manager(origin, tmp_path / folder, **overrides)
        made.append(manager)
        return manager

    yield make
    for manager in made:
        await manager.shutdown()
        await manager.finalizer.drain(10)
        manager.store.close()


def media_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def person_and_name(rel: str) -> tuple[str, str]:
    person, _, name = rel.removeprefix("records/").partition("/")
    return person, name


# -- finalizing after a session ----------------------------------------------------------------


async def test_a_stopped_session_is_remuxed_to_a_verified_mp4_and_indexed(
    origin: Any, managers: Callable[..., SessionManager]
) -> None:
    origin.add_stream("fin_mp4", **STREAM)
    origin.add_stream("fin_keep", **STREAM)
    remux = managers("remux", remux_mp4=True)
    keep = managers("keep", remux_mp4=True, keep_ts=True)
    rec, kept = await asyncio.gather(record(remux, "fin_mp4", 1.5), record(keep, "fin_keep", 1.5))

    # REMUX_MP4: the MP4 replaces the TS, in the session and in the store.
    stopped, final = rec.stopped, rec.finalized.session
    assert stopped.state is SessionState.STOPPED and stopped.end_time is not None
    (ts_rel,) = stopped.record_paths
    assert ts_rel.endswith(".ts")
    mp4_rel = ts_rel.removesuffix(".ts") + ".mp4"
    assert final.record_paths == (mp4_rel,)
    assert remux.get(stopped.session_id).record_paths == (mp4_rel,)
    assert not (remux.output_dir / ts_rel).exists()
    mp4 = remux.output_dir / mp4_rel
    person, name = person_and_name(mp4_rel)
    row = remux.store.get_recording(person, name)
    assert row is not None
    assert row.state is RecordingState.COMPLETE and row.format == "mp4"
    assert row.session_id == stopped.session_id and row.part == 0
    assert row.size_bytes == mp4.stat().st_size > 0
    assert row.end_time == stopped.end_time
    # ffmpeg's own count of what it recorded, and what a player gets from the file.
    assert row.media_seconds > 1.5
    assert abs(row.media_seconds - stopped.media_seconds) < 1.0
    assert remux.store.get_recording(person, name.removesuffix(".mp4") + ".ts") is None
    assert [r.file_name for r in remux.store.list_recordings()] == [name]
    checked = decode(mp4)
    assert checked.ok, checked.errors
    assert abs(checked.seconds - row.media_seconds) < 0.5
    assert media_files(remux.output_dir / "records") == [name]

    # KEEP_TS: both files, both rows, both complete.
    stopped = kept.stopped
    (ts_rel,) = stopped.record_paths
    mp4_rel = ts_rel.removesuffix(".ts") + ".mp4"
    assert kept.finalized.session.record_paths == (mp4_rel, ts_rel)
    rows = {r.format: r for r in keep.store.recordings_of_session(stopped.session_id)}
    assert set(rows) == {"mp4", "ts"}
    for fmt, rel in (("mp4", mp4_rel), ("ts", ts_rel)):
        path = keep.output_dir / rel
        assert path.is_file()
        assert rows[fmt].state is RecordingState.COMPLETE
        assert rows[fmt].size_bytes == path.stat().st_size
        assert abs(rows[fmt].media_seconds - stopped.media_seconds) < 1.0
    assert decode(keep.output_dir / mp4_rel).ok


async def test_without_remux_the_ts_is_measured_and_marked_complete(
    origin: Any, managers: Callable[..., SessionManager]
) -> None:
    origin.add_stream("fin_ts", **STREAM)
    manager = managers("ts")
    rec = await record(manager, "fin_ts", 1.0)
    (rel,) = rec.stopped.record_paths
    assert rec.finalized.session.record_paths == (rel,)
    row = manager.store.get_recording(*person_and_name(rel))
    assert row is not None and row.state is RecordingState.COMPLETE and row.format == "ts"
    assert row.size_bytes == (manager.output_dir / rel).stat().st_size > 0
    assert row.media_seconds > 1.0
    assert abs(row.media_seconds - rec.stopped.media_seconds) < 1.0
    assert row.end_time == rec.stopped.end_time
    types = [e.type for e in rec.events]
    assert types[-3:] == [EventType.STOPPING, EventType.STOPPED, EventType.FINALIZED]


async def test_a_stream_that_ends_by_itself_is_finalized(
    origin: Any, managers: Callable[..., SessionManager]
) -> None:
    origin.add_stream("fin_end", window=3, **STREAM)
    manager = managers("end", remux_mp4=True)
    sub = manager.bus.subscribe(0, manager.running)
    started = await manager.start(StartRequest(target="fin_end"))
    sid = started.session_id
    await next_event(sub, EventType.RECORDING, sid)
    origin.stream("fin_end").end()
    stopped = (await next_event(sub, EventType.STOPPED, sid)).session
    finalized = (await next_event(sub, EventType.FINALIZED, sid)).session
    sub.close()
    assert stopped.state is SessionState.STOPPED and stopped.end_reason == "stream ended"
    assert finalized.state is SessionState.STOPPED
    (rel,) = finalized.record_paths
    assert rel.endswith(".mp4")
    row = manager.store.get_recording(*person_and_name(rel))
    assert row is not None and row.state is RecordingState.COMPLETE and row.media_seconds > 0
    assert manager.get(sid).record_paths == (rel,)
    assert manager.running() == []


class VanishingResolver(OriginResolver):
    """Resolves, then the stream disappears: ffmpeg's first request gets a 404."""

    async def resolve(self, target, source_type, quality: QualityWish) -> ResolvedStream:
        resolved = await super().resolve(target, source_type, quality)
        self.origin.remove_stream(target)
        return resolved


async def test_a_start_that_fails_before_any_byte_leaves_no_file_and_no_row(
    origin: Any, tmp_path: Path
) -> None:
    origin.add_stream("fin_gone", **STREAM)
    manager = build_manager(origin, tmp_path, resolver=VanishingResolver(origin))
    try:
        sub = manager.bus.subscribe(0, manager.running)
        started = await manager.start(StartRequest(target="fin_gone"))
        sid = started.session_id
        (planned,) = started.record_paths
        # ffmpeg meets a 404; the watchdog asks the resolver, which keeps saying "not found"
        # past the end grace: the stream is over.
        failed = (await next_event(sub, EventType.STOPPED, sid)).session
        finalized = (await next_event(sub, EventType.FINALIZED, sid)).session
        sub.close()
    finally:
        await manager.shutdown()
        await manager.finalizer.drain(10)
    try:
        assert failed.state is SessionState.STOPPED and failed.end_reason == "stream ended"
        assert failed.restarts >= 1
        assert finalized.record_paths == ()
        assert manager.get(sid).state is SessionState.STOPPED
        assert manager.get(sid).record_paths == ()
        assert manager.store.get_recording(*person_and_name(planned)) is None
        assert manager.store.list_recordings() == []
        assert not (tmp_path / planned).exists()
        assert media_files(tmp_path / "records") == []
        assert not (tmp_path / "sessions" / sid).exists()
        assert manager.running() == [] and not manager.is_busy("fin_gone")
    finally:
        manager.store.close()


async def test_low_disk_space_refuses_a_start_before_resolving(origin: Any, tmp_path: Path) -> None:
    origin.add_stream("fin_full", **STREAM)
    resolver = OriginResolver(origin)
    manager = build_manager(
        origin,
        tmp_path,
        resolver=resolver,
        admission=lambda: check_free_space(tmp_path, 1 << 62),
    )
    try:
        with pytest.raises(ResourceExhausted) as err:
            await manager.start(StartRequest(target="fin_full"))
        assert err.value.reason == "LOW_DISK_SPACE"
        assert resolver.calls == 0
        assert manager.running() == [] and not manager.is_busy("fin_full")
        assert manager.store.list_sessions() == []
        assert not (tmp_path / "records").exists()
        assert not (tmp_path / "sessions").exists()
        assert origin.request_count("fin_full") == 0  # no ffmpeg ever asked for it
    finally:
        await manager.shutdown()
        manager.store.close()


# -- crash recovery ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 s audio+video MPEG-TS, like a part the recorder writes."""
    path = tmp_path_factory.mktemp("clip") / "clip.ts"
    subprocess.run(
        [
            FFMPEG,
            "-nostdin",
            "-hide_banner",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x90:rate=15:duration=2",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "15",
            "-c:a",
            "aac",
            "-f",
            "mpegts",
            "-mpegts_flags",
            "+resend_headers",
            str(path),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return path


class Crashed:
    """The store and files a recorder left behind, built by hand in ``out``."""

    def __init__(self, out: Path, clip: Path) -> None:
        self.out = out
        self.clip = clip
        self.store = SqliteStore(out / "streamrec.db")
        self.bus = EventBus()
        self.sub = self.bus.subscribe(0, list)
        self.start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)

    def finalizer(self, *, remux_mp4: bool = False, ffmpeg: str = FFMPEG) -> Finalizer:
        return Finalizer(
            self.store,
            self.bus,
            output_dir=self.out,
            ffmpeg=ffmpeg,
            remux_mp4=remux_mp4,
            keep_ts=False,
            stale_preview_delay=0.2,
        )

    def file(self, person: str, name: str, mtime: datetime | None = None) -> str:
        path = self.out / "records" / person / name
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.clip, path)
        if mtime is not None:
            os.utime(path, (mtime.timestamp(), mtime.timestamp()))
        return f"records/{person}/{name}"

    def session(self, sid: str, person: str, state: SessionState, *paths: str) -> Session:
        session = Session(
            session_id=sid,
            person=person,
            name=person,
            target=person,
            source_type="hls",
            start_time=self.start,
            correlation_id="",
            preview_path=f"sessions/{sid}/stream.m3u8",
            state=state,
            record_paths=paths,
            end_time=None if not state.ended else self.start + timedelta(seconds=3),
            end_reason="stopped by request" if state.ended else "",
        )
        self.store.save_session(session)
        return session

    def row(self, rel: str, sid: str, state: RecordingState, part: int = 0) -> None:
        person, name = person_and_name(rel)
        self.store.save_recording(
            Recording(
                person=person,
                file_name=name,
                start_time=self.start,
                state=state,
                session_id=sid,
                part=part,
            )
        )

    def get(self, rel: str) -> Recording | None:
        return self.store.get_recording(*person_and_name(rel))

    def finalized(self) -> dict[str, Session]:
        """The sessions a FINALIZED event was published for so far."""
        out = {}
        while not self.sub.queue.empty():
            event = self.sub.queue.get_nowait()
            if event is not None and event.type is EventType.FINALIZED:
                out[event.session.session_id] = event.session
        return out


@pytest.fixture
def crashed(tmp_path: Path, clip: Path) -> Iterator[Crashed]:
    state = Crashed(tmp_path, clip)
    yield state
    state.store.close()


async def test_recover_interrupts_running_sessions_indexes_and_cleans_up(
    crashed: Crashed,
) -> None:
    c = crashed
    # (a)+(b) A split session the crash left RECORDING: part 0 has a WRITING row; part 1 was
    # started after the session was last saved (on disk only).
    sid_a = "a1a1a1a1a1a1"
    part0 = c.file(
        "alice", record_file_name("alice", c.start, sid_a), c.start + timedelta(seconds=2)
    )
    part1_start = c.start + timedelta(seconds=2)
    part1_end = c.start + timedelta(seconds=4)
    part1 = c.file("alice", record_file_name("alice", part1_start, sid_a), part1_end)
    c.session(sid_a, "alice", SessionState.RECORDING, part0)
    c.row(part0, sid_a, RecordingState.WRITING)
    # (g) A session that ended normally, its finalization cut short by a shutdown.
    sid_g = "b2b2b2b2b2b2"
    done = c.file("alice", record_file_name("alice", c.start - timedelta(hours=1), sid_g))
    c.session(sid_g, "alice", SessionState.STOPPED, done)
    c.row(done, sid_g, RecordingState.FINALIZING)
    # (d) Files the store never knew: one named by hand, one named like ours.
    sid_d = "c3c3c3c3c3c3"
    by_hand = c.file("bob", "old_clip.ts")
    ours = c.file("bob", record_file_name("bob", c.start, sid_d))
    # (e) A remux cut short, (f) a stale preview folder.
    leftover = c.out / "records" / "alice" / "x.mp4.part"
    leftover.write_bytes(b"partial")
    preview = c.out / "sessions" / "d4d4d4d4d4d4"
    preview.mkdir(parents=True)
    (preview / "stream.m3u8").write_text("#EXTM3U\n")

    finalizer = c.finalizer()
    interrupted = finalizer.recover()
    # The stale preview goes once a killed recorder's ffmpeg had time to finish (here 0.2 s).
    assert preview.exists()
    for _ in range(100):
        if not preview.exists():
            break
        await asyncio.sleep(0.05)
    assert [s.session_id for s in interrupted] == [sid_a]
    assert await finalizer.drain(20)

    # (a) the session and its files are INTERRUPTED, measured, and announced.
    session = c.store.get_session(sid_a)
    assert session is not None and session.state is SessionState.INTERRUPTED
    assert session.end_time == part1_end  # the newest part's mtime
    assert "recovered" in session.end_reason
    # (b) the part written after the last save joined the session, in order, as part 1.
    assert session.record_paths == (part0, part1)
    rows = c.store.recordings_of_session(sid_a)
    assert [(r.path, r.part) for r in rows] == [(part0, 0), (part1, 1)]
    for r in rows:
        assert r.state is RecordingState.INTERRUPTED
        assert r.media_seconds > 1.5
        assert r.size_bytes == c.clip.stat().st_size
    assert rows[1].start_time == part1_start
    assert c.finalized()[sid_a].record_paths == (part0, part1)
    # (g) a normally ended session's file is COMPLETE, not INTERRUPTED; the session stays STOPPED.
    row = c.get(done)
    assert row is not None and row.state is RecordingState.COMPLETE and row.media_seconds > 1.5
    ended = c.store.get_session(sid_g)
    assert ended is not None and ended.state is SessionState.STOPPED
    # (d) unknown files are indexed COMPLETE and measured, under the session their name gives.
    hand, named = c.get(by_hand), c.get(ours)
    assert hand is not None and named is not None
    assert hand.state is named.state is RecordingState.COMPLETE
    assert hand.session_id == "" and named.session_id == sid_d
    assert named.start_time == c.start
    assert hand.media_seconds > 1.5 and named.media_seconds > 1.5
    assert hand.size_bytes == named.size_bytes == c.clip.stat().st_size
    # (e) and (f)
    assert not leftover.exists()
    assert not preview.exists() and (c.out / "sessions").is_dir()
    # Nothing is left busy.
    busy = [RecordingState.WRITING, RecordingState.FINALIZING]
    assert c.store.recordings_in_states(busy) == []
    assert finalizer.busy_paths == set()


async def test_recover_redoes_a_remux_a_crash_cut_short(crashed: Crashed) -> None:
    c = crashed
    # (c) The MP4 was verified and renamed into place, the TS not deleted yet...
    sid_1 = "e5e5e5e5e5e5"
    ts_1 = c.file("carol", record_file_name("carol", c.start, sid_1))
    await remux_to_mp4(FFMPEG, c.out / ts_1, keep_source=True)
    c.session(sid_1, "carol", SessionState.STOPPED, ts_1)
    c.row(ts_1, sid_1, RecordingState.FINALIZING)
    # ...and the TS deleted, but its row not renamed yet.
    sid_2 = "f6f6f6f6f6f6"
    ts_2 = c.file("carol", record_file_name("carol", c.start + timedelta(minutes=5), sid_2))
    await remux_to_mp4(FFMPEG, c.out / ts_2, keep_source=False)
    c.session(sid_2, "carol", SessionState.STOPPED, ts_2)
    c.row(ts_2, sid_2, RecordingState.FINALIZING)

    finalizer = c.finalizer(remux_mp4=True)
    assert finalizer.recover() == []
    assert await finalizer.drain(20)

    finalized = c.finalized()
    for sid, ts in ((sid_1, ts_1), (sid_2, ts_2)):
        mp4 = ts.removesuffix(".ts") + ".mp4"
        (row,) = c.store.recordings_of_session(sid)
        assert row.path == mp4
        assert row.state is RecordingState.COMPLETE and row.media_seconds > 1.5
        assert row.size_bytes == (c.out / mp4).stat().st_size
        assert not (c.out / ts).exists()
        session = c.store.get_session(sid)
        assert session is not None and session.record_paths == (mp4,)
        assert finalized[sid].record_paths == (mp4,)
    assert media_files(c.out / "records") == sorted(
        Path(ts).with_suffix(".mp4").name for ts in (ts_1, ts_2)
    )


async def test_drain_cancels_a_slow_finalization_and_recover_redoes_it(
    crashed: Crashed, tmp_path: Path
) -> None:
    c = crashed
    # An ffmpeg that remuxes, then hangs: the finalization outlasts the drain.
    remuxed = tmp_path / "remuxed"
    slow = tmp_path / "slow-ffmpeg"
    slow.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        f'  *.mp4.part*) "{FFMPEG}" "$@"; touch "{remuxed}"; exec sleep 60 ;;\n'
        "esac\n"
        f'exec "{FFMPEG}" "$@"\n'
    )
    slow.chmod(0o755)
    sid = "a7a7a7a7a7a7"
    ts = c.file("dave", record_file_name("dave", c.start, sid))
    session = c.session(sid, "dave", SessionState.STOPPED, ts)
    c.row(ts, sid, RecordingState.WRITING)
    original = (c.out / ts).read_bytes()

    finalizer = c.finalizer(remux_mp4=True, ffmpeg=str(slow))
    finalizer.schedule(session, RecordingState.COMPLETE)
    loop = asyncio.get_running_loop()
    end = loop.time() + 20
    while not remuxed.exists():  # the remux ran and ffmpeg now hangs
        assert loop.time() < end, "the slow ffmpeg never remuxed"
        await asyncio.sleep(0.05)
    started = loop.time()
    assert not await finalizer.drain(0.5)
    assert loop.time() - started < 5  # cancelled, and the hung ffmpeg was killed

    row = c.get(ts)
    assert row is not None and row.state is RecordingState.FINALIZING
    assert (c.out / ts).read_bytes() == original
    mp4 = c.out / (ts.removesuffix(".ts") + ".mp4")
    assert not mp4.exists() and not mp4.with_name(mp4.name + ".part").exists()
    assert c.finalized() == {}
    assert finalizer.busy_paths == set()
    stored = c.store.get_session(sid)
    assert stored is not None and stored.record_paths == (ts,)

    # The next start redoes it.
    again = c.finalizer(remux_mp4=True)
    assert again.recover() == []
    assert await again.drain(20)
    (done,) = c.store.recordings_of_session(sid)
    assert done.format == "mp4" and done.state is RecordingState.COMPLETE
    assert done.media_seconds > 1.5
    assert not (c.out / ts).exists() and decode(c.out / done.path).ok
    assert sid in c.finalized()


async def test_redoing_a_cut_short_finalization_keeps_a_finished_parts_row(
    crashed: Crashed,
) -> None:
    """Part 0 was remuxed and pinned; part 1 was still FINALIZING when the shutdown cut in.
    Redoing the session must leave part 0's row (its pin, its start time) alone."""
    c = crashed
    sid = "a1a1a1a1a1a1"
    stamp = c.start.astimezone()
    p0 = f"records/kim/kim_{stamp:%Y%m%d_%H%M%S}_{sid}.ts"
    later = stamp + timedelta(minutes=10)
    p1 = f"records/kim/kim_{later:%Y%m%d_%H%M%S}_{sid}.ts"
    mp4_0 = c.file("kim", mp4_name(person_and_name(p0)[1]))
    c.file("kim", person_and_name(p1)[1])
    c.session(sid, "kim", SessionState.STOPPED, p0, p1)  # saved before finalization ended
    c.store.save_recording(
        Recording(
            person="kim",
            file_name=person_and_name(mp4_0)[1],
            start_time=stamp,
            state=RecordingState.COMPLETE,
            session_id=sid,
            part=0,
            size_bytes=c.clip.stat().st_size,
            media_seconds=2.0,
            pinned=True,
        )
    )
    c.row(p1, sid, RecordingState.FINALIZING, part=1)
    finalizer = c.finalizer(remux_mp4=True)
    finalizer.recover()
    assert await finalizer.drain(30)
    first = c.get(mp4_0)
    assert first is not None and first.pinned and first.start_time == stamp
    assert first.state is RecordingState.COMPLETE and first.part == 0
    second = c.get(p1.removesuffix(".ts") + ".mp4")
    assert second is not None and second.state is RecordingState.COMPLETE and second.part == 1
    assert c.finalized()[sid].record_paths == (mp4_0, second.path)


async def test_rows_whose_session_is_gone_are_finalized_on_their_own(crashed: Crashed) -> None:
    c = crashed
    lost = c.file("lee", "lee_20261101_120000_b2b2b2b2b2b2.ts")
    anonymous = c.file("lee", "clip.ts")
    c.row(lost, "b2b2b2b2b2b2", RecordingState.WRITING)
    c.row(anonymous, "", RecordingState.FINALIZING)
    finalizer = c.finalizer()
    finalizer.recover()
    assert await finalizer.drain(30)
    for rel in (lost, anonymous):
        row = c.get(rel)
        assert row is not None and row.state is RecordingState.INTERRUPTED, rel
        assert row.media_seconds > 1.5
    assert c.store.get_session("b2b2b2b2b2b2") is None  # no session invented for it
    assert c.finalized() == {}


async def test_a_ts_next_to_an_mp4_that_no_row_knows_is_indexed(crashed: Crashed) -> None:
    c = crashed
    ts = c.file("max", "max_20261101_120000_c3c3c3c3c3c3.ts")
    mp4 = c.file("max", "max_20261101_120000_c3c3c3c3c3c3.mp4")
    finalizer = c.finalizer()
    finalizer.recover()
    assert await finalizer.drain(30)
    assert {r.path for r in c.store.list_recordings("max")} == {ts, mp4}
