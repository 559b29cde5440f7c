"""Delivers the outbox: each target's due deliveries, oldest first, at most its ``max_in_flight``
at a time, each attempt bounded by NOTIFY_TIMEOUT. A failed attempt is tried again after a
tenacity backoff (exponential with jitter, NOTIFY_RETRY_INITIAL doubling up to
NOTIFY_RETRY_MAX_WAIT; a longer Retry-After is honoured) until the delivery's deadline
(NOTIFY_RETRY_FOR after the event), then it is dead. The schedule is in the outbox row, so a
restart picks it up where it was; a delivery cut short by a crash is simply sent again under
the same id.

It runs on the recorder's event loop but never in a session's way: sends are network waits
(Apprise's in threads), and what it writes is a handful of rows per attempt.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

import tenacity
from tenacity import RetryCallState, wait_exponential_jitter

from recorder_service.notify import metrics
from recorder_service.notify.catalogue import Notification, common
from recorder_service.notify.model import Attempt, Delivery, Message, Target, TargetKind
from recorder_service.notify.notifier import Notifier
from recorder_service.notify.outbox import Outbox
from recorder_service.notify.settings import NotifySettings
from servicekit import correlation

log = logging.getLogger(__name__)

_IDLE_WAKE_S = 30.0
_PRUNE_EVERY_S = 3_600.0
_MEASURE_EVERY_S = 1.0


class Sender(Protocol):
    async def send(self, target: Target, message: Message) -> Attempt: ...


class Backoff:
    """The wait before attempt ``n + 1`` after ``n`` failed ones (tenacity's exponential
    backoff with jitter), computed from the attempt count kept in the outbox."""

    def __init__(self, initial: float, max_wait: float) -> None:
        self._retrying = tenacity.Retrying(
            wait=wait_exponential_jitter(multiplier=initial, max=max_wait, jitter=initial)
        )
        self.max_wait = max_wait

    def wait(self, failed_attempts: int) -> float:
        state = RetryCallState(self._retrying, fn=None, args=(), kwargs={})
        state.attempt_number = max(1, failed_attempts)
        return float(self._retrying.wait(state))

    def next_attempt_at(
        self, failed_attempts: int, now: float, deadline: float, retry_after: float = 0.0
    ) -> float | None:
        """When to try again, or None when the deadline has passed: the last try is made at
        the deadline itself rather than skipped."""
        if now >= deadline:
            return None
        delay = max(self.wait(failed_attempts), min(retry_after, self.max_wait))
        return min(now + delay, deadline)


class Dispatcher:
    def __init__(
        self,
        notifier: Notifier,
        senders: dict[TargetKind, Sender],
        settings: NotifySettings,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._notifier = notifier
        self._outbox: Outbox = notifier.outbox
        self._senders = senders
        self._settings = settings
        self._clock = clock
        self.backoff = Backoff(settings.retry_initial, settings.retry_max_wait)
        self._in_flight: dict[str, set[int]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._pruned_at = 0.0
        self._measured_at = 0.0
        notifier.on_queued = self.wake

    def wake(self) -> None:
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return sum(len(ids) for ids in self._in_flight.values())

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; never dies of an error (it logs and carries on)."""
        with correlation.bound(correlation.new_id("notify-")):
            while not stop.is_set():
                self._wake.clear()
                try:
                    delay = self.dispatch_due()
                    self._housekeeping()
                except Exception:
                    log.exception(
                        "notification dispatch failed", extra={"event.action": "notify.error"}
                    )
                    delay = 5.0
                waiters = [
                    asyncio.ensure_future(self._wake.wait()),
                    asyncio.ensure_future(stop.wait()),
                ]
                try:
                    await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waiters:
                        w.cancel()

    def dispatch_due(self) -> float:
        """Start every due delivery a target has room for; returns the seconds until the next
        one falls due (or the idle wake-up)."""
        now = self._clock()
        waiting = []
        for target in self._notifier.targets():
            if not target.enabled:
                continue
            busy = self._in_flight.setdefault(target.id, set())
            room = self._notifier.max_in_flight(target) - len(busy)
            if room <= 0:
                continue
            for delivery in self._outbox.due(target.id, now, room, busy):
                busy.add(delivery.id)
                task = asyncio.create_task(
                    self._deliver(target, delivery), name=f"notify-{delivery.id}"
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if len(busy) < self._notifier.max_in_flight(target):
                waiting.append(target.id)
        next_due = self._outbox.next_due(waiting)
        if next_due is None:
            return _IDLE_WAKE_S
        return min(_IDLE_WAKE_S, max(0.0, next_due - self._clock()))

    def _housekeeping(self) -> None:
        now = self._clock()
        if now - self._measured_at < _MEASURE_EVERY_S:
            return  # a flood wakes the loop at every answer: the gauge needs no more than this
        self._measured_at = now
        depth = self._outbox.pending_counts()
        for target in self._notifier.targets():
            metrics.QUEUE_DEPTH.labels(target.id).set(depth.get(target.id, 0))
        if now - self._pruned_at >= _PRUNE_EVERY_S:
            self._pruned_at = now
            removed = self._outbox.prune(
                now - self._settings.history_days * 86_400, now - self._settings.dead_days * 86_400
            )
            if removed:
                log.info(
                    "forgot %d old deliveries",
                    removed,
                    extra={"event.action": "notify.prune", "notify.removed": removed},
                )

    async def _deliver(self, target: Target, delivery: Delivery) -> None:
        extra = {
            "notify.target": target.id,
            "notify.message_id": delivery.message_id,
            "notify.type": delivery.event_type,
            "notify.attempt": delivery.attempts + 1,
        }
        try:
            message = self._outbox.message(delivery.message_id)
            if message is None:  # its target was deleted meanwhile, or pruned
                return
            attempt = await self._senders[target.kind].send(target, message)
            self._record(target, delivery, message, attempt, extra)
        except asyncio.CancelledError:
            raise  # shutting down: it stays pending and goes out after the restart
        except Exception:
            log.exception("delivery crashed", extra={**extra, "event.action": "notify.error"})
        finally:
            self._in_flight.get(target.id, set()).discard(delivery.id)
            self._wake.set()

    def _record(
        self,
        target: Target,
        delivery: Delivery,
        message: Message,
        attempt: Attempt,
        extra: dict[str, object],
    ) -> None:
        now = self._clock()
        if attempt.ok:
            self._outbox.delivered(delivery.id, attempt.status, now)
            metrics.DELIVERIES.labels(target.id, "delivered").inc()
            metrics.DELIVERY_SECONDS.labels(target.id).observe(
                max(0.0, now - message.created_at.timestamp())
            )
            log.debug(
                "%s delivered to %s",
                delivery.event_type,
                target.id,
                extra={
                    **extra,
                    "event.action": "notify.delivered",
                    "http.response.status_code": attempt.status,
                    "event.duration": int(attempt.latency_s * 1e9),
                },
            )
            return
        failed = delivery.attempts + 1
        next_at = self.backoff.next_attempt_at(
            failed, now, delivery.deadline.timestamp(), attempt.retry_after
        )
        self._outbox.failed(
            delivery.id, at=now, status=attempt.status, error=attempt.error, next_at=next_at
        )
        outcome = "retried" if next_at is not None else "dead"
        metrics.DELIVERIES.labels(target.id, outcome).inc()
        if next_at is None:
            log.warning(
                "%s to %s is dead after %d attempt(s): %s",
                delivery.event_type,
                target.id,
                failed,
                attempt.error,
                extra={**extra, "event.action": "notify.dead", "error.message": attempt.error},
            )
        else:
            log.info(
                "%s to %s failed (%s); next try in %.0fs",
                delivery.event_type,
                target.id,
                attempt.error,
                next_at - now,
                extra={
                    **extra,
                    "event.action": "notify.retry",
                    "error.message": attempt.error,
                    "retry.sleep_s": round(next_at - now, 3),
                },
            )

    async def test(self, target: Target) -> tuple[Notification, Attempt]:
        """Send a ``notification.test`` to one target now, outside the outbox (no retry), and
        say what the receiver answered."""
        n = Notification(
            "notification.test",
            {
                **common(correlation_id=correlation.get()),
                "message": "A test from streamrec: notifications reach this target.",
                "target": target.id,
            },
        )
        message = Message(n.id, n.type, n.time, n.body())
        attempt = await self._senders[target.kind].send(target, message)
        log.info(
            "test notification to %s: %s",
            target.id,
            "delivered" if attempt.ok else attempt.error,
            extra={
                "event.action": "notify.test",
                "notify.target": target.id,
                "notify.message_id": n.id,
                "http.response.status_code": attempt.status,
            },
        )
        return n, attempt

    async def close(self, within: float = 2.0) -> None:
        """Let deliveries in flight finish for a moment; the rest stay pending for the next
        start (their receivers may see them twice, under the same id)."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=within)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
