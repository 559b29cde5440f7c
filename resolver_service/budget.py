"""The request budget: how fast and how many at once the resolver may call each site host.

Every request to a site or CDN takes a slot from its host's budget first. A host gets a token
bucket (``rate`` requests per second, bursts of ``burst``) implemented as GCRA: each request
reserves the earliest send time the bucket allows, plus a random jitter, and waits for it. The
jitter is inside the reservation, so the booked send times keep "at most ``burst + rate * T``
requests in any ``T`` seconds" exactly, jitter or not (a send can only lag its booking). A
per-host semaphore caps requests in flight, and a ``Retry-After`` from the host pauses every
later request to it, not just the one retried.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

__all__ = ["BudgetConfig", "BudgetStats", "HostPaused", "RequestBudget"]


class HostPaused(Exception):
    """The host asked for a pause longer than the caller is willing to wait."""

    def __init__(self, remaining: float) -> None:
        super().__init__(f"host paused for {remaining:.0f} s more")
        self.remaining = remaining


@dataclass(frozen=True)
class BudgetConfig:
    """Limits per host. ``jitter`` is the largest random delay (seconds) added to each send."""

    rate: float = 2.0
    burst: int = 4
    concurrency: int = 4
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1 or self.concurrency < 1 or self.jitter < 0:
            raise ValueError("rate > 0, burst >= 1, concurrency >= 1 and jitter >= 0 are required")


@dataclass
class BudgetStats:
    """Counters for metrics and logs: how often and how long requests waited for the budget."""

    requests: int = 0
    waits: int = 0
    wait_seconds: float = 0.0
    pauses: int = 0


class _Host:
    def __init__(self, config: BudgetConfig, now: float) -> None:
        self.interval = 1.0 / config.rate
        # Theoretical arrival time (GCRA): the bucket is full while tat <= now.
        self.tat = now
        self.tolerance = (config.burst - 1) * self.interval
        self.paused_until = now
        self.in_flight = asyncio.Semaphore(config.concurrency)


class RequestBudget:
    """Rate, jitter and concurrency limits shared by every site call of the process.

    Only usable from one event loop (the resolver's). ``clock`` and ``sleep`` are injectable so
    tests can check the schedule without waiting; ``rng`` makes the jitter reproducible.
    """

    def __init__(
        self,
        config: BudgetConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config or BudgetConfig()
        self.stats = BudgetStats()
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._hosts: dict[str, _Host] = {}

    def _host(self, host: str) -> _Host:
        state = self._hosts.get(host)
        if state is None:
            state = self._hosts[host] = _Host(self.config, self._clock())
        return state

    def reserve(self, host: str) -> float:
        """Book the next send slot for ``host``; returns the seconds to wait before sending."""
        state = self._host(host)
        now = self._clock()
        tat = max(state.tat, now)
        jitter = self._rng.uniform(0.0, self.config.jitter) if self.config.jitter else 0.0
        send_at = max(now, tat - state.tolerance) + jitter
        state.tat = max(tat, send_at) + state.interval
        return send_at - now

    def pause(self, host: str, seconds: float) -> None:
        """Send nothing to ``host`` for ``seconds`` (its Retry-After), then resume the rate."""
        if seconds <= 0:
            return
        state = self._host(host)
        resume = self._clock() + seconds
        state.tat = max(state.tat, resume + state.tolerance)
        state.paused_until = max(state.paused_until, resume)
        self.stats.pauses += 1

    def paused_for(self, host: str) -> float:
        """Seconds left of ``host``'s pause (0 when it is not paused)."""
        state = self._hosts.get(host)
        return 0.0 if state is None else max(0.0, state.paused_until - self._clock())

    @asynccontextmanager
    async def slot(self, host: str, *, max_pause: float | None = None) -> AsyncIterator[float]:
        """Hold one of ``host``'s concurrent slots, sent no earlier than its rate allows.

        Yields the seconds spent waiting. The slot is taken before the rate slot is booked, so
        requests queued behind the concurrency cap cannot pile up early bookings and then
        leave together as a burst. Raises HostPaused, without booking, when the host is paused
        for more than ``max_pause`` seconds (checked again once the slot is ours: the pause may
        have begun while we queued).
        """
        state = self._host(host)
        started = self._clock()
        async with state.in_flight:
            paused = self.paused_for(host)
            if max_pause is not None and paused > max_pause:
                raise HostPaused(paused)
            delay = self.reserve(host)
            if delay > 0:
                await self._sleep(delay)
            waited = self._clock() - started
            self.stats.requests += 1
            if waited > 0.001:
                self.stats.waits += 1
                self.stats.wait_seconds += waited
            yield waited
