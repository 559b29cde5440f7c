"""Split recordings (SPLIT_EVERY, SPLIT_AT_MIDNIGHT) with the real ffmpeg segment muxer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from recorder_service.manager import SessionManager, StartRequest
from recorder_service.model import EventType, Session, SessionState
from recorder_service.paths import parse_record_name
from recorder_service.store import RecordingState
from simlab.fakes.media import LOW_VARIANT
from simlab.media_check import decode
from tests.recorder_service.conftest import managed, next_event


@pytest.fixture
async def split_manager(
    request: pytest.FixtureRequest, origin: Any, tmp_path: Path
) -> AsyncIterator[SessionManager]:
    async with managed(origin, tmp_path, **request.param) as manager:
        yield manager


def started(rel: str, session: Session) -> datetime:
    """The start time a part's name gives; checks the name is ``{person}_{stamp}_{sid}.ts``."""
    prefix = f"records/{session.person}/"
    assert rel.startswith(prefix)
    parsed = parse_record_name(rel.removeprefix(prefix))
    assert parsed is not None, rel
    assert (parsed.person, parsed.session_id, parsed.ext) == (
        session.person,
        session.session_id,
        "ts",
    )
    return parsed.started


def check_parts(manager: SessionManager, stopped: Session, finalized: Session) -> list[str]:
    """What every split recording must satisfy; returns its parts."""
    parts = list(stopped.record_paths)
    folder = manager.output_dir / "records" / stopped.person
    assert parts == [f"records/{stopped.person}/{p.name}" for p in sorted(folder.iterdir())]
    assert list(finalized.record_paths) == parts
    stamps = [started(rel, stopped) for rel in parts]
    assert stamps == sorted(set(stamps)), "two parts share a name"
    rows = manager.store.recordings_of_session(stopped.session_id)
    assert [r.path for r in rows] == parts
    assert [r.part for r in rows] == list(range(len(parts)))
    assert all(r.state is RecordingState.COMPLETE for r in rows)
    assert [r.start_time for r in rows] == sorted({r.start_time for r in rows})
    for rel, row in zip(parts, rows, strict=True):
        path = manager.output_dir / rel
        assert row.size_bytes == path.stat().st_size > 0
        assert row.media_seconds > 0.4
        checked = decode(path)
        assert checked.ok, f"{rel}: {checked.errors}"
    # No media lost or doubled between parts: they add up to what ffmpeg recorded.
    total = sum(r.media_seconds for r in rows)
    assert abs(total - stopped.media_seconds) < 0.6, (total, stopped.media_seconds)
    assert stopped.bytes_written == sum(r.size_bytes for r in rows)
    return parts


@pytest.mark.parametrize("split_manager", [{"split_every": 2}], indirect=True)
async def test_split_every_cuts_parts_that_add_up_to_the_recording(
    origin: Any, split_manager: SessionManager
) -> None:
    manager = split_manager
    origin.add_stream("split_every", segment_duration=1.0, variants=(LOW_VARIANT,))
    sub = manager.bus.subscribe(0, manager.running)
    session = await manager.start(StartRequest(target="split_every"))
    sid = session.session_id
    assert session.record_paths == ()  # listed as ffmpeg creates them
    await next_event(sub, EventType.RECORDING, sid)
    await asyncio.sleep(5)
    stopped = await manager.stop(sid)
    finalized = (await next_event(sub, EventType.FINALIZED, sid)).session
    sub.close()
    assert stopped.state is SessionState.STOPPED

    parts = check_parts(manager, stopped, finalized)
    assert len(parts) >= 3
    rows = manager.store.recordings_of_session(sid)
    # Cut at the first keyframe (one a second) past every 2 s of the clock from the start: a
    # part holds whole seconds of media, what arrived in its 2 s of wall time. A reload ffmpeg
    # makes late on a busy machine moves a second or two from one part to the next (a part
    # of exactly one keyframe interval was seen under load).
    middle = [r.media_seconds for r in rows[1:-1]]
    assert all(0.9 < s < 5.1 for s in middle), middle
    events = [e for e in manager.bus._ring if e.session.session_id == sid]
    rotated = [e for e in events if e.type is EventType.FILE_ROTATED]
    assert [e.session.record_paths[-1] for e in rotated] == parts[1:]
    assert all(e.message == f"new part {e.session.record_paths[-1]}" for e in rotated)


async def start_in_an_odd_second() -> None:
    """Wait for the start of an odd second of the clock."""
    while True:
        now = time.time()
        if int(now) % 2 == 1 and now % 1 < 0.3:
            return
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    "split_manager", [{"split_every": 2, "split_at_midnight": True}], indirect=True
)
async def test_clock_split_cuts_on_even_seconds_of_the_local_clock(
    origin: Any, split_manager: SessionManager
) -> None:
    manager = split_manager
    # Half-second segments: ffmpeg reloads the playlist every half second, so the keyframe
    # that makes the cut is read less than a second after the boundary it follows.
    origin.add_stream("split_clock", segment_duration=0.5, variants=(LOW_VARIANT,))
    sub = manager.bus.subscribe(0, manager.running)
    # Started in an odd second: cuts counted from the start would fall on odd seconds.
    await start_in_an_odd_second()
    session = await manager.start(StartRequest(target="split_clock"))
    sid = session.session_id
    assert session.start_time.astimezone().second % 2 == 1
    for _ in range(2):
        await next_event(sub, EventType.FILE_ROTATED, sid)
    stopped = await manager.stop(sid)
    finalized = (await next_event(sub, EventType.FINALIZED, sid)).session
    sub.close()

    parts = check_parts(manager, stopped, finalized)
    assert len(parts) >= 3
    stamps = [started(rel, stopped) for rel in parts]
    assert all(s.second % 2 == 0 for s in stamps[1:]), [f"{s:%H:%M:%S}" for s in stamps]


@pytest.mark.parametrize("split_manager", [{"split_size": 65_536, "hls_time": 1}], indirect=True)
async def test_size_split_numbers_parts_that_add_up_to_the_recording(
    origin: Any, split_manager: SessionManager
) -> None:
    manager = split_manager
    origin.add_stream("split_size", segment_duration=1.0, variants=(LOW_VARIANT,))
    sub = manager.bus.subscribe(0, manager.running)
    session = await manager.start(StartRequest(target="split_size"))
    sid = session.session_id
    for _ in range(2):
        await next_event(sub, EventType.FILE_ROTATED, sid)
    stopped = await manager.stop(sid)
    finalized = (await next_event(sub, EventType.FINALIZED, sid)).session
    sub.close()

    parts = list(stopped.record_paths)
    assert len(parts) >= 3 and list(finalized.record_paths) == parts
    names = [parse_record_name(p.rsplit("/", 1)[1]) for p in parts]
    assert all(n is not None and n.session_id == sid for n in names)
    # Numbered from _p0, in order, one start time for all (the session's).
    assert [n.part for n in names if n] == list(range(len(parts)))
    folder = manager.output_dir / "records" / stopped.person
    assert {p.name for p in folder.iterdir()} == {p.rsplit("/", 1)[1] for p in parts}
    rows = manager.store.recordings_of_session(sid)
    assert [r.path for r in rows] == parts
    for rel, row in zip(parts, rows, strict=True):
        path = manager.output_dir / rel
        assert row.size_bytes == path.stat().st_size > 0
        assert decode(path).ok
    # Every part but the last passed the size, by at most about one segment.
    for row in rows[:-1]:
        assert 65_536 <= row.size_bytes < 65_536 + 400_000, row
    total = sum(r.media_seconds for r in rows)
    assert abs(total - stopped.media_seconds) < 0.6, (total, stopped.media_seconds)
