"""The channel timeline's arithmetic, and the system page's forecasts: pure, in milliseconds."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from recorder_service.retention import Policy, next_deletions
from recorder_service.store import GapRecord, Recording, RecordingState
from recorder_service.system_servicer import watermark_time
from recorder_service.timeline import (
    AvailabilityHistory,
    availability_spans,
    completeness,
    gaps_in_window,
    recorded_spans,
    window_start,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def at(hours_ago: float) -> datetime:
    return NOW - hours_ago * H


def spans(changes):
    since = at(24)
    return [
        (s.availability, (NOW - s.start) / H, None if s.end is None else (NOW - s.end) / H)
        for s in availability_spans(changes, since, NOW)
    ]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ([], []),
        # The state before the window opens the window.
        ([(at(48), "OFFLINE"), (at(10), "ONLINE")], [("OFFLINE", 24, 10), ("ONLINE", 10, None)]),
        # A restart notes the same state again: one span.
        (
            [(at(5), "ONLINE"), (at(3), "ONLINE"), (at(1), "OFFLINE")],
            [("ONLINE", 5, 1), ("OFFLINE", 1, None)],
        ),
        # Everything before the window is dropped but the last state.
        (
            [(at(40), "ONLINE"), (at(30), "PRIVATE"), (at(2), "AWAY")],
            [("PRIVATE", 24, 2), ("AWAY", 2, None)],
        ),
        # A change in the future (a clock step) does not count.
        ([(at(2), "ONLINE"), (NOW + H, "OFFLINE")], [("ONLINE", 2, None)]),
    ],
)
def test_availability_spans(changes, expected) -> None:
    assert spans(changes) == expected


def rec(name: str, start_h: float, end_h: float | None, media: float = 60.0) -> Recording:
    return Recording(
        person="alice",
        file_name=name,
        session_id="s-" + name,
        part=1,
        state=RecordingState.COMPLETE if end_h is not None else RecordingState.WRITING,
        size_bytes=1000,
        media_seconds=media,
        start_time=at(start_h),
        end_time=at(end_h) if end_h is not None else None,
    )


def test_recorded_spans_are_clipped_to_the_window_and_a_growing_file_runs_to_now() -> None:
    recordings = [rec("old.mp4", 200, 190), rec("edge.mp4", 30, 20), rec("now.ts", 1, None)]
    out = recorded_spans(recordings, at(24), NOW)
    assert [(s.file_name, (NOW - s.start) / H, s.end) for s in out] == [
        ("edge.mp4", 24, at(20)),
        ("now.ts", 1, None),
    ]


def test_gaps_in_the_window_in_time_order_and_completeness() -> None:
    gap = lambda h, s: GapRecord("s", "p", at(h), s, "RESTART", "")  # noqa: E731
    gaps = [gap(1, 30), gap(30, 5), gap(24.001, 10)]
    inside = gaps_in_window(gaps, at(24), NOW)
    assert [g.duration_s for g in inside] == [10, 30]
    assert completeness(90, 10) == 0.9
    assert completeness(0, 0) == 1.0


def test_window_is_bounded() -> None:
    assert window_start(NOW, None) == NOW - timedelta(days=7)
    assert window_start(NOW, NOW - timedelta(days=400)) == NOW - timedelta(days=31)
    assert window_start(NOW, NOW + H) == NOW


def test_retention_forecast_lists_what_goes_now_then_what_ages_out() -> None:
    recordings = [
        rec("a.mp4", 24 * 9, 24 * 9 - 1),  # older than 7 days: deleted at the next run
        rec("b.mp4", 24 * 6, 24 * 6 - 1),  # ages out in about a day
        rec("c.mp4", 24 * 2, 24 * 2 - 1),  # in five days
        rec("w.ts", 1, None),  # being written: never
    ]
    pinned = dataclasses.replace(rec("p.mp4", 24 * 8, 24 * 8 - 1), pinned=True)
    plan = next_deletions(
        [*recordings, pinned], {"alice": Policy(max_age_days=7)}, Policy(), NOW, set()
    )
    assert [(d.recording.file_name, d.reason) for d, _ in plan] == [
        ("a.mp4", "age"),
        ("b.mp4", "age"),
        ("c.mp4", "age"),
    ]
    assert plan[0][1] == NOW
    assert plan[1][1] == at(24 * 6 - 1) + timedelta(days=7)
    # No limit, no forecast.
    assert next_deletions(recordings, {}, Policy(), NOW, set()) == []


@pytest.mark.parametrize(
    ("free", "watermark", "rate", "expected"),
    [
        (10_000, 1_000, 100.0, NOW + timedelta(seconds=90)),
        (10_000, 1_000, 0.0, None),  # nothing written
        (500, 1_000, 100.0, None),  # already below: the free figure says so
    ],
)
def test_watermark_time(free, watermark, rate, expected) -> None:
    assert watermark_time(free, watermark, rate, NOW) == expected


class _Store:
    def __init__(self) -> None:
        self.added: list[tuple[str, datetime, str]] = []
        self.pruned: list[datetime] = []

    def add_availability(self, username: str, when: datetime, availability: str) -> None:
        self.added.append((username, when, availability))

    def prune_availability(self, before: datetime) -> int:
        self.pruned.append(before)
        return 0


def test_the_history_prunes_about_once_an_hour() -> None:
    store = _Store()
    history = AvailabilityHistory(store)
    for minutes in (0, 10, 59, 61):
        history.note("alice", "", "ONLINE", NOW + timedelta(minutes=minutes))
    assert len(store.added) == 4
    assert store.pruned == [
        NOW - timedelta(days=8),
        NOW + timedelta(minutes=61) - timedelta(days=8),
    ]
