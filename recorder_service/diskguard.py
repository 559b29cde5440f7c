"""Keeps the disk from filling up under running recordings.

New starts are refused below the watermark (the manager's admission check). This loop covers
the sessions already running: below the watermark it first applies retention, and if that
does not free enough, it stops every running session so ffmpeg finishes its files cleanly
while there is still room, instead of letting a full disk cut them mid-write.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from recorder_service.model import Session
from recorder_service.retention import Retention
from servicekit import correlation
from servicekit.errors import ResourceExhausted

log = logging.getLogger(__name__)


async def guard_once(
    retention: Retention,
    running: Callable[[], Sequence[Session]],
    stop_session: Callable[[str, str], Awaitable[object]],
) -> bool:
    """One check; True when sessions had to be stopped."""
    try:
        retention.check_free_space()
        return False
    except ResourceExhausted:
        pass
    retention.run()
    try:
        retention.check_free_space()
        return False
    except ResourceExhausted as exc:
        sessions = list(running())
        if not sessions:
            return False
        reason = f"stopped: {exc.message}"
        log.error(
            "disk below the free-space watermark; stopping %d session(s)",
            len(sessions),
            extra={"event.action": "recorder.low_disk", "error.message": exc.message},
        )
        await asyncio.gather(
            *(stop_session(s.session_id, reason) for s in sessions),
            return_exceptions=True,
        )
        return True


async def disk_guard_loop(
    retention: Retention,
    running: Callable[[], Sequence[Session]],
    stop_session: Callable[[str, str], Awaitable[object]],
    *,
    interval_s: float,
    stop: asyncio.Event,
) -> None:
    """``guard_once`` every ``interval_s`` until ``stop`` is set; never dies of an error."""
    if retention.min_free_bytes <= 0:
        return
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), interval_s)
            return
        except TimeoutError:
            pass
        with correlation.bound(correlation.new_id("diskguard-")):
            try:
                await guard_once(retention, running, stop_session)
            except Exception:
                log.exception("disk check failed", extra={"event.action": "recorder.low_disk"})
