"""Delivery against real receivers on loopback: signatures verified with the
``standardwebhooks`` package, retries through a receiver that fails and then refuses
connections, dead letters and their retry by hand, timeouts, per-target concurrency, the test
action."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from recorder_service.notify import metrics
from recorder_service.notify.catalogue import Notification, common
from recorder_service.notify.dispatcher import Backoff, Dispatcher
from recorder_service.notify.model import DeliveryState, TargetKind
from recorder_service.notify.signing import new_secret
from recorder_service.notify.urls import UrlPolicy
from recorder_service.notify.webhook import WebhookSender
from simlab.fakes.receivers import WebhookReceiver
from tests.recorder_service.notify.conftest import make_notifier

SECRET = new_secret()


def note(i: int, kind: str = "recording.gap") -> Notification:
    return Notification(kind, {**common(channel=f"c{i}"), "n": i})


@pytest.fixture
def receiver():
    with WebhookReceiver(SECRET) as running:
        yield running


async def running(notifier, **kw) -> tuple[Dispatcher, asyncio.Event, asyncio.Task[None]]:
    policy = UrlPolicy.build([], [], [])
    sender = WebhookSender(timeout=kw.pop("timeout", 2.0), policy=policy)
    dispatcher = Dispatcher(notifier, {TargetKind.WEBHOOK: sender}, notifier.settings)
    stop = asyncio.Event()
    return dispatcher, stop, asyncio.create_task(dispatcher.run(stop))


@pytest.fixture
async def stopper() -> AsyncIterator[list[Any]]:
    made: list[Any] = []
    yield made
    for dispatcher, stop, task in made:
        stop.set()
        await task
        await dispatcher.close()


async def until(what: str, predicate, within: float = 20.0):
    end = time.monotonic() + within
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def target(notifier, receiver, **fields):
    return notifier.create(
        {"kind": "webhook", "url": f"{receiver.url}/hook", "secret": SECRET, **fields}
    )


async def test_deliveries_arrive_signed_in_order_each_once(store, receiver, stopper) -> None:
    notifier = make_notifier(store, retry_initial=0.05)
    t = target(notifier, receiver, max_in_flight=1)
    ids = [n.id for n in (note(i) for i in range(5)) if notifier.emit(n) or True]
    stopper.append(await running(notifier))
    await until("five deliveries", lambda: len(receiver.accepted) == 5)
    assert receiver.bad_signatures == 0
    assert [p["data"]["n"] for p in receiver.accepted] == [0, 1, 2, 3, 4]
    assert all(r.headers["webhook-id"] == r.payload["id"] for r in receiver.received)
    assert set(receiver.ids()) == set(receiver.answered_ok)
    await until(
        "rows marked",
        lambda: (
            len(
                notifier.deliveries(
                    state=DeliveryState.DELIVERED, target_id=t.id, offset=0, limit=10
                )
            )
            == 5
        ),
    )
    assert metrics.DELIVERIES.labels(t.id, "delivered")._value.get() == 5
    del ids


async def test_a_receiver_that_fails_then_refuses_then_returns_gets_everything_once(
    store, receiver, stopper
) -> None:
    notifier = make_notifier(store, retry_initial=0.05, retry_max_wait=0.3)
    t = target(notifier, receiver)
    receiver.status = 503
    stopper.append(await running(notifier))
    sent = [note(i) for i in range(6)]
    for n in sent[:3]:
        notifier.emit(n)
    await until("503 answers", lambda: sum(r.answered == 503 for r in receiver.received) >= 6)
    receiver.stop()  # now the port refuses connections
    for n in sent[3:]:
        notifier.emit(n)
    await asyncio.sleep(1.0)
    assert metrics.DELIVERIES.labels(t.id, "retried")._value.get() >= 6
    receiver.status = 200
    receiver.start()
    await until("every notification", lambda: len(receiver.accepted) == 6)
    assert sorted(receiver.ids()) == sorted(n.id for n in sent)
    assert all(count == 1 for count in receiver.answered_ok.values())
    rows = notifier.deliveries(state=None, target_id=t.id, offset=0, limit=10)
    await until(
        "rows marked",
        lambda: all(
            d.state is DeliveryState.DELIVERED
            for d in notifier.deliveries(state=None, target_id=t.id, offset=0, limit=10)
        ),
    )
    assert max(d.attempts for d in rows) >= 2


async def test_a_delivery_past_its_window_is_dead_with_its_error_and_retried_by_hand(
    store, receiver, stopper
) -> None:
    notifier = make_notifier(store, retry_for=0.6, retry_initial=0.1, retry_max_wait=0.2)
    t = target(notifier, receiver)
    receiver.status = 500
    n = note(1, "recording.failed")
    notifier.emit(n)
    stopper.append(await running(notifier))
    (dead,) = await until(
        "a dead delivery",
        lambda: notifier.deliveries(state=DeliveryState.DEAD, target_id=t.id, offset=0, limit=10),
    )
    assert dead.last_status == 500 and dead.last_error.startswith("HTTP 500")
    assert dead.attempts >= 3
    assert metrics.DELIVERIES.labels(t.id, "dead")._value.get() == 1
    receiver.status = 200
    notifier.retry(dead.id)
    await until("the retried delivery", lambda: receiver.accepted)
    assert receiver.ids() == [n.id]  # the same id as every earlier attempt
    assert {r.headers["webhook-id"] for r in receiver.received} == {n.id}


async def test_a_hanging_receiver_is_cut_off_by_the_timeout(store, receiver, stopper) -> None:
    notifier = make_notifier(store, retry_initial=5.0)
    t = target(notifier, receiver)
    receiver.hold_s = 3.0
    notifier.emit(note(1))
    stopper.append(await running(notifier, timeout=0.5))
    (d,) = await until(
        "a failed attempt",
        lambda: [
            d
            for d in notifier.deliveries(state=None, target_id=t.id, offset=0, limit=1)
            if d.attempts
        ],
    )
    assert d.state is DeliveryState.PENDING and "no answer within 0.5s" in d.last_error


async def test_a_target_never_has_more_than_its_max_in_flight(store, receiver, stopper) -> None:
    notifier = make_notifier(store)
    target(notifier, receiver, max_in_flight=2)
    receiver.hold_s = 0.3
    for i in range(6):
        notifier.emit(note(i))
    dispatcher, stop, task = await running(notifier)
    stopper.append((dispatcher, stop, task))
    peak = 0
    end = time.monotonic() + 10
    while len(receiver.accepted) < 6 and time.monotonic() < end:
        peak = max(peak, dispatcher.in_flight)
        await asyncio.sleep(0.01)
    assert len(receiver.accepted) == 6 and peak == 2


async def test_the_test_action_reports_the_receivers_answer(store, receiver) -> None:
    notifier = make_notifier(store)
    t = target(notifier, receiver)
    dispatcher, _stop, _task = await running(notifier)
    _task.cancel()
    n, attempt = await dispatcher.test(t)
    assert attempt.ok and attempt.status == 200 and '"ok": true' in attempt.response
    assert receiver.accepted[0]["type"] == "notification.test" and receiver.ids() == [n.id]
    receiver.status = 404
    _, attempt = await dispatcher.test(t)
    assert not attempt.ok and attempt.status == 404 and attempt.error.startswith("HTTP 404")
    receiver.stop()
    _, attempt = await dispatcher.test(t)
    assert not attempt.ok and attempt.status == 0 and attempt.error == "ConnectError"
    assert notifier.deliveries(state=None, target_id="", offset=0, limit=10) == []  # not queued


def test_the_backoff_doubles_to_its_ceiling_and_ends_at_the_deadline() -> None:
    b = Backoff(initial=5, max_wait=3600)
    waits = [b.wait(n) for n in range(1, 14)]
    assert 5 <= waits[0] <= 10 and 10 <= waits[1] <= 15 and waits[-1] == 3600
    assert all(a <= b_ + 5 for a, b_ in itertools.pairwise(waits))
    assert (b.next_attempt_at(1, now=100.0, deadline=200.0) or 0) <= 110.0
    assert b.next_attempt_at(12, now=100.0, deadline=200.0) == 200.0  # a last try at the deadline
    assert b.next_attempt_at(13, now=200.0, deadline=200.0) is None
    assert b.next_attempt_at(1, now=100.0, deadline=10_000.0, retry_after=120) == 220.0
