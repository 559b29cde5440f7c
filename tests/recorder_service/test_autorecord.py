"""The auto-record scheduler's decisions, cycle by cycle, on a fake clock.

The status checker and the starter are stand-ins here; tests/e2e/test_autorecord.py runs the
same scheduler against the real resolver, the fake site and real ffmpeg."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from recorder_service.autorecord import AutoRecorder
from recorder_service.manager import StartRequest
from recorder_service.model import EventType, Session, SessionEvent, SessionState
from recorder_service.ports import ChannelCheck
from recorder_service.sqlite_store import SqliteStore
from recorder_service.store import Channel
from recorder_service.watchlist import WatchList
from servicekit import correlation
from servicekit.errors import AlreadyExists, FailedPrecondition, Unavailable, UpstreamError

NOW = datetime(2026, 11, 21, tzinfo=UTC)


class Status:
    def __init__(self) -> None:
        self.availability: dict[str, str] = {}
        # target -> more ChannelCheck fields (title, viewers, room_status, message...)
        self.rooms: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[list[str], str]] = []
        self.down = False

    async def channel_status(self, target, source_type, *, skip_cache=False):
        raise AssertionError("the scheduler asks in batches only")

    async def batch_channel_status(self, targets, source_type="auto", *, skip_cache=False):
        self.calls.append((list(targets), source_type))
        if self.down:
            raise Unavailable("resolver down", reason="RESOLVER_UNAVAILABLE")
        return [
            ChannelCheck(
                t,
                source_type,
                self.availability.get(t, "OFFLINE"),
                checked_at=NOW,
                **self.rooms.get(t, {}),
            )
            for t in targets
        ]


class Starter:
    def __init__(self) -> None:
        self.busy: set[str] = set()
        self.started: list[StartRequest] = []
        self.fail: dict[str, Exception] = {}
        self.correlation_ids: list[str | None] = []

    def is_busy(self, person: str) -> bool:
        return person in self.busy

    async def start(self, req: StartRequest) -> Session:
        self.correlation_ids.append(correlation.get())
        if req.person in self.fail:
            raise self.fail[req.person]
        self.started.append(req)
        self.busy.add(req.person)
        return Session(
            session_id="s" + req.person,
            person=req.person,
            name=req.name,
            target=req.target,
            source_type=req.source_type,
            start_time=NOW,
            correlation_id="",
            preview_path="",
        )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def parts(tmp_path):
    store = SqliteStore(tmp_path / "db.sqlite")
    watchlist = WatchList(store)
    status, starter, clock = Status(), Starter(), Clock()
    auto = AutoRecorder(
        watchlist, status, starter, interval=60, backoff_max=600, clock=clock, rng=lambda: 0.5
    )
    yield watchlist, status, starter, clock, auto
    store.close()


def add(watchlist: WatchList, username: str, **kw) -> Channel:
    kw.setdefault("auto_record", True)
    return watchlist.create(Channel(username=username, created_at=NOW, updated_at=NOW, **kw))


async def test_starts_the_online_auto_channels_that_are_not_recording(parts) -> None:
    watchlist, status, starter, _, auto = parts
    add(watchlist, "alice", name="Alice")
    add(watchlist, "bob")
    add(watchlist, "carol")
    add(watchlist, "dave", auto_record=False)
    status.availability = {"alice": "ONLINE", "bob": "OFFLINE", "carol": "ONLINE", "dave": "ONLINE"}
    starter.busy.add("carol")

    stats = await auto.cycle()

    assert [r.person for r in starter.started] == ["alice"]
    req = starter.started[0]
    assert (req.target, req.name, req.channel, req.source_type) == (
        "alice",
        "Alice",
        "alice",
        "chaturbate",
    )
    # one batch call, and only for the channels that could be started
    assert status.calls == [(["alice", "bob"], "chaturbate")]
    assert (stats.auto, stats.online, stats.started, stats.already_recording) == (3, 1, 1, 1)
    assert auto.runtime["bob"].last_availability == "OFFLINE"


async def test_a_url_channel_is_checked_and_recorded_by_its_target(parts) -> None:
    watchlist, status, starter, _, auto = parts
    url = "https://cdn.example/live/x.m3u8"
    add(watchlist, "cam1", target=url, source="hls")
    status.availability = {url: "ONLINE"}
    await auto.cycle()
    assert status.calls == [([url], "hls")]
    assert (starter.started[0].target, starter.started[0].person) == (url, "cam1")


async def test_a_failing_channel_backs_off_and_the_others_do_not(parts) -> None:
    watchlist, status, starter, clock, auto = parts
    add(watchlist, "alice")
    add(watchlist, "bob")
    status.availability = {"alice": "ONLINE", "bob": "OFFLINE"}
    starter.fail["alice"] = UpstreamError("CDN said 403", reason="CDN_FORBIDDEN")

    first = await auto.cycle()
    assert first.failed == 1 and "CDN_FORBIDDEN" in auto.runtime["alice"].last_error
    # within the first backoff (one interval): not even asked about
    clock.now += 30
    second = await auto.cycle()
    assert second.backing_off == 1 and status.calls[-1] == (["bob"], "chaturbate")
    # after it, tried again; a second failure doubles the wait
    clock.now += 31
    await auto.cycle()
    assert auto.runtime["alice"].failures == 2
    assert auto.runtime["alice"].retry_at == pytest.approx(clock.now + 120)
    # the backoff is capped
    for _ in range(10):
        clock.now = auto.runtime["alice"].retry_at + 1
        await auto.cycle()
    assert auto.runtime["alice"].retry_at - clock.now == pytest.approx(600)
    # and a start goes through once it is due again
    del starter.fail["alice"]
    clock.now = auto.runtime["alice"].retry_at + 1
    await auto.cycle()
    assert starter.started[-1].person == "alice"
    assert auto.runtime["alice"].retry_at == 0.0


async def test_going_offline_between_check_and_start_is_not_a_failure(parts) -> None:
    watchlist, status, starter, _, auto = parts
    add(watchlist, "alice")
    status.availability = {"alice": "ONLINE"}
    starter.fail["alice"] = FailedPrecondition("offline now", reason="CHANNEL_OFFLINE")
    stats = await auto.cycle()
    assert stats.failed == 0 and auto.runtime["alice"].failures == 0
    starter.fail["alice"] = AlreadyExists("busy", reason="PERSON_ALREADY_RECORDING")
    stats = await auto.cycle()
    assert stats.failed == 0 and stats.already_recording == 1


async def test_each_check_keeps_the_rooms_title_viewers_status_and_message(parts) -> None:
    watchlist, status, _starter, _, auto = parts
    add(watchlist, "alice")
    add(watchlist, "bob")
    status.availability = {"alice": "ONLINE", "bob": "PRIVATE"}
    status.rooms = {
        "alice": {"title": "Sunday stream #art", "viewers": 42, "room_status": "public"},
        "bob": {"title": "back soon", "room_status": "private", "message": "bob is in private"},
    }
    await auto.cycle()
    alice, bob = auto.runtime["alice"], auto.runtime["bob"]
    assert (alice.last_title, alice.last_viewers, alice.last_room_status, alice.last_message) == (
        "Sunday stream #art",
        42,
        "public",
        "",
    )
    assert (bob.last_availability, bob.last_title, bob.last_viewers, bob.last_room_status) == (
        "PRIVATE",
        "back soon",
        None,  # the site did not say
        "private",
    )
    assert bob.last_message == "bob is in private" and bob.last_check_at == NOW
    # The next check replaces every field, including with "unknown".
    status.rooms["bob"] = {"viewers": 0, "room_status": "private"}
    await auto.cycle()
    assert (bob.last_title, bob.last_viewers, bob.last_message) == ("", 0, "")


async def test_site_text_is_kept_cleaned_and_capped_never_interpreted(parts) -> None:
    watchlist, status, _starter, _, auto = parts
    add(watchlist, "alice")
    status.rooms = {
        "alice": {
            "title": "<b>hi</b>\x1b[31m\nred\u202e &amp; " + "x" * 1000,
            "room_status": "off\x00line",
            "message": "line one\r\nline two\x7f",
        }
    }
    await auto.cycle()
    state = auto.runtime["alice"]
    assert state.last_title.startswith("<b>hi</b>[31m red &amp; xxx")
    assert len(state.last_title) == 300
    assert state.last_room_status == "offline"
    assert state.last_message == "line one line two"


async def test_a_channel_found_offline_at_its_start_keeps_one_consistent_picture(parts) -> None:
    watchlist, status, starter, _, auto = parts
    add(watchlist, "alice")
    status.availability = {"alice": "ONLINE"}
    status.rooms = {"alice": {"title": "hello", "viewers": 12, "room_status": "public"}}
    starter.fail["alice"] = FailedPrecondition("alice went private\x07", reason="CHANNEL_PRIVATE")
    await auto.cycle()
    state = auto.runtime["alice"]
    assert state.last_availability == "PRIVATE"
    # the check's viewers and room status were of the public room: unknown now, not stale
    assert state.last_viewers is None and state.last_room_status == ""
    assert state.last_message == "alice went private"
    assert state.last_title == "hello"  # the room's title, whatever its state
    # ...learnt at the start, not at the check
    assert state.last_check_at is not None
    assert abs(state.last_check_at - datetime.now(UTC)) < timedelta(seconds=5)
    assert state.last_error == "" and state.failures == 0


async def test_a_resolver_outage_costs_a_cycle_not_the_scheduler(parts, caplog) -> None:
    watchlist, status, _starter, _, auto = parts
    add(watchlist, "alice")
    status.availability = {"alice": "ONLINE"}
    status.down = True
    stats = await auto.cycle()
    assert stats.unknown == 1 and stats.started == 0 and stats.errors
    status.down = False
    stats = await auto.cycle()
    assert stats.started == 1


async def test_each_cycle_logs_one_line_with_counts_and_each_start_has_its_own_id(
    parts, caplog
) -> None:
    watchlist, status, starter, _, auto = parts
    add(watchlist, "alice")
    add(watchlist, "bob")
    status.availability = {"alice": "ONLINE", "bob": "ONLINE"}
    with caplog.at_level(logging.INFO, logger="recorder_service.autorecord"):
        await auto.cycle()
    cycles = [r for r in caplog.records if getattr(r, "event.action", "") == "autorecord.cycle"]
    assert len(cycles) == 1
    line = cycles[0]
    assert getattr(line, "autorecord.started") == 2 and getattr(line, "autorecord.channels") == 2
    ids = starter.correlation_ids
    assert len(set(ids)) == 2 and all(i and i.startswith("autostart-") for i in ids)
    starts = [r for r in caplog.records if getattr(r, "event.action", "") == "autorecord.start"]
    cycle_ids = {getattr(r, "autorecord.cycle_id") for r in starts}
    assert len(cycle_ids) == 1 and cycle_ids.pop().startswith("autorecord-")


async def test_removed_channels_are_forgotten(parts) -> None:
    watchlist, _status, _, _, auto = parts
    add(watchlist, "alice")
    await auto.cycle()
    assert "alice" in auto.runtime
    watchlist.delete("alice")
    await auto.cycle()
    assert auto.runtime == {}


def test_the_interval_is_spread_by_the_jitter(parts) -> None:
    watchlist, status, starter, _clock, _ = parts
    values = iter([0.0, 1.0, 0.5])
    auto = AutoRecorder(
        watchlist, status, starter, interval=60, jitter=0.1, rng=lambda: next(values)
    )
    assert [auto.next_delay() for _ in range(3)] == pytest.approx([54, 66, 60])


async def test_run_cycles_until_stopped_and_survives_a_crashing_cycle(parts) -> None:
    auto = parts[4]
    auto.interval = 0.01
    calls = 0
    third = asyncio.Event()
    real = auto.cycle

    async def flaky():
        nonlocal calls
        calls += 1
        if calls >= 3:
            third.set()
        if calls == 1:
            raise RuntimeError("boom")
        return await real()

    auto.cycle = flaky  # type: ignore[method-assign]
    stop = asyncio.Event()
    task = asyncio.create_task(auto.run(stop))
    await asyncio.wait_for(third.wait(), 5)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert calls >= 3


def ended(channel: str, kind: EventType, lived_s: float, reason: str) -> SessionEvent:
    session = Session(
        session_id="s1",
        person=channel,
        name=channel,
        target=channel,
        source_type="auto",
        start_time=NOW,
        correlation_id="",
        preview_path="",
        state=SessionState.FAILED if kind is EventType.FAILED else SessionState.STOPPED,
        end_time=NOW + timedelta(seconds=lived_s),
        end_reason=reason,
        channel=channel,
    )
    return SessionEvent(1, NOW, kind, session)


async def test_a_session_that_dies_right_after_its_start_backs_the_channel_off(parts) -> None:
    watchlist, status, starter, clock, auto = parts
    add(watchlist, "alice")
    status.availability = {"alice": "ONLINE"}
    for failures, expected_wait in ((1, 60), (2, 120), (3, 240)):
        await auto.cycle()
        assert starter.started[-1].person == "alice"
        starter.busy.discard("alice")
        # ffmpeg exits 0 two seconds in (a CDN answering 404): "stream ended"
        auto.on_event(ended("alice", EventType.STOPPED, 2, "stream ended"))
        state = auto.runtime["alice"]
        assert state.failures == failures and "ended 2s after" in state.last_error
        assert state.retry_at == pytest.approx(clock.now + expected_wait)
        before = len(starter.started)
        await auto.cycle()
        assert len(starter.started) == before  # backing off
        clock.now = state.retry_at + 1
    # A session that lived, or one a user stopped, clears the slate.
    auto.on_event(ended("alice", EventType.STOPPED, 3600, "stream ended"))
    assert auto.runtime["alice"].failures == 0 and auto.runtime["alice"].last_error == ""
    auto.on_event(ended("alice", EventType.FAILED, 1, "ffmpeg exited with code 1"))
    assert auto.runtime["alice"].failures == 1
    auto.on_event(ended("alice", EventType.STOPPED, 1, "stopped by request"))
    assert auto.runtime["alice"].failures == 0


async def test_manual_sessions_do_not_touch_the_schedule(parts) -> None:
    watchlist, _, _, _, auto = parts
    add(watchlist, "alice")
    event = ended("alice", EventType.FAILED, 1, "boom")
    event.session.channel = ""
    auto.on_event(event)
    assert "alice" not in auto.runtime


async def test_availability_listeners_hear_each_change_once(parts) -> None:
    watchlist, status, _, _, auto = parts
    add(watchlist, "alice")
    heard: list[tuple[str, str, str]] = []
    auto.availability_listeners.append(lambda u, before, now, _at: heard.append((u, before, now)))
    status.availability = {"alice": "OFFLINE"}
    await auto.cycle()
    await auto.cycle()  # the same answer again: no change
    status.availability = {"alice": "PRIVATE"}
    await auto.cycle()
    assert heard == [("alice", "", "OFFLINE"), ("alice", "OFFLINE", "PRIVATE")]

    # A listener that fails is logged; the cycle and the other listeners go on.
    def broken(*_: object) -> None:
        raise RuntimeError("boom")

    auto.availability_listeners.insert(0, broken)
    status.availability = {"alice": "AWAY"}
    await auto.cycle()
    assert heard[-1] == ("alice", "PRIVATE", "AWAY")


async def test_each_channel_gets_one_debug_line_saying_why_it_was_or_was_not_started(
    parts, caplog
) -> None:
    watchlist, status, starter, clock, auto = parts
    for name in ("alice", "bob", "carol", "dave", "erin", "fay", "gus"):
        add(watchlist, name, auto_record=name != "dave")
    status.availability = {"alice": "ONLINE", "bob": "PRIVATE", "erin": "ONLINE", "gus": "ONLINE"}
    starter.busy.add("carol")
    starter.fail["erin"] = UpstreamError("CDN said 403", reason="CDN_FORBIDDEN")
    starter.fail["gus"] = FailedPrecondition("offline now", reason="CHANNEL_OFFLINE")

    def decisions() -> dict[str, logging.LogRecord]:
        lines = [
            r for r in caplog.records if getattr(r, "event.action", "") == "autorecord.decision"
        ]
        assert all(r.levelno == logging.DEBUG for r in lines)
        found = {vars(r)["channel"]: r for r in lines}
        assert len(found) == len(lines)  # one line per channel
        caplog.clear()
        return found

    with caplog.at_level(logging.DEBUG, logger="recorder_service.autorecord"):
        await auto.cycle()
        first = decisions()
        assert {name: getattr(r, "autorecord.reason") for name, r in first.items()} == {
            "alice": "started",
            "bob": "private",
            "carol": "recording",
            "dave": "paused",
            "erin": "start_failed",
            "fay": "offline",
            "gus": "offline",
        }
        assert vars(first["alice"])["session_id"] == "salice"
        assert "CDN_FORBIDDEN" in getattr(first["erin"], "error.message")
        clock.now += 30
        assert decisions() == {}  # nothing between cycles
        await auto.cycle()
        erin = decisions()["erin"]
        assert getattr(erin, "autorecord.reason") == "backing_off"
        assert getattr(erin, "autorecord.failures") == 1
        assert datetime.fromisoformat(getattr(erin, "autorecord.retry_at")) > datetime.now(UTC)
        assert erin.getMessage() == "auto-record erin: backing off"
        status.down = True
        await auto.cycle()
        assert getattr(decisions()["bob"], "autorecord.reason") == "status_unknown"


class SitesStatus(Status):
    """Answers per source; a source in ``broken`` fails its whole batch."""

    def __init__(self) -> None:
        super().__init__()
        self.broken: dict[str, Exception] = {}

    async def batch_channel_status(self, targets, source_type="auto", *, skip_cache=False):
        if source_type in self.broken:
            self.calls.append((list(targets), source_type))
            raise self.broken[source_type]
        return await super().batch_channel_status(targets, source_type, skip_cache=skip_cache)


def add_on(watchlist: WatchList, source: str, username: str, **kw) -> Channel:
    kw.setdefault("person", f"{source}-{username}")
    return add(watchlist, username, source=source, **kw)


async def test_one_batch_per_source_and_starts_carry_the_source(tmp_path) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    watchlist, status, starter = WatchList(store), SitesStatus(), Starter()
    auto = AutoRecorder(watchlist, status, starter, interval=60, rng=lambda: 0.5)
    add(watchlist, "alice")
    add_on(watchlist, "stripchat", "alice")
    add_on(watchlist, "stripchat", "bob")
    add_on(watchlist, "camsoda", "carol")
    status.availability = {"alice": "ONLINE", "bob": "ONLINE"}

    await auto.cycle()

    assert sorted(status.calls) == [
        (["alice"], "chaturbate"),
        (["alice", "bob"], "stripchat"),
        (["carol"], "camsoda"),
    ]
    started = {(r.source_type, r.target, r.person, r.channel) for r in starter.started}
    assert started == {
        ("chaturbate", "alice", "alice", "alice"),
        ("stripchat", "alice", "stripchat-alice", "stripchat:alice"),
        ("stripchat", "bob", "stripchat-bob", "stripchat:bob"),
    }
    # The two alices are two channels: each has its own state.
    assert set(auto.runtime) == {"alice", "stripchat:alice", "stripchat:bob", "camsoda:carol"}
    store.close()


@pytest.mark.parametrize(
    "failure",
    [
        Unavailable("site budget exhausted", reason="RESOLVER_UNAVAILABLE"),
        RuntimeError("a bug in one site's answer"),
    ],
)
async def test_a_site_whose_batch_fails_does_not_stop_the_others(tmp_path, failure) -> None:
    store = SqliteStore(tmp_path / "db.sqlite")
    watchlist, status, starter = WatchList(store), SitesStatus(), Starter()
    auto = AutoRecorder(watchlist, status, starter, interval=60, rng=lambda: 0.5)
    add(watchlist, "alice")
    add_on(watchlist, "stripchat", "bob")
    add_on(watchlist, "camsoda", "carol")
    status.availability = {"alice": "ONLINE", "carol": "ONLINE"}
    status.broken["stripchat"] = failure

    stats = await auto.cycle()

    assert {r.channel for r in starter.started} == {"alice", "camsoda:carol"}
    assert (stats.started, stats.unknown, stats.checked) == (2, 1, 2)
    assert stats.decisions["stripchat:bob"][0] == "status_unknown"
    assert len(stats.errors) == 1 and stats.errors[0].startswith("stripchat: ")
    store.close()
