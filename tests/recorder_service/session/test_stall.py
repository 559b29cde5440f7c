"""When the watchdog looks again, and when it calls ffmpeg stalled: tables."""

from __future__ import annotations

import pytest

from recorder_service.session.stall import (
    FIRST_BYTES_POLL_S,
    STALL_POLL_S,
    is_stalled,
    watch_delay,
)


@pytest.mark.parametrize(
    ("starting", "now", "progress_at", "advanced_at", "expected"),
    [
        # Waiting for the first bytes: poll fast, whatever else.
        (True, 100.0, 0.0, 100.0, FIRST_BYTES_POLL_S),
        (True, 100.0, 99.9, 99.9, FIRST_BYTES_POLL_S),
        # No report yet (progress_at 0): the reports are overdue, poll the files.
        (False, 100.0, 0.0, 99.0, STALL_POLL_S),
        # Reports overdue (last at 90, interval 1: due by 92.5): poll the files.
        (False, 100.0, 90.0, 90.0, STALL_POLL_S),
        # Reports coming: sleep until they would be overdue (99.5 + 2 + 0.5 = 102)...
        (False, 100.0, 99.5, 99.5, 2.0),
        # ...or until the stall deadline, when that comes first (81 + 20 = 101 < 102.4).
        (False, 100.0, 99.9, 81.0, 1.0),
        # Never less than the poll interval (a deadline 0.2 s away, or past).
        (False, 100.0, 99.9, 80.2, STALL_POLL_S),
        (False, 100.0, 99.9, 79.0, STALL_POLL_S),
    ],
)
def test_watch_delay(
    starting: bool, now: float, progress_at: float, advanced_at: float, expected: float
) -> None:
    delay = watch_delay(
        starting=starting,
        now=now,
        progress_at=progress_at,
        advanced_at=advanced_at,
        progress_interval=1.0,
        stall_timeout=20.0,
    )
    assert delay == pytest.approx(expected)


@pytest.mark.parametrize(
    ("now", "advanced_at", "stalled"),
    [(100.0, 90.0, False), (100.0, 80.0, False), (100.0, 79.9, True)],
)
def test_is_stalled(now: float, advanced_at: float, stalled: bool) -> None:
    assert is_stalled(now, advanced_at, 20.0) is stalled
