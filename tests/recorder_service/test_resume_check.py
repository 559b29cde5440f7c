"""The resume check: a restarted ffmpeg whose first media segment is later than the one after
the last recorded segment skipped the ones between (a RESTART gap of their playlist
durations); starting on the last recorded segment (the planned overlap) or the next one loses
nothing. Then the same through a runner and a stand-in ffmpeg."""

from __future__ import annotations

import httpx
import pytest

from recorder_service.hls_window import Window
from recorder_service.model import EventType
from recorder_service.resume_check import ResumePlan, check_resume
from recorder_service.runner import Watchdog
from tests.recorder_service.runner_harness import Harness, eventually, opening, script

V = "/live/x/v0/"


def window(first: int, count: int, durations: list[float] | None = None) -> Window:
    paths = tuple(f"{V}seg_{n}.ts" for n in range(first, first + count))
    return Window(paths, tuple(durations or [2.0] * count), False, init_paths=frozenset())


def test_starting_on_the_last_recorded_segment_or_the_next_loses_nothing() -> None:
    plan = ResumePlan(window(8, 6), last=2)  # seg_10 was the last recorded
    assert check_resume(plan, f"{V}seg_10.ts", 2.0) is None  # the planned overlap
    assert check_resume(plan, f"{V}seg_11.ts", 2.0) is None  # the window slid by one
    assert check_resume(plan, f"{V}seg_9.ts", 2.0) is None


def test_a_later_start_skipped_the_segments_between_by_their_playlist_durations() -> None:
    plan = ResumePlan(window(8, 6, [2.0, 2.0, 2.0, 1.5, 2.5, 2.0]), last=2)
    skipped = check_resume(plan, f"{V}seg_13.ts", 9.0)
    assert skipped is not None
    assert (skipped.count, skipped.seconds) == (2, 4.0)  # seg_11 and seg_12
    assert "resumed at seg_13.ts instead of the segment after seg_10.ts" in skipped.detail


def test_a_start_past_the_window_read_counts_by_segment_numbers() -> None:
    plan = ResumePlan(window(8, 4, [2.0, 2.0, 2.0, 3.0]), last=2)  # seg_8..seg_11
    skipped = check_resume(plan, f"{V}seg_15.ts", 2.5)
    # seg_11 (3 s, listed) and seg_12..seg_14 (the runner's 2.5 s estimate each)
    assert skipped is not None and (skipped.count, skipped.seconds) == (4, 10.5)


def test_nothing_is_claimed_when_the_segment_cannot_be_placed() -> None:
    plan = ResumePlan(window(8, 4), last=2)
    assert check_resume(plan, "/other/path/chunk-a.ts", 2.0) is None
    assert check_resume(plan, f"{V}video_99.ts", 2.0) is None  # numbered differently


def test_an_initialization_section_is_not_the_first_media_segment() -> None:
    w = Window((f"{V}seg_1.m4s",), (2.0,), False, init_paths=frozenset({f"{V}init.mp4"}))
    plan = ResumePlan(w, last=0)
    assert not plan.is_media(f"{V}init.mp4") and plan.is_media(f"{V}seg_1.m4s")


@pytest.mark.parametrize(("first", "lost"), [(13, 2.0), (12, 1.0), (11, 0.0), (10, 0.0)])
async def test_the_runner_notes_a_restart_that_started_late(
    tmp_path, monkeypatch: pytest.MonkeyPatch, first: int, lost: float
) -> None:
    # The playlist as the watchdog reads it before the restart: seg_8..seg_13, 1 s each.
    async def fetch(
        url: str, headers: object, within: float = 10.0, proxy: str = "", **_: object
    ) -> Window:
        return window(8, 6, [1.0] * 6)

    monkeypatch.setattr("recorder_service.runner.fetch_window", fetch)
    fake = script(tmp_path, [opening(f"{V}seg_10.ts")], [opening(f"{V}seg_{first}.ts")])
    wd = Watchdog(stall_timeout=60, backoff_initial=0.01, backoff_max=0.01)
    h = Harness(tmp_path, fake, wd)
    await h.runner.start()
    await h.until(EventType.RECONNECTING)
    # until the restarted ffmpeg has named its first segment
    await eventually(lambda: h.runner._part >= 1 and bool(h.runner.process.stderr_tail))
    session = await h.runner.stop("stopped by request")
    restart_gaps = [g for g in h.gaps if g.cause == "RESTART"]
    if lost:
        # seg_10 was recorded; seg_11 up to the one before the first opened were lost.
        assert [g.duration_s for g in restart_gaps] == [lost]
        assert f"resumed at seg_{first}.ts" in restart_gaps[0].detail
        assert [e.extra["cause"] for e in h.events(EventType.GAP)] == ["RESTART"]
    else:
        assert restart_gaps == [] and h.events(EventType.GAP) == []
    assert session.gap_seconds == lost and session.restarts == 1


def test_without_a_playlist_read_segment_numbers_still_tell_a_late_start() -> None:
    plan = ResumePlan.blind(f"{V}seg_19.ts")
    assert check_resume(plan, f"{V}seg_19.ts", 1.0) is None
    assert check_resume(plan, f"{V}seg_20.ts", 1.0) is None
    skipped = check_resume(plan, f"{V}seg_22.ts", 1.0)  # ffmpeg's default: near the edge
    assert skipped is not None and (skipped.count, skipped.seconds) == (2, 2.0)


def test_segment_numbers_are_read_from_the_name_not_the_extension() -> None:
    plan = ResumePlan.blind(f"{V}seg_19.m4s")
    skipped = check_resume(plan, f"{V}seg_23.m4s", 2.0)
    assert skipped is not None and (skipped.count, skipped.seconds) == (3, 6.0)
    assert check_resume(plan, f"{V}init.mp4", 2.0) is None
    cdn = ResumePlan.blind("/hls/media_w1_b5000000_t64RlBT=_1234.ts")
    skipped = check_resume(cdn, "/hls/media_w1_b5000000_t64RlBT=_1236.ts", 2.0)
    assert skipped is not None and skipped.count == 1


async def test_the_runner_notes_a_late_start_after_an_unreadable_playlist(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 404 burst ends between the watchdog's read of the playlist and ffmpeg's: ffmpeg, given
    # no -live_start_index, starts near the live edge.
    async def burst(
        url: str, headers: object, within: float = 10.0, proxy: str = "", **_: object
    ) -> Window:
        raise httpx.ConnectError("404 burst")

    monkeypatch.setattr("recorder_service.runner.fetch_window", burst)
    fake = script(tmp_path, [opening(f"{V}seg_19.ts")], [opening(f"{V}seg_22.ts")])
    wd = Watchdog(stall_timeout=60, backoff_initial=0.01, backoff_max=0.01)
    h = Harness(tmp_path, fake, wd)
    await h.runner.start()
    await h.until(EventType.GAP)
    session = await h.runner.stop("stopped by request")
    [gap] = h.gaps
    # seg_20 and seg_21, at the runner's segment estimate (2 s until it has seen intervals)
    assert (gap.cause, gap.duration_s) == ("RESTART", 4.0)
    assert "resumed at seg_22.ts instead of the segment after seg_19.ts" in gap.detail
    assert session.gap_seconds == 4.0
