"""parse_window: segment paths (without tokens), durations, and what a discontinuity needs:
the #EXT-X-DISCONTINUITY marks, program date-times (given or carried on within a run) and the
#EXT-X-MAP initialization sections."""

from __future__ import annotations

import pytest

from recorder_service.hls_window import parse_window

BASE = "https://cdn.example/live/x/v0/index.m3u8?token=abc"
PLAYLIST = """#EXTM3U
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:10
#EXT-X-MAP:URI="init.mp4?token=abc"
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z
#EXTINF:2.000,
seg_10.m4s?token=abc
#EXTINF:2.000,
seg_11.m4s?token=abc
#EXT-X-DISCONTINUITY
#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:09.500Z
#EXTINF:2.000,
seg_12.m4s?token=abc
#EXT-X-DISCONTINUITY
#EXTINF:2.000,
seg_13.m4s?token=abc
"""


def test_segments_are_known_by_path_with_their_durations() -> None:
    w = parse_window(PLAYLIST, BASE)
    assert [p.rsplit("/", 1)[-1] for p in w.paths] == [f"seg_{n}.m4s" for n in range(10, 14)]
    assert w.paths[0] == "/live/x/v0/seg_10.m4s" and w.seconds == 8.0 and not w.ended
    assert w.init_paths == {"/live/x/v0/init.mp4"}


def test_discontinuities_and_program_times_are_per_segment() -> None:
    w = parse_window(PLAYLIST, BASE)
    assert w.discontinuities == (False, False, True, True)
    t0 = w.program_times[0]
    assert t0 is not None
    # seg_11 dated from seg_10; seg_13 after an undated break is not dated at all.
    assert w.program_times[1] == t0 + 2.0 and w.program_times[2] == t0 + 9.5
    assert w.program_times[3] is None


def test_the_wall_clock_a_break_skipped_comes_from_the_dates_around_it() -> None:
    w = parse_window(PLAYLIST, BASE)
    assert w.wallclock_gap_before(1) == pytest.approx(0.0)
    assert w.wallclock_gap_before(2) == pytest.approx(5.5)  # 9.5 - (2 + 2)
    assert w.wallclock_gap_before(3) is None
    assert w.wallclock_gap_before(0) is None and w.wallclock_gap_before(9) is None


def test_a_playlist_without_dates_or_maps_still_parses() -> None:
    w = parse_window("#EXTM3U\n#EXTINF:4,\na.ts\n#EXTINF:4,\nb.ts\n#EXT-X-ENDLIST\n", BASE)
    assert w.durations == (4.0, 4.0) and w.ended
    assert w.program_times == (None, None) and not any(w.discontinuities)
    assert w.init_paths == frozenset() and w.resume_index("/live/x/v0/a.ts") == 1
