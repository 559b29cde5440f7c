"""Channel status values and the status cache: TTL, single flight, errors, cancellation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from resolver_service.status import (
    Availability,
    ChannelStatus,
    StatusCache,
    availability_for_room_status,
)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def status(
    target: str = "alice", availability: Availability = Availability.ONLINE, **kw: object
) -> ChannelStatus:
    return ChannelStatus(
        target=target,
        source="chaturbate",
        availability=availability,
        checked_at=datetime.now(UTC),
        **kw,  # type: ignore[arg-type]
    )


def test_room_status_words_map_to_availabilities() -> None:
    assert availability_for_room_status("public") is Availability.ONLINE
    assert availability_for_room_status(" Password Protected ") is Availability.PASSWORD_PROTECTED
    assert availability_for_room_status("group") is Availability.GROUP_SHOW
    assert availability_for_room_status("something new") is None
    assert not Availability.BLOCKED.is_conclusive and Availability.RATE_LIMITED.is_conclusive


def test_answers_expire_after_the_ttl_and_rate_limits_after_retry_after() -> None:
    clock = Clock()
    cache = StatusCache(10, clock=clock)
    cache.put(status("a"))
    cache.put(status("b", Availability.RATE_LIMITED, retry_after=60.0))
    clock.now = 9.9
    assert cache.get("chaturbate", "a") is not None
    clock.now = 10.0
    assert cache.get("chaturbate", "a") is None
    assert cache.get("chaturbate", "b") is not None
    clock.now = 60.0
    assert cache.get("chaturbate", "b") is None


def test_the_cache_is_bounded_and_a_zero_ttl_disables_it() -> None:
    cache = StatusCache(10, max_entries=3)
    for name in "abcde":
        cache.put(status(name))
    assert [n for n in "abcde" if cache.get("chaturbate", n)] == ["c", "d", "e"]
    off = StatusCache(0)
    off.put(status("a"))
    assert off.get("chaturbate", "a") is None


async def test_concurrent_questions_share_one_lookup() -> None:
    cache = StatusCache(10)
    calls = 0

    async def fetch() -> ChannelStatus:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return status()

    results = await asyncio.gather(*(cache.lookup("chaturbate", "alice", fetch) for _ in range(20)))
    assert calls == 1 and len({id(r) for r in results}) == 1
    await cache.lookup("chaturbate", "alice", fetch)
    assert calls == 1 and cache.misses == 1 and cache.hits == 20
    await cache.lookup("chaturbate", "alice", fetch, skip_cache=True)
    assert calls == 2


async def test_a_failed_lookup_fails_its_waiters_and_is_not_cached() -> None:
    cache = StatusCache(10)

    async def broken() -> ChannelStatus:
        await asyncio.sleep(0.02)
        raise RuntimeError("boom")

    outcomes = await asyncio.gather(
        *(cache.lookup("chaturbate", "alice", broken) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(o, RuntimeError) for o in outcomes)

    async def fine() -> ChannelStatus:
        return status()

    assert (await cache.lookup("chaturbate", "alice", fine)).is_online


async def test_a_cancelled_asker_does_not_cancel_the_others() -> None:
    cache = StatusCache(10)
    started = asyncio.Event()

    async def slow() -> ChannelStatus:
        started.set()
        await asyncio.sleep(0.1)
        return status()

    first = asyncio.create_task(cache.lookup("chaturbate", "alice", slow))
    await started.wait()
    second = asyncio.create_task(cache.lookup("chaturbate", "alice", slow))
    await asyncio.sleep(0.01)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert (await second).is_online
    # And a waiter that is itself cancelled still sees its own cancellation.
    started.clear()
    third = asyncio.create_task(cache.lookup("chaturbate", "bob", slow))
    await started.wait()
    fourth = asyncio.create_task(cache.lookup("chaturbate", "bob", slow))
    await asyncio.sleep(0.01)
    fourth.cancel()
    with pytest.raises(asyncio.CancelledError):
        await fourth
    assert (await third).is_online
