"""The watchdog against real ffmpeg and the fake live CDN: a 404 burst or a stall shorter than
the live window costs no media (every published segment is fetched, in order, across the
restart), a window that moves past the recording is a GAP in the ledger, and the session keeps
its id through restarts."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from recorder_service.manager import StartRequest
from recorder_service.model import EventType, SessionState
from simlab.media_check import decode
from tests.recorder_service.conftest import managed, next_event

_SEGMENT = re.compile(r"seg_(\d+)\.ts$")
WATCHDOG = {"stall_timeout": 3.0, "end_grace": 30.0, "restart_backoff_max": 1.0}


def fetched_segments(origin: Any, name: str) -> list[int]:
    """Segment numbers the origin served (200) for ``name``'s first variant, in order."""
    out = []
    for record in origin.requests(name):
        m = _SEGMENT.search(record.path)
        if record.kind == "segment" and record.status == 200 and "/v0/" in record.path and m:
            out.append(int(m[1]))
    return out


def assert_contiguous(numbers: list[int]) -> None:
    seen = sorted(set(numbers))
    missing = sorted(set(range(seen[0], seen[-1] + 1)) - set(seen))
    assert not missing, f"segments never fetched: {missing}"


async def record_through(manager: Any, origin: Any, name: str, fault: dict[str, Any]) -> Any:
    """Record ``name``, inject ``fault``, record on once it recovered; (stopped, its events)."""
    sub = manager.bus.subscribe(0, manager.running)
    session = await manager.start(StartRequest(target=name))
    sid = session.session_id
    await next_event(sub, EventType.RECORDING, sid)
    await asyncio.sleep(2)
    origin.stream(name).set_fault(**fault)
    await next_event(sub, EventType.RECONNECTING, sid, within=30)
    # recording again after the fault, and for a few segments more
    await next_event(sub, EventType.RECORDING, sid, within=30)
    await asyncio.sleep(4)
    stopped = await manager.stop(sid)
    events = [e for e in manager.bus._ring if e.session.session_id == sid]
    sub.close()
    return stopped, events


async def test_a_404_burst_shorter_than_the_window_loses_no_segment(origin, tmp_path) -> None:
    name = "wd_404"
    origin.add_stream(name, segment_duration=1.0, window=15)
    # Longer than ffmpeg's default restart point (3 segments from the live edge) would cover.
    async with managed(origin, tmp_path, **WATCHDOG) as manager:
        stopped, events = await record_through(
            manager, origin, name, {"fault": "http_error", "status": 404, "duration": 7.0}
        )
        assert stopped.state is SessionState.STOPPED and stopped.restarts >= 1
        assert len(stopped.record_paths) >= 2  # a new part after the restart
        assert_contiguous(fetched_segments(origin, name))
        for rel in stopped.record_paths:
            assert decode(tmp_path / rel).ok, rel
        assert not [e for e in events if e.type is EventType.GAP]
        assert manager.store.gaps_of(stopped.record_paths[0]) == []
        assert stopped.completeness == 1.0


async def test_a_stall_is_detected_and_recording_resumes_where_it_stopped(origin, tmp_path) -> None:
    name = "wd_stall"
    origin.add_stream(name, segment_duration=1.0, window=12)
    async with managed(origin, tmp_path, **WATCHDOG) as manager:
        stopped, events = await record_through(
            manager, origin, name, {"fault": "stall", "duration": 5.0}
        )
        kinds = [e.type for e in events]
        assert EventType.STALLED in kinds and EventType.RECONNECTING in kinds
        assert stopped.state is SessionState.STOPPED and stopped.restarts >= 1
        assert_contiguous(fetched_segments(origin, name))
        for rel in stopped.record_paths:
            assert decode(tmp_path / rel).ok, rel


async def test_a_window_that_moves_past_the_recording_is_a_gap_in_the_ledger(
    origin, tmp_path
) -> None:
    name = "wd_gap"
    origin.add_stream(name, segment_duration=1.0, window=4)
    # 404s for longer than the window: the segments published meanwhile are gone for good.
    async with managed(origin, tmp_path, **WATCHDOG) as manager:
        stopped, events = await record_through(
            manager, origin, name, {"fault": "http_error", "status": 404, "duration": 9.0}
        )
        gaps = [e for e in events if e.type is EventType.GAP]
        assert gaps, [e.type for e in events]
        assert gaps[0].extra["cause"] == "RESTART" and float(gaps[0].extra["duration_s"]) > 1
        # The gap counts from when media stopped, not from the last restart that got none.
        seen = set(fetched_segments(origin, name))
        never = set(range(min(seen), max(seen))) - seen
        assert abs(float(gaps[0].extra["duration_s"]) - len(never)) <= 1.5, (gaps[0].extra, never)
        ledger = [g for rel in stopped.record_paths for g in manager.store.gaps_of(rel)]
        assert [g.cause for g in ledger] == [e.extra["cause"] for e in gaps]
        assert stopped.session_id == gaps[0].session.session_id
        lost = sum(float(e.extra["duration_s"]) for e in gaps)
        assert stopped.gap_seconds == pytest.approx(lost, abs=0.01)
        assert stopped.completeness == pytest.approx(
            stopped.media_seconds / (stopped.media_seconds + lost), abs=0.001
        )
        assert 0 < stopped.completeness < 1


async def test_a_discontinuity_mid_recording_is_in_the_ledger_and_recording_goes_on(
    origin, tmp_path
) -> None:
    name = "wd_discontinuity"
    origin.add_stream(name, segment_duration=1.0, window=6)
    async with managed(origin, tmp_path, **WATCHDOG) as manager:
        sub = manager.bus.subscribe(0, manager.running)
        session = await manager.start(StartRequest(target=name))
        sid = session.session_id
        await next_event(sub, EventType.RECORDING, sid)
        await asyncio.sleep(2)
        # The next published segment restarts the "encoder": #EXT-X-DISCONTINUITY before it
        # and its timestamps start again (the origin's clock runs on: nothing is missing).
        origin.stream(name).set_fault("discontinuity")
        at = origin.stream(name).state()["published"]
        gap = await next_event(sub, EventType.GAP, sid, within=15)
        media_then = manager.get(sid).media_seconds
        await asyncio.sleep(3)
        running = manager.get(sid)
        assert running.state is SessionState.RECORDING and running.restarts == 0
        assert running.media_seconds > media_then + 1  # still recording after the break
        stopped = await manager.stop(sid)
        events = [e for e in manager.bus._ring if e.session.session_id == sid]
        sub.close()
        assert gap.extra["cause"] == "DISCONTINUITY" and gap.extra["duration_s"] == "0.000"
        assert "timestamps jumped back" in gap.extra["detail"]
        assert f"#EXT-X-DISCONTINUITY before seg_{at}.ts" in gap.extra["detail"]
        assert [e.extra["cause"] for e in events if e.type is EventType.GAP] == ["DISCONTINUITY"]
        [ledger] = [g for rel in stopped.record_paths for g in manager.store.gaps_of(rel)]
        assert (ledger.cause, ledger.duration_s, ledger.session_id) == ("DISCONTINUITY", 0.0, sid)
        assert ledger.detail == gap.extra["detail"]
        assert stopped.gap_seconds == 0 and stopped.completeness == 1.0
        assert len(stopped.record_paths) == 1  # the same part: no restart
        assert_contiguous(fetched_segments(origin, name))
        # Decodes to its end. At the break ffmpeg moves one audio packet on by a tick of its
        # 90 kHz clock ("Non-monotonic DTS; changing to..."), which a strict decode reports
        # once the audio is timed in samples; nothing else may be wrong.
        decoded = decode(tmp_path / stopped.record_paths[0])
        assert decoded.seconds >= stopped.media_seconds - 1.5, decoded
        for line in decoded.errors.splitlines():
            assert "non monotonically increasing dts" in line, decoded.errors


async def test_an_origin_failing_for_good_ends_the_session_when_the_restart_budget_is_spent(
    origin, tmp_path
) -> None:
    name = "wd_budget"
    origin.add_stream(name, segment_duration=1.0, window=6, token="s3cr3t")
    async with managed(origin, tmp_path, **{**WATCHDOG, "restart_limit": 2}) as manager:
        sub = manager.bus.subscribe(0, manager.running)
        session = await manager.start(StartRequest(target=name))
        sid = session.session_id
        await next_event(sub, EventType.RECORDING, sid)
        await asyncio.sleep(2)
        # Every request fails while the channel stays live: each restart gets no media.
        origin.stream(name).set_fault("http_error", status=500, target="all")
        failed = await next_event(sub, EventType.FAILED, sid, within=40)
        events = [e for e in manager.bus._ring if e.session.session_id == sid]
        sub.close()
    ended = failed.session
    assert ended.state is SessionState.FAILED and ended.restarts == 3
    assert ended.end_reason.startswith("gave up after 2 restarts without media: ffmpeg exited")
    # ffmpeg's own last words say why, without the CDN token of the URLs they name.
    assert "5XX Server Error" in ended.end_reason, ended.end_reason
    assert "token=[REDACTED]" in ended.end_reason and "s3cr3t" not in ended.end_reason
    assert [e.type for e in events].count(EventType.RECONNECTING) == 2
    assert decode(tmp_path / ended.record_paths[0]).ok


@pytest.mark.parametrize("segment_s", [1.0, 2.0])
async def test_segments_expiring_early_in_a_recording_are_counted_at_the_playlists_length(
    origin, tmp_path, segment_s
) -> None:
    """Seconds after the start, media time over segments opened says little about the
    segment length; the gap is counted at the length the playlist declares."""
    name = f"wd_early_jump_{segment_s:g}"
    origin.add_stream(name, segment_duration=segment_s, window=4)
    async with managed(origin, tmp_path, **WATCHDOG) as manager:
        sub = manager.bus.subscribe(0, manager.running)
        session = await manager.start(StartRequest(target=name))
        sid = session.session_id
        await next_event(sub, EventType.RECORDING, sid)
        origin.stream(name).set_fault("window_jump", segments=8)
        gap = await next_event(sub, EventType.GAP, sid, within=20)
        await manager.stop(sid)
        sub.close()
    assert gap.extra["cause"] == "SKIPPED_SEGMENT", gap.extra
    count = int(gap.extra["detail"].split(" ", 1)[0])
    assert count >= 1 and float(gap.extra["duration_s"]) == pytest.approx(count * segment_s)
