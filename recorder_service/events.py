"""The session event bus: a numbered ring of recent events and bounded per-subscriber queues.

Publishing never waits: a subscriber whose queue is full is cut off (it can resume from the
last sequence it saw), so one slow client never slows the ffmpeg supervisors or other clients.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

from recorder_service.model import EventType, Session, SessionEvent
from servicekit import correlation
from servicekit.errors import ResourceExhausted

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Snapshot:
    """Every known session as of ``sequence``: events after it follow."""

    sequence: int
    sessions: Sequence[Session]


class SubscriberTooSlow(ResourceExhausted):
    """The subscriber's queue overflowed; it must resume from its last sequence."""

    default_reason = "SUBSCRIBER_TOO_SLOW"


class Subscription:
    """One subscriber: an initial part (a snapshot or a replay) followed by live events."""

    def __init__(
        self,
        bus: EventBus,
        queue_size: int,
        *,
        snapshot: Snapshot | None,
        replay: list[SessionEvent],
    ) -> None:
        self._bus = bus
        # None in the queue marks the end of the subscription (recorder shutting down).
        self.queue: asyncio.Queue[SessionEvent | None] = asyncio.Queue(maxsize=queue_size)
        self.snapshot = snapshot
        self.replay = replay
        self.overflowed = False
        self.closed = False
        self.last_sequence = (
            replay[-1].sequence if replay else (snapshot.sequence if snapshot else 0)
        )

    def _offer(self, event: SessionEvent) -> bool:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            return False
        return True

    async def next(self, wait_s: float) -> SessionEvent | None:
        """The next live event, or None when ``wait_s`` seconds pass with nothing new."""
        if self.overflowed and self.queue.empty():
            raise SubscriberTooSlow(
                f"event subscriber too slow; resume after sequence {self.last_sequence}",
                metadata={"last_sequence": str(self.last_sequence)},
            )
        try:
            # Already queued (a subscriber catching up): no timer, no task.
            event = self.queue.get_nowait()
        except asyncio.QueueEmpty:
            try:
                # asyncio.timeout, not wait_for: wait_for wraps the get in a new task, which
                # for hundreds of subscribers costs more than the delivery itself.
                async with asyncio.timeout(wait_s):
                    event = await self.queue.get()
            except TimeoutError:
                return None
        if event is None:
            return None
        self.last_sequence = event.sequence
        return event

    def ready(self, limit: int) -> list[SessionEvent]:
        """Up to ``limit`` live events already queued, without waiting (none once the
        subscription has ended)."""
        out: list[SessionEvent] = []
        while len(out) < limit:
            try:
                event = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            if event is None:  # the end: `closed` is already set
                break
            out.append(event)
        if out:
            self.last_sequence = out[-1].sequence
        return out

    def close(self) -> None:
        """Stop receiving events (idempotent)."""
        self._bus._unsubscribe(self)

    def _end(self) -> None:
        self.closed = True
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:
            pass  # the subscriber sees `closed` once it drains its queue


class EventBus:
    """Numbers events with a recorder-wide increasing sequence and fans them out.

    The sequence starts at the microseconds since the Unix epoch when the bus is made, not at
    0: a recorder that restarts numbers its events above every number the previous run handed
    out (a run emits far fewer than one event per microsecond), so a client resuming with an
    id from before the restart is behind the ring and gets a snapshot, instead of waiting for
    a number the new run reaches only much later and missing everything until then. The
    numbers stay below 2**53, exact in JavaScript, until the 23rd century."""

    def __init__(
        self,
        ring_size: int = 10_000,
        queue_size: int = 2_000,
        first_sequence: int | None = None,
        *,
        atomic: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
    ) -> None:
        self._ring: collections.deque[SessionEvent] = collections.deque(maxlen=ring_size)
        self._queue_size = queue_size
        self._subscribers: set[Subscription] = set()
        self._sequence = time.time_ns() // 1_000 if first_sequence is None else first_sequence
        self._listeners: list[Callable[[SessionEvent], None]] = []
        # The store's transaction: what every listener writes for one event (the session's
        # row, the notifications it causes) is committed as one.
        self.atomic = atomic

    def add_listener(self, listener: Callable[[SessionEvent], None]) -> None:
        """Call ``listener`` with every event as it is published (before subscribers see it),
        e.g. to persist the session. It must be quick and must not publish."""
        self._listeners.append(listener)

    @property
    def last_sequence(self) -> int:
        return self._sequence

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def publish(
        self,
        type_: EventType,
        session: Session,
        message: str = "",
        *,
        correlation_id: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> SessionEvent:
        """Record an event for ``session`` (snapshotted now) and hand it to every subscriber."""
        self._sequence += 1
        event = SessionEvent(
            sequence=self._sequence,
            event_time=datetime.now(UTC),
            type=type_,
            session=session.snapshot(),
            message=message,
            correlation_id=correlation_id or correlation.get() or session.correlation_id,
            extra=extra or {},
        )
        self._ring.append(event)
        try:
            with self.atomic():
                for listener in self._listeners:
                    try:
                        listener(event)
                    except Exception:
                        log.exception(
                            "event listener failed",
                            extra={
                                "event.action": "events.listener_error",
                                "session_id": session.session_id,
                            },
                        )
        except Exception:  # the commit itself (a full or failing disk)
            log.exception(
                "event listeners' writes failed",
                extra={"event.action": "events.listener_error", "session_id": session.session_id},
            )
        for sub in list(self._subscribers):
            if not sub._offer(event):
                self._subscribers.discard(sub)
                log.warning(
                    "event subscriber cut off: queue full",
                    extra={
                        "event.action": "events.subscriber_overflow",
                        "sequence": event.sequence,
                    },
                )
        return event

    def subscribe(
        self, after_sequence: int, sessions: Callable[[], Sequence[Session]]
    ) -> Subscription:
        """Subscribe from ``after_sequence``: a replay when the ring still holds every event
        after it, else a snapshot of ``sessions()``. Nothing can be missed in between: the
        replay or snapshot and the registration happen without yielding to the loop."""
        oldest = self._ring[0].sequence if self._ring else self._sequence + 1
        can_replay = 0 < after_sequence <= self._sequence and after_sequence + 1 >= oldest
        if can_replay:
            replay = [e for e in self._ring if e.sequence > after_sequence]
            sub = Subscription(self, self._queue_size, snapshot=None, replay=replay)
            if not replay:
                sub.last_sequence = after_sequence
        else:
            snap = Snapshot(self._sequence, [s.snapshot() for s in sessions()])
            sub = Subscription(self, self._queue_size, snapshot=snap, replay=[])
        self._subscribers.add(sub)
        return sub

    def close(self) -> None:
        """End every subscription (on shutdown): their streams finish cleanly and clients
        resume elsewhere, or here after a restart, from their last sequence."""
        for sub in list(self._subscribers):
            sub._end()
        self._subscribers.clear()

    def _unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)
