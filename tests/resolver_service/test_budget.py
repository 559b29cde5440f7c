"""The request budget: GCRA rate with jitter, Retry-After pauses, per-host concurrency."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest

from resolver_service.budget import BudgetConfig, HostPaused, RequestBudget


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_config_refuses_nonsense() -> None:
    for bad in ({"rate": 0}, {"burst": 0}, {"concurrency": 0}, {"jitter": -1}):
        with pytest.raises(ValueError):
            BudgetConfig(**bad)  # type: ignore[arg-type]


def test_a_burst_goes_at_once_then_requests_are_spaced_by_the_rate() -> None:
    t = FakeTime()
    budget = RequestBudget(BudgetConfig(rate=2, burst=3, jitter=0), clock=t.clock)
    delays = [budget.reserve("site") for _ in range(6)]
    assert delays == pytest.approx([0, 0, 0, 0.5, 1.0, 1.5])


def test_hosts_have_separate_buckets() -> None:
    t = FakeTime()
    budget = RequestBudget(BudgetConfig(rate=1, burst=1, jitter=0), clock=t.clock)
    assert budget.reserve("a") == 0 and budget.reserve("b") == 0
    assert budget.reserve("a") == pytest.approx(1.0)


def test_the_bucket_refills_while_idle_but_not_beyond_the_burst() -> None:
    t = FakeTime()
    budget = RequestBudget(BudgetConfig(rate=1, burst=2, jitter=0), clock=t.clock)
    for _ in range(2):
        budget.reserve("site")
    t.now += 100
    assert [budget.reserve("site") for _ in range(3)] == pytest.approx([0, 0, 1.0])


async def test_with_jitter_the_rate_bound_still_holds_exactly() -> None:
    t = FakeTime()
    config = BudgetConfig(rate=5, burst=4, concurrency=1000, jitter=0.7)
    budget = RequestBudget(config, clock=t.clock, sleep=t.sleep, rng=random.Random(7))
    sent: list[float] = []
    for _ in range(500):
        async with budget.slot("site"):
            sent.append(t.now)
    # GCRA: at most burst + rate * T in any window of T seconds.
    for window in (0.5, 1.0, 5.0, 20.0):
        assert max_in_window(sent, window) <= config.burst + config.rate * window
    duration = sent[-1] - sent[0]
    assert duration >= (500 - config.burst) / config.rate
    # The jitter really moves send times off the rate grid.
    gaps = {round(b - a, 3) for a, b in itertools.pairwise(sent)}
    assert len(gaps) > 50


def test_pause_holds_the_host_for_retry_after_then_resumes_the_rate() -> None:
    t = FakeTime()
    budget = RequestBudget(BudgetConfig(rate=10, burst=5, jitter=0), clock=t.clock)
    assert budget.reserve("site") == 0
    budget.pause("site", 30)
    assert budget.reserve("site") == pytest.approx(30)
    assert budget.reserve("site") == pytest.approx(30.1)
    assert budget.reserve("other") == 0
    assert budget.stats.pauses == 1
    assert budget.paused_for("site") == pytest.approx(30) and budget.paused_for("other") == 0
    t.now += 31
    assert budget.paused_for("site") == 0


async def test_concurrency_is_capped_per_host() -> None:
    budget = RequestBudget(BudgetConfig(rate=10_000, burst=10_000, concurrency=3, jitter=0))
    in_flight = peak = 0

    async def call(host: str) -> None:
        nonlocal in_flight, peak
        async with budget.slot(host):
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1

    await asyncio.gather(*(call("site") for _ in range(20)))
    assert peak == 3
    peak = 0
    await asyncio.gather(*(call(h) for h in ("a", "b") for _ in range(6)))
    assert peak == 6


async def test_waits_are_counted() -> None:
    t = FakeTime()
    budget = RequestBudget(BudgetConfig(rate=1, burst=1, jitter=0), clock=t.clock, sleep=t.sleep)
    for _ in range(3):
        async with budget.slot("site") as waited:
            pass
    assert waited == pytest.approx(1.0)
    assert budget.stats.requests == 3 and budget.stats.waits == 2
    assert budget.stats.wait_seconds == pytest.approx(2.0)


async def test_a_request_queued_when_a_long_pause_begins_is_not_trapped() -> None:
    budget = RequestBudget(BudgetConfig(rate=10_000, burst=10_000, concurrency=1, jitter=0))
    release = asyncio.Event()

    async def first() -> None:
        async with budget.slot("site", max_pause=5):
            await release.wait()

    holder = asyncio.create_task(first())
    await asyncio.sleep(0)
    queued = asyncio.create_task(budget.slot("site", max_pause=5).__aenter__())
    await asyncio.sleep(0)
    budget.pause("site", 3600)  # the holder's answer was a 429 asking for an hour
    release.set()
    await holder
    with pytest.raises(HostPaused) as info:
        await queued
    assert info.value.remaining > 3500


def test_bookings_made_at_one_instant_keep_the_bound_with_jitter() -> None:
    # Many callers booking before any of them sends: only jitter taken inside the booking
    # keeps the booked times within burst + rate * T (jitter added afterwards would bunch).
    t = FakeTime()
    config = BudgetConfig(rate=5, burst=4, concurrency=1000, jitter=0.7)
    budget = RequestBudget(config, clock=t.clock, rng=random.Random(3))
    sent = [t.now + budget.reserve("site") for _ in range(500)]
    for window in (0.2, 0.5, 1.0, 5.0):
        assert max_in_window(sent, window) <= config.burst + config.rate * window
