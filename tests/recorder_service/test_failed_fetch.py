"""A segment ffmpeg failed to fetch is a FAILED_FETCH gap only when ffmpeg went on without it;
when ffmpeg exits instead, the restart resumes at that segment and nothing is counted."""

from __future__ import annotations

import pytest

from recorder_service.hls_window import Window
from recorder_service.model import EventType
from recorder_service.runner import Watchdog
from tests.recorder_service.runner_harness import (
    Harness,
    eventually,
    opening,
    script,
    waiting_script,
)

V = "/live/x/v0/"
FAILED = "[hls @ 0x1] [warning] Failed to open segment {} of playlist 0"


async def test_a_segment_ffmpeg_went_on_without_is_a_gap(tmp_path) -> None:
    lines = [opening(f"{V}seg_5.ts"), FAILED.format(5), opening(f"{V}seg_6.ts")]
    h = Harness(tmp_path, waiting_script(tmp_path, lines), Watchdog(stall_timeout=60))
    await h.runner.start()
    session = await h.runner.stop("stopped by request")
    assert [(g.cause, g.detail) for g in h.gaps] == [
        ("FAILED_FETCH", "segment 5 could not be read")
    ]
    assert [e.extra["cause"] for e in h.events(EventType.GAP)] == ["FAILED_FETCH"]
    assert session.gap_seconds > 0


async def test_a_failed_segment_the_restart_fetches_again_is_no_gap(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fetch(
        url: str, headers: object, within: float = 10.0, proxy: str = "", **_: object
    ) -> Window:
        paths = tuple(f"{V}seg_{n}.ts" for n in range(8, 14))
        return Window(paths, (1.0,) * 6, False, init_paths=frozenset())

    monkeypatch.setattr("recorder_service.runner.fetch_window", fetch)
    first = [opening(f"{V}seg_9.ts"), opening(f"{V}seg_10.ts"), FAILED.format(10)]
    fake = script(tmp_path, first, [opening(f"{V}seg_9.ts"), opening(f"{V}seg_10.ts")])
    h = Harness(tmp_path, fake, Watchdog(stall_timeout=60, backoff_initial=0.01, backoff_max=0.01))
    await h.runner.start()
    await h.until(EventType.RECONNECTING)
    await eventually(lambda: h.runner._part >= 1 and len(h.runner.process.stderr_tail) >= 2)
    session = await h.runner.stop("stopped by request")
    assert h.gaps == [] and h.events(EventType.GAP) == []
    assert session.gap_seconds == 0 and session.restarts == 1
