"""Discontinuities from ffmpeg's own "timestamp discontinuity" warnings: which lines count
(not the jump that follows segments ffmpeg skipped, not the second input reporting the same
break), and how much media the playlist says the break cost."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from recorder_service.convert import gap_pb
from recorder_service.discontinuity import (
    JumpFilter,
    TimestampJump,
    describe,
    measure,
    parse_jump,
)
from recorder_service.hls_window import Window, parse_window
from recorder_service.model import EventType, SessionState, completeness
from recorder_service.runner import Watchdog
from streamrec.v1 import session_pb2
from tests.recorder_service.runner_harness import (
    MEDIA_URL,
    Harness,
    eventually,
    opening,
    waiting_script,
)

# As ffmpeg 7-9 prints them at -loglevel repeat+level+info (seen against the fake CDN).
VIDEO_BACK = (
    "[vist#0:0/h264 @ 0x5561] [warning] timestamp discontinuity (stream id=0): -12000000, "
    "new offset= 12000000"
)
AUDIO_BACK = (
    "[aist#1:0/aac @ 0x55f5] [warning] timestamp discontinuity (stream id=0): -12010666, "
    "new offset= 12010666"
)
AFTER_SKIP = (
    "[vist#0:0/h264 @ 0x5630] [warning] timestamp discontinuity (stream id=0): 15000000, "
    "new offset= -15000000"
)


def test_the_warning_gives_the_input_and_the_jump() -> None:
    assert parse_jump(VIDEO_BACK) == TimestampJump(0, -12.0)
    assert parse_jump(AUDIO_BACK) == TimestampJump(1, -12.010666)
    assert parse_jump(AFTER_SKIP) == TimestampJump(0, 15.0)
    assert parse_jump("[in#0/hls @ 0x1] [warning] DTS 127920 < 1204920 out of order") is None
    assert parse_jump("[in#0/hls @ 0x1] [warning] skipping 15 segments ahead") is None


def test_a_jump_back_is_a_discontinuity_once_for_both_inputs() -> None:
    f = JumpFilter()
    assert f.accept(TimestampJump(1, -12.0), now=100.0, segment_seconds=1.0)
    assert not f.accept(TimestampJump(0, -12.0), now=100.01, segment_seconds=1.0)
    assert f.accept(TimestampJump(0, -3.0), now=130.0, segment_seconds=1.0)  # a later one


def test_the_jump_ahead_after_skipped_segments_is_not_counted_twice() -> None:
    f = JumpFilter()
    f.skipped(now=50.0)  # "skipping 15 segments ahead": already a SKIPPED_SEGMENT gap
    assert not f.accept(TimestampJump(0, 15.0), now=50.01, segment_seconds=1.0)
    # A jump back right after a skip is a break of its own; so is a jump ahead much later.
    assert f.accept(TimestampJump(0, -8.0), now=50.02, segment_seconds=1.0)
    assert f.accept(TimestampJump(0, 40.0), now=90.0, segment_seconds=1.0)


def playlist(gap_tag: str) -> str:
    return (
        "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:10\n"
        "#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z\n#EXTINF:1.000,\nseg_10.ts\n"
        "#EXTINF:1.000,\nseg_11.ts\n"
        f"{gap_tag}#EXTINF:1.000,\nseg_12.ts\n#EXTINF:1.000,\nseg_13.ts\n"
    )


BASE = "http://127.0.0.1:9/live/x/v0/index.m3u8"


def test_the_playlist_dates_measure_the_media_a_break_lost() -> None:
    w = parse_window(
        playlist("#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:06.000Z\n"),
        BASE,
    )
    found = measure(w, "/live/x/v0/seg_12.ts")
    assert found.seconds == 4.0  # 6 s - (2 segments of 1 s)
    # ffmpeg may report it while still on the segment before the tag.
    assert measure(w, "/live/x/v0/seg_11.ts").seconds == 4.0
    text = describe(TimestampJump(0, -12.0), found)
    assert text.startswith("timestamps jumped back 12.0s")
    assert "#EXT-X-DISCONTINUITY before seg_12.ts" in text and "4.0s" in text


def test_a_break_the_playlist_cannot_measure_costs_0_seconds_and_says_so() -> None:
    continuous = parse_window(
        playlist("#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:02.001Z\n"),
        BASE,
    )
    assert measure(continuous, "/live/x/v0/seg_12.ts").seconds == 0.0  # rounding, no gap
    undated = parse_window(playlist("#EXT-X-DISCONTINUITY\n"), BASE)
    found = measure(undated, "/live/x/v0/seg_12.ts")
    assert found.seconds == 0.0 and "without PROGRAM-DATE-TIME" in found.how
    untagged = parse_window(playlist(""), BASE)
    found = measure(untagged, "/live/x/v0/seg_12.ts")
    assert found.seconds == 0.0 and "no #EXT-X-DISCONTINUITY around seg_12.ts" in found.how
    gone = measure(untagged, "/live/x/v0/seg_2.ts")
    assert gone.seconds == 0.0 and "left the playlist" in gone.how


# -- through a runner: a stand-in ffmpeg says it, the ledger gets it -------------------------

DATED_BREAK = playlist("#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:06.000Z\n")
SKIPPED = "[in#0/hls @ 0x1] [warning] skipping 15 segments ahead, expired from playlists"


async def run_fake(
    tmp_path, monkeypatch: pytest.MonkeyPatch, lines: list[str], fetch: Any
) -> Harness:
    monkeypatch.setattr("recorder_service.runner.fetch_window", fetch)
    h = Harness(tmp_path, waiting_script(tmp_path, lines), Watchdog(stall_timeout=60))
    await h.runner.start()
    return h


async def dated(
    url: str, headers: object, within: float = 10.0, proxy: str = "", **_: object
) -> Window:
    assert url == MEDIA_URL and within <= 5
    return parse_window(DATED_BREAK, BASE)


async def test_a_break_is_a_discontinuity_gap_measured_from_the_playlist(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [opening("/live/x/v0/seg_11.ts"), opening("/live/x/v0/seg_12.ts"), VIDEO_BACK]
    h = await run_fake(tmp_path, monkeypatch, lines, dated)
    await h.until(EventType.GAP)
    assert h.session.state is not SessionState.RECONNECTING and h.session.restarts == 0
    session = await h.runner.stop("stopped by request")
    [gap] = h.gaps
    assert (gap.cause, gap.duration_s) == ("DISCONTINUITY", 4.0)
    assert "#EXT-X-DISCONTINUITY before seg_12.ts" in gap.detail
    [event] = h.events(EventType.GAP)
    assert event.extra["cause"] == "DISCONTINUITY" and event.extra["duration_s"] == "4.000"
    assert session.gap_seconds == 4.0


async def test_an_unmeasured_break_is_a_0_second_gap_that_costs_no_completeness(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def unreadable(
        url: str, headers: object, within: float = 10.0, proxy: str = "", **_: object
    ) -> Window:
        raise httpx.ConnectError("connection refused")

    lines = [opening("/live/x/v0/seg_12.ts"), VIDEO_BACK, AUDIO_BACK]
    h = await run_fake(tmp_path, monkeypatch, lines, unreadable)
    await h.until(EventType.GAP)
    h.session.media_seconds = 30.0
    session = await h.runner.stop("stopped by request")
    [gap] = h.gaps  # the audio input's report of the same break is not a second one
    assert (gap.cause, gap.duration_s) == ("DISCONTINUITY", 0.0)
    assert "playlist unreadable" in gap.detail
    [event] = h.events(EventType.GAP)
    assert event.message.startswith("DISCONTINUITY: timestamps jumped back 12.0s")
    assert session.gap_seconds == 0.0 and session.completeness == 1.0
    assert completeness(30.0, sum(g.duration_s for g in h.gaps)) == 1.0
    assert gap_pb(gap).cause == session_pb2.GAP_CAUSE_DISCONTINUITY


async def test_the_jump_after_skipped_segments_is_only_the_skip(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = [opening("/live/x/v0/seg_11.ts"), SKIPPED, opening("/live/x/v0/seg_27.ts"), AFTER_SKIP]
    h = await run_fake(tmp_path, monkeypatch, lines, dated)
    await h.until(EventType.GAP)
    await asyncio.sleep(0.3)
    await h.runner.stop("stopped by request")
    assert [g.cause for g in h.gaps] == ["SKIPPED_SEGMENT"]


async def test_a_break_still_being_measured_reaches_the_ledger_before_the_session_ends(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def slow(
        url: str, headers: object, within: float = 10.0, proxy: str = "", **_: object
    ) -> Window:
        await asyncio.sleep(0.5)
        return parse_window(DATED_BREAK, BASE)

    lines = [opening("/live/x/v0/seg_12.ts"), VIDEO_BACK]
    h = await run_fake(tmp_path, monkeypatch, lines, slow)
    await eventually(lambda: bool(h.runner._measuring))
    session = await h.runner.stop("stopped by request")
    assert [g.duration_s for g in h.gaps] == [4.0] and session.gap_seconds == 4.0
    kinds = [e.type for e in h.bus._ring]
    assert kinds.index(EventType.GAP) < kinds.index(EventType.STOPPED)
