"""The wait before a restart comes from tenacity's policy: 0.5 s doubling to the cap, plus a
little jitter that never passes the cap; the runner waits exactly what the policy says, and a
stop cuts the wait short."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from recorder_service.backoff import restart_backoff, wait_before
from recorder_service.model import EventType, SessionState
from recorder_service.runner import Watchdog
from tests.recorder_service.runner_harness import Harness, script


def test_waits_double_from_the_initial_wait_up_to_the_cap() -> None:
    policy = restart_backoff(0.5, 30.0, jitter=0.0)
    waits = [wait_before(policy, n) for n in range(1, 10)]
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert wait_before(policy, 10_000) == 30.0  # no overflow however long it failed


def test_jitter_only_adds_to_the_wait_and_never_passes_the_cap() -> None:
    policy = restart_backoff(0.5, 3.0, jitter=0.25)
    for restart, base in [(1, 0.5), (2, 1.0), (3, 2.0)]:
        waits = {wait_before(policy, restart) for _ in range(50)}
        assert all(base <= w <= base + 0.25 for w in waits), (restart, waits)
        assert len(waits) > 1  # spread out, not one instant for every session
    assert {wait_before(policy, 4) for _ in range(20)} == {3.0}


def test_the_default_watchdog_keeps_half_a_second_doubling_with_a_small_jitter() -> None:
    wd = Watchdog()
    policy = restart_backoff(wd.backoff_initial, wd.backoff_max, wd.backoff_jitter)
    assert 0.5 <= wait_before(policy, 1) <= 0.75
    assert 4.0 <= wait_before(policy, 4) <= 4.25
    assert wait_before(policy, 8) == 30.0


async def test_the_runner_waits_what_the_policy_says_between_restarts(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    # ffmpeg exits at once every time; the channel stays live: restarts until the budget ends.
    wd = Watchdog(
        stall_timeout=60, max_restarts=4, backoff_initial=0.02, backoff_max=0.1, backoff_jitter=0.05
    )
    h = Harness(tmp_path, script(tmp_path, ["[error] boom"]), wd)
    with caplog.at_level(logging.WARNING, logger="recorder_service.runner"):
        await h.runner.start()
        await asyncio.wait_for(h.ended.wait(), 10)
    waits = []
    for record in caplog.records:
        if record.getMessage().startswith("restarting ffmpeg in"):
            assert isinstance(record.args, tuple) and isinstance(record.args[0], float)
            waits.append(record.args[0])  # the delay, unrounded
    assert len(waits) == 4 and h.session.state is SessionState.FAILED
    for restart, wait in enumerate(waits, start=1):
        base = min(0.1, 0.02 * 2 ** (restart - 1))
        assert base <= wait <= min(0.1, base + 0.05), (restart, waits)
    assert waits[-1] == 0.1  # capped, jitter included
    assert len(h.events(EventType.RECONNECTING)) == 4


async def test_a_stop_during_the_wait_ends_the_session_at_once(tmp_path) -> None:
    wd = Watchdog(stall_timeout=60, backoff_initial=30.0, backoff_max=60.0)
    h = Harness(tmp_path, script(tmp_path, ["[error] boom"]), wd)
    await h.runner.start()
    await h.until(EventType.RECONNECTING)
    began = time.monotonic()
    session = await h.runner.stop("stopped by request")
    assert time.monotonic() - began < 2
    assert session.state is SessionState.STOPPED and session.restarts == 1
