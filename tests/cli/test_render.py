"""Human formatting (sizes, durations, tables) and the --json shapes, which must keep the field
names of the gateway's REST API."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from gateway import schemas as gw_schemas
from gateway.routes import recordings as gw_recordings
from gateway.routes import system as gw_system
from gateway.routes import watchlist as gw_watchlist
from streamrec.v1 import (
    channel_service_pb2,
    quality_pb2,
    recorder_service_pb2,
    recording_service_pb2,
    resolver_service_pb2,
    session_pb2,
)
from streamrec_cli import render, shapes


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC in these tests, so the tables are predictable."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def ts(text: str) -> Timestamp:
    stamp = Timestamp()
    stamp.FromJsonString(text)
    return stamp


def session(**kw: object) -> session_pb2.Session:
    base: dict[str, object] = {
        "session_id": "3f2a9c1d0e11",
        "person": "alice",
        "name": "Alice",
        "target": "http://cdn.example/live/alice/master.m3u8",
        "source_type": resolver_service_pb2.SOURCE_TYPE_HLS,
        "state": session_pb2.SESSION_STATE_RECORDING,
        "start_time": ts("2025-06-01T12:00:00Z"),
        "record_paths": ["records/alice/alice_20250601_120000_3f2a9c1d0e11.ts"],
        "preview_path": "sessions/3f2a9c1d0e11/stream.m3u8",
        "bytes_written": 5 * 2**20,
        "media_duration": Duration(seconds=3723, nanos=500_000_000),
        "bitrate_kbps": 2345.67,
        "speed": 1.0,
        "last_progress_time": ts("2025-06-01T13:02:03Z"),
        "variant": quality_pb2.Variant(width=1280, height=720, fps=30, bandwidth=2_500_000),
        "correlation_id": "cli-abc",
    }
    base.update(kw)
    return session_pb2.Session(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (2**20 - 1, "1.0 MiB"),
        (int(12.34 * 2**20), "12.3 MiB"),
        (5 * 2**30, "5.0 GiB"),
        (3 * 2**40, "3.0 TiB"),
    ],
)
def test_sizes_are_in_binary_units(n: int, text: str) -> None:
    assert render.format_size(n) == text


@pytest.mark.parametrize(
    ("secs", "text"),
    [(0, "0:00:00"), (59.99, "0:00:59"), (61, "0:01:01"), (3723.5, "1:02:03"),
     (90_000, "25:00:00"), (-4, "0:00:00")],
)  # fmt: skip
def test_durations_are_h_mm_ss(secs: float, text: str) -> None:
    assert render.format_duration(secs) == text


def test_bitrates_and_speeds() -> None:
    assert render.format_bitrate(0) == "-"
    assert render.format_bitrate(786.4) == "786 kb/s"
    assert render.format_bitrate(2345.67) == "2.35 Mb/s"
    assert render.format_speed(0) == "-"
    assert render.format_speed(1.25) == "1.25x"


def test_table_aligns_columns_and_right_aligns_numbers() -> None:
    lines = render.table(
        ("NAME", "SIZE", "NOTE"), [["a", "1 B", "x"], ["bbbbb", "10 KiB", ""]], [1]
    )
    assert lines == [
        "NAME     SIZE  NOTE",
        "a         1 B  x",
        "bbbbb  10 KiB",
    ]


def test_sessions_table_has_one_aligned_row_per_session() -> None:
    other = session(
        session_id="0123456789ab",
        person="bob-the-builder",
        state=session_pb2.SESSION_STATE_STARTING,
        bytes_written=0,
        media_duration=Duration(),
        bitrate_kbps=0,
    )
    lines = render.sessions_table([session(), other]).splitlines()
    assert lines[0].split() == ["ID", "PERSON", "STATE", "SIZE", "MEDIA", "BITRATE", "STARTED"]
    assert lines[1].split() == [
        "3f2a9c1d0e11", "alice", "RECORDING", "5.0", "MiB", "1:02:03", "2.35", "Mb/s",
        "2025-06-01", "12:00:00",
    ]  # fmt: skip
    assert "STARTING" in lines[2] and "0 B" in lines[2] and "0:00:00" in lines[2]
    # every column starts at the same offset on every line
    for header in ("PERSON", "STATE", "STARTED"):
        col = lines[0].index(header)
        assert all(line[col - 2 : col] == "  " and line[col] != " " for line in lines)
    # right-aligned numbers end where their header ends
    for header in ("SIZE", "MEDIA", "BITRATE"):
        end = lines[0].index(header) + len(header)
        assert all(line[end - 1] != " " and line[end : end + 2] == "  " for line in lines)


def test_session_detail_lists_what_is_set() -> None:
    text = render.session_detail(session())
    assert "session     3f2a9c1d0e11\n" in text
    assert "variant     1280x720@30 (2500 kb/s)\n" in text
    assert "ended" not in text and "end reason" not in text  # unset fields are left out
    ended = render.session_detail(
        session(
            state=session_pb2.SESSION_STATE_STOPPED,
            end_time=ts("2025-06-01T13:00:00Z"),
            end_reason="stopped by request",
        )
    )
    assert "ended       2025-06-01 13:00:00\n" in ended
    assert "end reason  stopped by request\n" in ended


def test_channels_and_recordings_tables() -> None:
    channel = channel_service_pb2.Channel(
        username="bob",
        name="Bob",
        auto_record=False,
        retention_days=7,
        max_bytes=2 * 2**30,
        session_id="3f2a9c1d0e11",
    )
    lines = render.channels_table([channel]).splitlines()
    assert lines[0].split()[:2] == ["SITE", "USERNAME"]
    assert lines[1].split() == ["chaturbate", "bob", "Bob", "no", "recording", "3f2a9c1d0e11",
                                "7d", "2.0", "GiB", "-", "-"]  # fmt: skip
    recording = recording_service_pb2.Recording(
        person="bob",
        file_name="bob_1.ts",
        state=recording_service_pb2.RECORDING_STATE_COMPLETE,
        size_bytes=1536,
        media_duration=Duration(seconds=65),
        start_time=ts("2025-06-01T12:00:00Z"),
        pinned=True,
        gaps=[session_pb2.Gap(cause=session_pb2.GAP_CAUSE_STALL)],
    )
    lines = render.recordings_table([recording]).splitlines()
    assert lines[1].split() == ["bob_1.ts", "COMPLETE", "1.5", "KiB", "0:01:05", "2025-06-01",
                                "12:00:00", "yes", "1"]  # fmt: skip


def test_retention_report_text() -> None:
    report = recording_service_pb2.RunRetentionResponse(
        files_deleted=2,
        bytes_freed=3 * 2**20,
        free_bytes=10 * 2**30,
        dry_run=True,
        channels=[
            recording_service_pb2.RetentionChannelReport(
                person="bob", files_deleted=2, bytes_freed=3 * 2**20, files=["a.ts", "b.ts"]
            )
        ],
    )
    assert render.retention_text(report) == (
        "would delete 2 files (3.0 MiB)\n"
        "  bob: 2 (3.0 MiB)\n"
        "    a.ts\n"
        "    b.ts\n"
        "free space: 10.0 GiB\n"
    )


# -- JSON shapes: the gateway's names ---------------------------------------------------------


def test_session_json_matches_the_gateway() -> None:
    s = session()
    mine, theirs = shapes.session_json(s), gw_schemas.session_json(s)
    assert set(mine) == set(theirs) - {"playback_url"} | {"preview_path"}
    assert {k: v for k, v in theirs.items() if k in mine} == {
        k: v for k, v in mine.items() if k in theirs
    }
    assert mine["state"] == "RECORDING" and mine["running"] is True
    assert mine["media_seconds"] == 3723.5 and mine["bytes_written"] == 5 * 2**20
    assert mine["start_time"] == "2025-06-01T12:00:00.000Z" and mine["end_time"] is None


def test_event_and_snapshot_json() -> None:
    gap = session_pb2.Gap(duration=Duration(seconds=2), cause=session_pb2.GAP_CAUSE_FAILED_FETCH)
    event = session_pb2.SessionEvent(
        sequence=42,
        event_time=ts("2025-06-01T12:00:05Z"),
        type=session_pb2.SESSION_EVENT_TYPE_GAP,
        session=session(),
        message="2 s missing",
        correlation_id="cli-abc",
        gap=gap,
    )
    mine, theirs = shapes.event_json(event), gw_schemas.event_json(event)
    assert set(mine) == set(theirs) | {"gap"}
    assert mine["type"] == "GAP" and mine["sequence"] == 42
    assert mine["gap"] == {"startTime": None, "duration": 2.0, "cause": "FAILED_FETCH",
                           "detail": ""}  # fmt: skip
    snap = recorder_service_pb2.SessionSnapshot(sequence=7, sessions=[session()])
    assert shapes.snapshot_json(snap) == {
        "sequence": 7,
        "type": "SNAPSHOT",
        "sessions": [shapes.session_json(session())],
    }


def test_channel_recording_and_retention_json_match_the_gateway() -> None:
    channel = channel_service_pb2.Channel(
        username="bob",
        auto_record=True,
        retention_days=3,
        quality=quality_pb2.QualityPreference(height=720, policy=quality_pb2.QUALITY_POLICY_EXACT),
        create_time=ts("2025-06-01T12:00:00Z"),
        last_availability=resolver_service_pb2.CHANNEL_AVAILABILITY_OFFLINE,
        last_title="back soon",
        last_viewers=0,
        last_room_status="offline",
    )
    gw_channel = gw_watchlist.channel_json(channel)
    del gw_channel["thumbnailUrl"]  # an HTTP address of the gateway
    assert shapes.channel_json(channel) == gw_channel
    assert shapes.channel_json(channel)["lastViewers"] == 0
    recording = recording_service_pb2.Recording(
        person="bob", file_name="b.ts", path="records/bob/b.ts", size_bytes=10, parts=1
    )
    theirs = gw_recordings.recording_json(recording)
    # HTTP addresses of the gateway: nothing to do with the CLI.
    del theirs["url"], theirs["playbackUrl"], theirs["posterUrl"], theirs["sheetUrl"]
    assert shapes.recording_json(recording) == theirs
    report = recording_service_pb2.RunRetentionResponse(files_deleted=1, bytes_freed=5)
    assert shapes.retention_json(report) == gw_recordings.retention_json(report)


def test_disk_text_and_json_match_the_gateway() -> None:
    disk = recording_service_pb2.GetStorageResponse(
        total_bytes=500 * 2**30,
        used_bytes=480 * 2**30,
        free_bytes=15 * 2**30,
        recordings_bytes=400 * 2**30,
        min_free_bytes=10 * 2**30,
        level=recording_service_pb2.STORAGE_LEVEL_LOW,
    )
    assert render.disk_text(disk) == (
        "level       LOW\n"
        "free        15.0 GiB\n"
        "used        480.0 GiB of 500.0 GiB\n"
        "recordings  400.0 GiB\n"
        "watermark   10.0 GiB\n"
    )
    assert shapes.disk_json(disk) == gw_system.disk_json(disk)
    none = recording_service_pb2.GetStorageResponse(level=recording_service_pb2.STORAGE_LEVEL_OK)
    assert "watermark   -\n" in render.disk_text(none)
    assert shapes.disk_json(none) == gw_system.disk_json(none)


def test_unknown_enum_values_from_a_newer_recorder_do_not_break_the_output() -> None:
    s = session(state=99)
    assert shapes.session_json(s)["state"] == "99"
    assert "99" in render.sessions_table([s])
