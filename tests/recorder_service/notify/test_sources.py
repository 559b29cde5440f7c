"""Where notifications come from: session events, availability changes, retention and the
disk, each turned into catalogue events, once, in the transaction of the change behind it."""

from __future__ import annotations

import json
import shutil
from collections import namedtuple
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import pytest

from recorder_service.events import EventBus
from recorder_service.model import EventType, SessionState, VariantInfo
from recorder_service.notify.signing import new_secret
from recorder_service.notify.sources import (
    AvailabilityNotices,
    DiskNotices,
    RetentionNotices,
    SessionNotices,
)
from recorder_service.store import GapRecord, Recording, RecordingState
from tests.recorder_service.conftest import bare_session
from tests.recorder_service.notify.conftest import make_notifier


def everything(notifier):
    return notifier.create(
        {"kind": "webhook", "url": "https://hooks.example.com/in", "secret": new_secret()}
    )


def sent(notifier) -> list[dict[str, Any]]:
    """The queued notifications, oldest first, as the receivers will get them."""
    out = []
    for d in reversed(notifier.deliveries(state=None, target_id="", offset=0, limit=1000)):
        out.append(json.loads(notifier.outbox.message(d.message_id).body))
    return out


@pytest.fixture
def bus(store):
    return EventBus(atomic=store.transaction)


def test_a_sessions_life_gives_started_gap_file_closed_and_finished_once_each(
    notifier, store, bus
) -> None:
    everything(notifier)
    manager_saves = []
    bus.add_listener(lambda e: manager_saves.append(store.save_session(e.session)))
    bus.add_listener(SessionNotices(notifier, store))
    s = bare_session("alice")
    s.channel, s.variant = "alice", VariantInfo(width=1280, height=720, fps=30)
    s.record_paths = ("records/alice/alice_20260101_000000_alice.ts",)
    bus.publish(EventType.STARTING, s)
    s.state = SessionState.RECORDING
    bus.publish(EventType.RECORDING, s, "first bytes written")
    s.gap_seconds = 4.0
    store.add_gap(
        GapRecord(s.session_id, s.record_paths[0], datetime.now(UTC), 4.0, "restart", "stalled")
    )
    bus.publish(
        EventType.GAP,
        s,
        extra={"cause": "restart", "duration_s": "4.000", "start_time": "x", "detail": "stalled"},
    )
    bus.publish(EventType.RECONNECTING, s)
    bus.publish(EventType.RECORDING, s, "recording again after a restart")  # not news
    for _ in range(3):
        bus.publish(EventType.PROGRESS, s)
    s.state, s.end_reason, s.media_seconds = SessionState.STOPPED, "stream ended", 96.0
    s.end_time = datetime.now(UTC)
    bus.publish(EventType.STOPPED, s)
    mp4 = "records/alice/alice_20260101_000000_alice.mp4"
    store.save_recording(
        Recording(
            "alice",
            mp4.rsplit("/", 1)[1],
            s.start_time,
            RecordingState.COMPLETE,
            s.session_id,
            size_bytes=12345,
            media_seconds=96.0,
            end_time=s.end_time,
        )
    )
    store.add_gap(GapRecord(s.session_id, mp4, datetime.now(UTC), 4.0, "restart", "stalled"))
    s.record_paths = (mp4,)
    bus.publish(EventType.FINALIZED, s)
    got = sent(notifier)
    assert [n["type"] for n in got] == [
        "recording.started",
        "recording.gap",
        "recording.file_closed",
        "recording.finished",
    ]
    started, gap, closed, finished = (n["data"] for n in got)
    for data in (started, gap, closed, finished):
        assert (data["channel"], data["site"], data["sessionId"]) == ("alice", "hls", "alice")
        assert data["correlationId"] == "c"
    assert (started["height"], started["auto"]) == (720, True)
    assert (gap["cause"], gap["durationSeconds"], gap["gapSeconds"]) == ("restart", 4.0, 4.0)
    assert (closed["file"], closed["format"], closed["sizeBytes"]) == (mp4, "mp4", 12345)
    assert closed["completeness"] == pytest.approx(96 / 100)
    assert (finished["state"], finished["reason"], finished["files"]) == (
        "STOPPED",
        "stream ended",
        [mp4],
    )
    assert all(n["version"] == 1 and n["id"].startswith("msg_") for n in got)


@pytest.mark.parametrize(
    ("state", "kind"),
    [
        (SessionState.FAILED, "recording.failed"),
        (SessionState.INTERRUPTED, "recording.interrupted"),
    ],
)
def test_a_session_ends_with_exactly_one_terminal_event(notifier, store, bus, state, kind) -> None:
    everything(notifier)
    bus.add_listener(SessionNotices(notifier, store))
    s = bare_session("bob")
    s.state, s.end_reason = state, "why"
    bus.publish(EventType.FAILED if state is SessionState.FAILED else EventType.STOPPED, s)
    bus.publish(EventType.FINALIZED, s)
    assert [n["type"] for n in sent(notifier)] == [kind]


def test_a_gap_of_no_length_is_not_news(notifier, store, bus) -> None:
    everything(notifier)
    bus.add_listener(SessionNotices(notifier, store))
    s = bare_session("hal")
    bus.publish(EventType.GAP, s, extra={"cause": "DISCONTINUITY", "duration_s": "0.000"})
    bus.publish(EventType.GAP, s, extra={"cause": "SKIPPED_SEGMENT", "duration_s": "4.000"})
    assert [n["data"]["cause"] for n in sent(notifier)] == ["SKIPPED_SEGMENT"]


def test_no_target_no_rows(notifier, store, bus) -> None:
    bus.add_listener(SessionNotices(notifier, store))
    s = bare_session("carl")
    bus.publish(EventType.RECORDING, s)
    assert notifier.outbox.message is not None and sent(notifier) == []


@dataclass
class Runtime:
    last_title: str = "hello"
    last_viewers: int | None = 12
    last_message: str = ""
    last_thumbnail_url: str = "http://127.0.0.1:1/ri/dana.jpg"


def availability(notifier):
    return AvailabilityNotices(
        notifier,
        source_of=lambda _u: ("auto", ""),
        runtime=lambda _u: Runtime(),
        thumbnail_of=lambda _u: Runtime().last_thumbnail_url,
    )


def test_availability_changes_are_told_once_and_not_again_after_a_restart(notifier, store) -> None:
    everything(notifier)
    heard = availability(notifier)
    at = datetime.now(UTC)
    heard("dana", "", "OFFLINE", at)  # first sight, offline: not news
    heard("dana", "OFFLINE", "ONLINE", at)
    heard("dana", "ONLINE", "RATE_LIMITED", at)  # the site, not the channel
    heard("erin", "", "RATE_LIMITED", at)  # the same block, seen again: told once
    heard("dana", "RATE_LIMITED", "ONLINE", at)  # unchanged for the channel
    heard("dana", "ONLINE", "UPSTREAM_ERROR", at)  # says nothing
    heard("dana", "UPSTREAM_ERROR", "PRIVATE", at)
    # A restart: the scheduler forgets (before = "") but what was told is kept.
    again = availability(make_notifier(store))
    again("dana", "", "PRIVATE", at)
    again("dana", "PRIVATE", "OFFLINE", at)
    got = sent(notifier)
    assert [(n["type"], n["data"]["channel"]) for n in got] == [
        ("channel.online", "dana"),
        ("site.blocked", "dana"),
        ("channel.private", "dana"),
        ("channel.offline", "dana"),
    ]
    online = got[0]["data"]
    assert (online["previous"], online["title"], online["viewers"], online["site"]) == (
        "OFFLINE",
        "hello",
        12,
        "chaturbate",
    )
    assert online["thumbnailUrl"].endswith("/ri/dana.jpg")
    assert got[1]["data"]["availability"] == "RATE_LIMITED"


def test_a_418_from_the_site_is_a_block(notifier) -> None:
    everything(notifier)
    heard = AvailabilityNotices(
        notifier,
        source_of=lambda _u: ("auto", ""),
        runtime=lambda _u: Runtime(last_message="api: HTTP 418; page: HTTP 418"),
    )
    at = datetime.now(UTC)
    heard("ivy", "", "UPSTREAM_ERROR", at)
    (n,) = sent(notifier)
    assert (n["type"], n["data"]["availability"]) == ("site.blocked", "BLOCKED")


def test_retention_tells_each_deleted_file(notifier) -> None:
    everything(notifier)
    rec = Recording("fay", "fay_1.mp4", datetime.now(UTC), RecordingState.COMPLETE, "s1")
    RetentionNotices(notifier)(rec, "age", 1000)
    (n,) = sent(notifier)
    assert n["type"] == "retention.deleted"
    assert (n["data"]["file"], n["data"]["reason"], n["data"]["sizeBytes"]) == (
        "records/fay/fay_1.mp4",
        "age",
        1000,
    )


def test_disk_low_is_told_as_it_gets_worse_only(notifier, tmp_path, monkeypatch) -> None:
    everything(notifier)
    Usage = namedtuple("Usage", "total used free")
    free = {"now": 10_000}
    monkeypatch.setattr(shutil, "disk_usage", lambda _p: Usage(100_000, 0, free["now"]))
    disk = DiskNotices(notifier, tmp_path, min_free_bytes=1_000)
    levels = []
    for f in (10_000, 1_900, 1_800, 1_200, 1_900, 1_200, 5_000, 1_900):
        free["now"] = f
        level = disk.check()
        assert level is not None
        levels.append(level.value)
    assert levels == ["OK", "LOW", "LOW", "CRITICAL", "LOW", "CRITICAL", "OK", "LOW"]
    got = [(n["type"], n["data"]["level"]) for n in sent(notifier)]
    assert got == [
        ("disk.low", "LOW"),
        ("disk.low", "CRITICAL"),
        ("disk.low", "CRITICAL"),
        ("disk.low", "LOW"),
    ]


def test_a_gap_and_its_notification_commit_together(notifier, store, bus) -> None:
    everything(notifier)
    bus.add_listener(SessionNotices(notifier, store))
    s = replace(bare_session("gus"), record_paths=("records/gus/g.ts",))
    with pytest.raises(RuntimeError), bus.atomic():
        store.add_gap(GapRecord("gus", "records/gus/g.ts", datetime.now(UTC), 1.0, "x", ""))
        bus.publish(EventType.GAP, s, extra={"cause": "x", "duration_s": "1"})
        raise RuntimeError("crash before the commit")
    assert store.gaps_of("records/gus/g.ts") == [] and sent(notifier) == []
