"""Below the free-space watermark, running sessions are stopped cleanly (their files
finalized and playable) once retention could not make room; above it, nothing happens."""

from __future__ import annotations

import asyncio

from recorder_service.diskguard import disk_guard_loop, guard_once
from recorder_service.manager import StartRequest
from recorder_service.model import EventType, SessionState
from recorder_service.retention import Policy, Retention
from simlab.media_check import decode
from tests.recorder_service.conftest import make_manager, next_event


async def test_low_disk_stops_running_sessions_and_their_files_play(origin, tmp_path) -> None:
    manager = make_manager(origin, tmp_path)
    origin.add_stream("lowdisk", segment_duration=1.0)
    try:
        sub = manager.bus.subscribe(0, manager.running)
        session = await manager.start(StartRequest(target="lowdisk"))
        await next_event(sub, EventType.RECORDING, session.session_id)
        roomy = Retention(manager.store, tmp_path, Policy(), 0, active_paths=manager.active_paths)
        assert not await guard_once(roomy, manager.running, manager.stop)
        assert manager.get(session.session_id).state is SessionState.RECORDING

        full = Retention(
            manager.store, tmp_path, Policy(), 1 << 62, active_paths=manager.active_paths
        )
        stop = asyncio.Event()
        loop = asyncio.create_task(
            disk_guard_loop(full, manager.running, manager.stop, interval_s=0.1, stop=stop)
        )
        await next_event(sub, EventType.STOPPED, session.session_id)
        sub.close()
        stop.set()
        await asyncio.wait_for(loop, 5)
        ended = manager.get(session.session_id)
        assert ended.state is SessionState.STOPPED
        assert "watermark" in ended.end_reason and "MIN_FREE_BYTES" in ended.end_reason
        assert decode(tmp_path / ended.record_paths[0]).ok
        assert manager.running() == []
    finally:
        await manager.shutdown()
        await manager.finalizer.drain(10)
        manager.store.close()


async def test_the_guard_is_off_with_a_zero_watermark(origin, tmp_path) -> None:
    manager = make_manager(origin, tmp_path)
    try:
        off = Retention(manager.store, tmp_path, Policy(), 0, active_paths=manager.active_paths)
        # Returns at once instead of looping.
        await asyncio.wait_for(
            disk_guard_loop(
                off, manager.running, manager.stop, interval_s=0.01, stop=asyncio.Event()
            ),
            1,
        )
    finally:
        manager.store.close()
