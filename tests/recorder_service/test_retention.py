"""Retention: the pure planner, the executor over real files, the free-space check, the loop."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest

from recorder_service.retention import (
    ChannelReport,
    Deletion,
    Policy,
    Retention,
    check_free_space,
    human_bytes,
    plan_retention,
    retention_loop,
)
from recorder_service.store import Channel, Recording, RecordingState, Store
from servicekit import correlation
from servicekit.errors import ResourceExhausted

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
COMPLETE = RecordingState.COMPLETE
KEEP = Policy()


def rec(
    person: str,
    name: str,
    days_ago: float,
    size: int = 0,
    *,
    state: RecordingState = COMPLETE,
    part: int = 0,
    ended_days_ago: float | None = None,
    pinned: bool = False,
) -> Recording:
    end = None if ended_days_ago is None else NOW - timedelta(days=ended_days_ago)
    return Recording(
        person=person,
        file_name=name,
        start_time=NOW - timedelta(days=days_ago),
        state=state,
        part=part,
        size_bytes=size,
        end_time=end,
        pinned=pinned,
    )


def plan(
    recordings: list[Recording],
    policies: dict[str, Policy] | None = None,
    default: Policy = KEEP,
    active: Collection[str] = (),
) -> list[tuple[str, str]]:
    """The plan as (file name, reason) pairs, in plan order."""
    result = plan_retention(recordings, policies or {}, default, NOW, active)
    return [(d.recording.file_name, d.reason) for d in result]


def channel(username: str, days: int = 0, max_bytes: int = 0, max_count: int = 0) -> Channel:
    return Channel(
        username=username,
        created_at=NOW,
        updated_at=NOW,
        retention_days=days,
        max_bytes=max_bytes,
        max_count=max_count,
    )


# -- the planner -------------------------------------------------------------------------------


def test_age_uses_end_time_else_start_time_and_exceeding_means_strictly_older() -> None:
    recs = [
        rec("a", "old.ts", 10),
        rec("a", "ended_recently.ts", 10, ended_days_ago=5),
        rec("a", "exactly7.ts", 7),
        rec("a", "ended_long_ago.ts", 9, ended_days_ago=8),
        rec("a", "new.ts", 1),
    ]
    got = plan(recs, {"a": Policy(max_age_days=7)})
    assert got == [("old.ts", "age"), ("ended_long_ago.ts", "age")]


def test_count_deletes_oldest_first_by_start_time_then_part() -> None:
    recs = [
        rec("a", "p2.ts", 5, part=2),
        rec("a", "newest.ts", 1),
        rec("a", "p0.ts", 5, part=0),
        rec("a", "p1.ts", 5, part=1),
    ]
    assert plan(recs, {"a": Policy(max_count=2)}) == [("p0.ts", "count"), ("p1.ts", "count")]


def test_bytes_deletes_oldest_until_within_the_limit() -> None:
    recs = [rec("a", f"{i}.ts", 10 - i, size=100) for i in range(4)]  # 400 bytes
    assert plan(recs, {"a": Policy(max_bytes=250)}) == [("0.ts", "bytes"), ("1.ts", "bytes")]
    assert plan(recs, {"a": Policy(max_bytes=400)}) == []


def test_age_then_count_then_bytes_combine() -> None:
    recs = [
        rec("a", f"{n}.ts", days, size=100)
        for n, days in zip("abcde", [40, 20, 10, 5, 1], strict=True)
    ]
    policy = Policy(max_age_days=30, max_count=3, max_bytes=250)
    assert plan(recs, {"a": policy}) == [("a.ts", "age"), ("b.ts", "count"), ("c.ts", "bytes")]


def test_pinned_is_never_deleted_but_counts_toward_the_totals() -> None:
    recs = [rec("a", "pinned.ts", 50, 500, pinned=True), rec("a", "b.ts", 9, 100)]
    recs.append(rec("a", "c.ts", 8, 100))
    assert plan(recs, {"a": Policy(max_age_days=1)}) == [("b.ts", "age"), ("c.ts", "age")]
    assert plan(recs, {"a": Policy(max_count=2)}) == [("b.ts", "count")]
    # The pinned file alone exceeds the limit: every unpinned one goes, then the plan stops.
    assert plan(recs, {"a": Policy(max_bytes=400)}) == [("b.ts", "bytes"), ("c.ts", "bytes")]
    assert plan(recs, {"a": Policy(max_bytes=600)}) == [("b.ts", "bytes")]


def test_busy_files_are_kept_but_count() -> None:
    recs = [
        rec("a", "writing.ts", 30, 100, state=RecordingState.WRITING),
        rec("a", "interrupted.ts", 20, 100, state=RecordingState.INTERRUPTED),
        rec("a", "complete.ts", 10, 100),
        rec("a", "finalizing.ts", 1, 100, state=RecordingState.FINALIZING),
    ]
    assert plan(recs, {"a": Policy(max_age_days=0.5)}) == [
        ("interrupted.ts", "age"),
        ("complete.ts", "age"),
    ]
    assert plan(recs, {"a": Policy(max_count=3)}) == [("interrupted.ts", "count")]
    assert plan(recs, {"a": Policy(max_bytes=150)}) == [
        ("interrupted.ts", "bytes"),
        ("complete.ts", "bytes"),
    ]


def test_active_paths_are_never_deleted() -> None:
    recs = [rec("a", "live.ts", 30, 100), rec("a", "old.ts", 20, 100)]
    active = {"records/a/live.ts"}
    assert plan(recs, {"a": Policy(max_age_days=1)}, active=active) == [("old.ts", "age")]
    assert plan(recs, {"a": Policy(max_count=1)}, active=active) == [("old.ts", "count")]


def test_default_policy_applies_only_to_persons_without_a_channel() -> None:
    recs = [rec(p, f"{p}{i}.ts", 10 - i) for p in ("bob", "alice", "carol") for i in range(3)]
    policies = {"alice": Policy.from_channel(channel("alice")), "carol": Policy(max_count=2)}
    got = plan(recs, policies, default=Policy(max_count=1))
    assert got == [("bob0.ts", "count"), ("bob1.ts", "count"), ("carol0.ts", "count")]


def test_channel_converts_to_a_policy_and_zeros_keep_everything() -> None:
    assert Policy.from_channel(channel("a", 3, 1000, 5)) == Policy(3, 1000, 5)
    assert Policy.from_channel(channel("a")) == Policy()
    recs = [rec("a", f"{i}.ts", 1000 + i, 10**9) for i in range(5)]
    assert plan(recs, {"a": Policy()}, default=Policy(1, 1, 1)) == []


def test_plan_returns_deletions_with_their_recordings() -> None:
    old = rec("a", "old.ts", 10)
    result = plan_retention([old], {}, Policy(max_age_days=1), NOW, ())
    assert result == [Deletion(old, "age")]


# -- the executor ------------------------------------------------------------------------------


class FakeStore:
    """The part of Store that Retention uses, in memory."""

    def __init__(self) -> None:
        self.channels: list[Channel] = []
        self.rows: dict[tuple[str, str], Recording] = {}
        self.after_list: Callable[[], None] = lambda: None

    def list_channels(self, offset: int = 0, limit: int | None = None) -> list[Channel]:
        return sorted(self.channels, key=lambda c: c.username)

    def list_recordings(
        self, person: str | None = None, offset: int = 0, limit: int | None = None
    ) -> list[Recording]:
        rows = [r for r in self.rows.values() if person is None or r.person == person]
        self.after_list()
        return sorted(rows, key=lambda r: (r.start_time, r.part), reverse=True)

    def get_recording(self, person: str, file_name: str) -> Recording | None:
        return self.rows.get((person, file_name))

    def delete_recording(self, person: str, file_name: str) -> None:
        self.rows.pop((person, file_name), None)

    def save(self, recording: Recording) -> None:
        self.rows[(recording.person, recording.file_name)] = recording


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


def add(store: FakeStore, root: Path, recording: Recording, on_disk: bool = True) -> Path:
    """Save the row and write a file of exactly ``size_bytes`` bytes."""
    store.save(recording)
    path = root / recording.path
    if on_disk:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * recording.size_bytes)
    return path


def make(
    store: FakeStore,
    root: Path,
    default: Policy = KEEP,
    active: Collection[str] = (),
    min_free: int = 0,
) -> Retention:
    return Retention(
        cast(Store, store), root, default, min_free, active_paths=lambda: active, clock=lambda: NOW
    )


def field(record: logging.LogRecord, key: str) -> object:
    """An ``extra=`` field of a log record."""
    return record.__dict__.get(key)


def names_on_disk(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def test_run_deletes_exactly_the_planned_files(
    store: FakeStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store.channels = [channel("alice", max_count=2)]
    for i, size in enumerate([10, 20, 30, 40]):
        add(store, tmp_path, rec("alice", f"a{i}.ts", 10 - i, size))
    add(store, tmp_path, rec("bob", "b_old.ts", 10, 7))
    add(store, tmp_path, rec("bob", "b_new.ts", 1, 8))
    caplog.set_level(logging.INFO, logger="recorder_service.retention")

    report = make(store, tmp_path, default=Policy(max_age_days=7)).run()

    assert names_on_disk(tmp_path) == {
        "records/alice/a2.ts",
        "records/alice/a3.ts",
        "records/bob/b_new.ts",
    }
    assert set(store.rows) == {("alice", "a2.ts"), ("alice", "a3.ts"), ("bob", "b_new.ts")}
    assert (report.files_deleted, report.bytes_freed, report.errors) == (3, 37, 0)
    assert not report.dry_run and report.free_bytes > 0
    assert report.per_channel == (
        ChannelReport("alice", 2, 30, ("a0.ts", "a1.ts")),
        ChannelReport("bob", 1, 7, ("b_old.ts",)),
    )
    deletes = [r for r in caplog.records if field(r, "event.action") == "retention.delete"]
    assert [
        (field(r, "channel"), field(r, "file.path"), field(r, "file.size")) for r in deletes
    ] == [
        ("alice", "records/alice/a0.ts", 10),
        ("alice", "records/alice/a1.ts", 20),
        ("bob", "records/bob/b_old.ts", 7),
    ]
    assert [field(r, "retention.reason") for r in deletes] == ["count", "count", "age"]
    (summary,) = [r for r in caplog.records if field(r, "event.action") == "retention.run"]
    assert field(summary, "retention.files_deleted") == 3
    assert field(summary, "retention.bytes_freed") == 37


def test_run_for_one_person_leaves_the_others(store: FakeStore, tmp_path: Path) -> None:
    add(store, tmp_path, rec("alice", "a.ts", 10, 1))
    add(store, tmp_path, rec("bob", "b.ts", 10, 1))
    report = make(store, tmp_path, default=Policy(max_age_days=1)).run(person="bob")
    assert names_on_disk(tmp_path) == {"records/alice/a.ts"}
    assert [c.person for c in report.per_channel] == ["bob"]


def test_a_file_missing_on_disk_still_loses_its_row(store: FakeStore, tmp_path: Path) -> None:
    add(store, tmp_path, rec("a", "gone.ts", 10, 500), on_disk=False)
    report = make(store, tmp_path, default=Policy(max_age_days=1)).run()
    assert store.rows == {}
    assert (report.files_deleted, report.bytes_freed, report.errors) == (1, 0, 0)


def test_an_undeletable_file_is_an_error_and_the_run_goes_on(
    store: FakeStore, tmp_path: Path
) -> None:
    # Tests run as root, so permissions cannot block an unlink; a non-empty directory can.
    stuck = add(store, tmp_path, rec("a", "stuck.ts", 10), on_disk=False)
    stuck.mkdir(parents=True)
    (stuck / "inner").write_bytes(b"x")
    add(store, tmp_path, rec("a", "next.ts", 9, 3))
    report = make(store, tmp_path, default=Policy(max_age_days=1)).run()
    assert (report.files_deleted, report.bytes_freed, report.errors) == (1, 3, 1)
    assert stuck.is_dir() and ("a", "stuck.ts") in store.rows
    assert ("a", "next.ts") not in store.rows and not (tmp_path / "records/a/next.ts").exists()


def test_dry_run_deletes_nothing_and_reports_the_same(store: FakeStore, tmp_path: Path) -> None:
    store.channels = [channel("a", max_bytes=25)]
    for i in range(4):
        add(store, tmp_path, rec("a", f"{i}.ts", 10 - i, 10))
    add(store, tmp_path, rec("b", "gone.ts", 10, 10), on_disk=False)
    before_disk, before_rows = names_on_disk(tmp_path), dict(store.rows)
    retention = make(store, tmp_path, default=Policy(max_count=0, max_age_days=1))

    dry = retention.run(dry_run=True)
    assert names_on_disk(tmp_path) == before_disk and store.rows == before_rows
    real = retention.run()
    assert dry.dry_run and dry.files_deleted == 3 and dry.bytes_freed == 20
    assert dataclasses.replace(dry, dry_run=False, free_bytes=real.free_bytes) == real
    assert names_on_disk(tmp_path) == {"records/a/2.ts", "records/a/3.ts"}


def test_a_row_that_became_busy_or_pinned_since_the_listing_is_kept(
    store: FakeStore, tmp_path: Path
) -> None:
    add(store, tmp_path, rec("a", "reopened.ts", 10, 1))
    add(store, tmp_path, rec("a", "pinned.ts", 10, 1))
    add(store, tmp_path, rec("a", "old.ts", 10, 1))

    def race() -> None:
        store.save(rec("a", "reopened.ts", 10, 1, state=RecordingState.WRITING))
        store.save(rec("a", "pinned.ts", 10, 1, pinned=True))

    store.after_list = race
    report = make(store, tmp_path, default=Policy(max_age_days=1)).run()
    assert report.per_channel == (ChannelReport("a", 1, 1, ("old.ts",)),)
    assert names_on_disk(tmp_path) == {"records/a/reopened.ts", "records/a/pinned.ts"}


def test_active_paths_of_the_callback_are_kept(store: FakeStore, tmp_path: Path) -> None:
    add(store, tmp_path, rec("a", "live.ts", 10, 1))
    report = make(store, tmp_path, Policy(max_age_days=1), active={"records/a/live.ts"}).run()
    assert report.files_deleted == 0 and names_on_disk(tmp_path) == {"records/a/live.ts"}


def test_names_that_could_escape_are_refused(store: FakeStore, tmp_path: Path) -> None:
    out = tmp_path / "out"
    (tmp_path / "victim.ts").write_bytes(b"v")
    (out / "records" / "eve").mkdir(parents=True)
    (out / "records" / "eve" / "link.ts").symlink_to(tmp_path / "victim.ts")
    for person, name in [
        ("x", "../../../victim.ts"),
        ("..", "victim.ts"),
        ("x", "a\\b.ts"),
        ("x", "nul\0.ts"),
        (".hidden", "a.ts"),
        ("x", ".a.ts"),
        ("eve", "link.ts"),  # plain names, but the file resolves outside records/
    ]:
        store.save(rec(person, name, 10, 1))
    add(store, out, rec("ok", "fine.ts", 10, 1))

    report = make(store, out, default=Policy(max_age_days=1)).run()

    assert report.errors == 7 and report.files_deleted == 1
    assert (tmp_path / "victim.ts").read_bytes() == b"v"
    assert (out / "records" / "eve" / "link.ts").is_symlink()
    assert set(store.rows) == {
        ("x", "../../../victim.ts"),
        ("..", "victim.ts"),
        ("x", "a\\b.ts"),
        ("x", "nul\0.ts"),
        (".hidden", "a.ts"),
        ("x", ".a.ts"),
        ("eve", "link.ts"),
    }


def test_report_as_log_extra(store: FakeStore, tmp_path: Path) -> None:
    add(store, tmp_path, rec("a", "old.ts", 10, 4))
    report = make(store, tmp_path, default=Policy(max_age_days=1)).run(dry_run=True)
    assert report.as_log_extra() == {
        "retention.files_deleted": 1,
        "retention.bytes_freed": 4,
        "retention.errors": 0,
        "retention.dry_run": True,
        "retention.channels": ["a"],
        "disk.free_bytes": report.free_bytes,
    }


# -- free space ----------------------------------------------------------------------------------


def test_check_free_space_raises_below_the_watermark(tmp_path: Path) -> None:
    with pytest.raises(ResourceExhausted) as err:
        check_free_space(tmp_path, 1 << 60)
    assert err.value.reason == "LOW_DISK_SPACE"
    assert re.fullmatch(
        r"\d+(\.\d)? [KMGT]?i?B free, below the 1048576\.0 TiB watermark \(MIN_FREE_BYTES\); "
        r"new recordings are refused",
        err.value.message,
    )
    assert err.value.metadata["min_free_bytes"] == str(1 << 60)
    with pytest.raises(ResourceExhausted):
        make(FakeStore(), tmp_path, min_free=1 << 60).check_free_space()


def test_check_free_space_passes_when_disabled_or_above(tmp_path: Path) -> None:
    check_free_space(tmp_path, 0)
    check_free_space(tmp_path, 1)
    make(FakeStore(), tmp_path, min_free=0).check_free_space()


def test_human_bytes() -> None:
    assert human_bytes(512) == "512 B"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(1288490189) == "1.2 GiB"
    assert human_bytes(2 * 1024**3) == "2.0 GiB"
    assert human_bytes(3 * 1024**4) == "3.0 TiB"


# -- the loop ------------------------------------------------------------------------------------


class FakeRetention:
    def __init__(self, stop: asyncio.Event, script: list[str]) -> None:
        self.stop = stop
        self.script = script  # per call: "ok", "raise" or "stop"
        self.ids: list[str | None] = []

    def run(self) -> None:
        self.ids.append(correlation.get())
        action = self.script[min(len(self.ids), len(self.script)) - 1]
        if action == "raise":
            raise RuntimeError("boom")
        if action == "stop":
            self.stop.set()


def loop(fake: FakeRetention, interval: float) -> asyncio.Task[None]:
    return asyncio.create_task(retention_loop(cast(Retention, fake), interval, fake.stop))


async def test_loop_runs_right_away_then_stops_on_the_event() -> None:
    fake = FakeRetention(asyncio.Event(), ["ok"])
    task = loop(fake, 3600)
    await asyncio.sleep(0.05)
    assert len(fake.ids) == 1  # ran immediately, not after an hour
    fake.stop.set()
    await asyncio.wait_for(task, 1)
    assert len(fake.ids) == 1


async def test_loop_survives_an_exception_with_a_fresh_id_per_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake = FakeRetention(asyncio.Event(), ["raise", "ok", "stop"])
    await asyncio.wait_for(loop(fake, 0.01), 2)
    assert len(fake.ids) == 3
    assert len(set(fake.ids)) == 3
    assert all(i and i.startswith("retention-") for i in fake.ids)
    failures = [r for r in caplog.records if r.exc_info and "retention run failed" in r.message]
    assert len(failures) == 1
