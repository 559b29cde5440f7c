import asyncio
from datetime import UTC, datetime

import pytest

from recorder_service.events import EventBus, SubscriberTooSlow
from recorder_service.model import EventType, Session


def session(sid="s1"):
    return Session(
        session_id=sid,
        person="p",
        name="p",
        target="t",
        source_type="hls",
        start_time=datetime.now(UTC),
        correlation_id="c",
        preview_path="sessions/s1/stream.m3u8",
    )


def test_sequences_increase_and_events_carry_a_snapshot():
    bus = EventBus(first_sequence=0)
    s = session()
    e1 = bus.publish(EventType.STARTING, s)
    s.bytes_written = 10
    e2 = bus.publish(EventType.RECORDING, s)
    assert (e1.sequence, e2.sequence) == (1, 2)
    assert e1.session.bytes_written == 0 and e2.session.bytes_written == 10


async def test_new_subscriber_gets_a_snapshot_then_live_events():
    bus = EventBus(first_sequence=0)
    s = session()
    bus.publish(EventType.STARTING, s)
    sub = bus.subscribe(0, lambda: [s])
    assert sub.snapshot is not None and sub.snapshot.sequence == 1
    assert [x.session_id for x in sub.snapshot.sessions] == ["s1"]
    bus.publish(EventType.RECORDING, s)
    event = await sub.next(1.0)
    assert event is not None and event.sequence == 2


async def test_resume_replays_exactly_the_missed_events():
    bus = EventBus(first_sequence=0)
    s = session()
    for _ in range(5):
        bus.publish(EventType.PROGRESS, s)
    sub = bus.subscribe(2, lambda: [s])
    assert sub.snapshot is None
    assert [e.sequence for e in sub.replay] == [3, 4, 5]


async def test_resume_from_beyond_the_ring_falls_back_to_a_snapshot():
    bus = EventBus(ring_size=3, first_sequence=0)
    s = session()
    for _ in range(10):
        bus.publish(EventType.PROGRESS, s)
    assert bus.subscribe(2, lambda: [s]).snapshot is not None  # evicted
    assert bus.subscribe(7, lambda: [s]).replay[0].sequence == 8  # still held
    assert bus.subscribe(99, lambda: [s]).snapshot is not None  # from a previous life


async def test_heartbeat_timeout_returns_none():
    bus = EventBus(first_sequence=0)
    sub = bus.subscribe(0, list)
    assert await sub.next(0.01) is None


async def test_a_slow_subscriber_is_cut_off_without_slowing_the_others():
    bus = EventBus(queue_size=3, first_sequence=0)
    s = session()
    slow = bus.subscribe(0, list)
    fast = bus.subscribe(0, list)
    for i in range(10):
        bus.publish(EventType.PROGRESS, s)
        got = await fast.next(0.1)
        assert got is not None and got.sequence == i + 1
    assert bus.subscriber_count == 1
    for _ in range(3):
        assert await slow.next(0.1) is not None
    with pytest.raises(SubscriberTooSlow) as err:
        await slow.next(0.1)
    assert err.value.metadata["last_sequence"] == "3"


async def test_close_ends_every_subscription():
    bus = EventBus(first_sequence=0)
    sub = bus.subscribe(0, list)
    waiter = asyncio.create_task(sub.next(5.0))
    await asyncio.sleep(0)
    bus.close()
    assert await asyncio.wait_for(waiter, 1.0) is None
    assert sub.closed


async def test_a_restarted_recorder_numbers_above_the_previous_run():
    """A client that followed the previous run resumes behind the new ring: it gets a
    snapshot, never a wait for a sequence number the new run has not reached yet."""
    s = session()
    before = EventBus()
    for _ in range(50):
        before.publish(EventType.PROGRESS, s)
    last_seen = before.last_sequence
    after = EventBus()  # the recorder restarted
    assert after.last_sequence > last_seen
    first = after.publish(EventType.RECORDING, s)
    sub = after.subscribe(last_seen, lambda: [s])
    assert sub.snapshot is not None and sub.snapshot.sequence == first.sequence
    assert [x.session_id for x in sub.snapshot.sessions] == ["s1"]
    assert after.last_sequence < 2**53  # exact in JavaScript's numbers (SSE ids, the web UI)


async def test_a_subscriber_from_the_same_run_with_no_events_yet_replays_nothing():
    bus = EventBus()
    start = bus.last_sequence
    sub = bus.subscribe(start, lambda: [])
    assert sub.snapshot is None and sub.replay == []
    event = bus.publish(EventType.STARTING, session())
    got = await sub.next(1.0)
    assert got is not None and got.sequence == event.sequence == start + 1
