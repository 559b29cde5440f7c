"""What notifications cost the recorder: ``python -m tools.bench_notify``.

1. per session event, on the event loop: publishing a GAP event through the bus with the
   session manager's store listener, with 0, 1 and 4 webhook targets that take it (the outbox
   rows are written in the same transaction as the session's row);
2. per delivery: the recorder's CPU time (signing, the HTTP exchange on loopback, marking the
   row) for webhooks to a local receiver, and the deliveries per second one target reaches.

Prints one table (markdown) for docs/PERFORMANCE.md. Runs in about ten seconds.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

from recorder_service.events import EventBus
from recorder_service.model import EventType, Session
from recorder_service.notify.dispatcher import Dispatcher
from recorder_service.notify.model import DeliveryState, TargetKind
from recorder_service.notify.notifier import Notifier
from recorder_service.notify.outbox import Outbox
from recorder_service.notify.settings import NotifySettings
from recorder_service.notify.signing import new_secret
from recorder_service.notify.sources import SessionNotices
from recorder_service.notify.urls import UrlPolicy
from recorder_service.notify.webhook import WebhookSender
from recorder_service.sqlite_store import SqliteStore
from simlab.fakes.receivers import WebhookReceiver

log = logging.getLogger("bench_notify")
EVENTS = 400
DELIVERIES = 400


def _session() -> Session:
    from datetime import UTC, datetime

    return Session(
        session_id="bench0000000",
        person="bench",
        name="bench",
        target="bench",
        source_type="hls",
        start_time=datetime.now(UTC),
        correlation_id="bench",
        preview_path="",
        record_paths=("records/bench/bench.ts",),
    )


def publish_cost(folder: Path, targets: int) -> float:
    """Median microseconds to publish one GAP event (store listener + notifications)."""
    store = SqliteStore(folder / f"t{targets}.db")
    notifier = Notifier(Outbox(store.transaction), NotifySettings(), UrlPolicy.build([], [], []))
    for _ in range(targets):
        notifier.create(
            {"kind": "webhook", "url": "https://hooks.example.com/x", "secret": new_secret()}
        )
    bus = EventBus(atomic=store.transaction)
    bus.add_listener(lambda e: store.save_session(e.session))
    bus.add_listener(SessionNotices(notifier, store))
    s = _session()
    samples = []
    for _ in range(EVENTS):
        began = time.perf_counter()
        bus.publish(EventType.GAP, s, extra={"cause": "SKIPPED_SEGMENT", "duration_s": "2.0"})
        samples.append((time.perf_counter() - began) * 1e6)
    store.close()
    return statistics.median(samples)


async def delivery_cost(folder: Path) -> tuple[float, float]:
    """(recorder CPU ms per delivery, deliveries per second) for one webhook target."""
    secret = new_secret()
    store = SqliteStore(folder / "deliver.db")
    settings = NotifySettings()
    notifier = Notifier(Outbox(store.transaction), settings, UrlPolicy.build([], [], []))
    with WebhookReceiver(secret) as receiver:
        notifier.create({"kind": "webhook", "url": f"{receiver.url}/x", "secret": secret})
        bus = EventBus(atomic=store.transaction)
        bus.add_listener(SessionNotices(notifier, store))
        s = _session()
        for _ in range(DELIVERIES):
            bus.publish(EventType.GAP, s, extra={"cause": "SKIPPED_SEGMENT", "duration_s": "2.0"})
        sender = WebhookSender(timeout=10, policy=notifier.policy)
        dispatcher = Dispatcher(notifier, {TargetKind.WEBHOOK: sender}, settings)
        stop = asyncio.Event()
        cpu, wall = time.process_time(), time.perf_counter()
        task = asyncio.create_task(dispatcher.run(stop))
        for _ in range(100_000):  # polled: the outbox has no completion signal
            if not notifier.outbox.pending_counts():
                break
            await asyncio.sleep(0.01)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        stop.set()
        await task
        await sender.close()
        delivered = notifier.deliveries(
            state=DeliveryState.DELIVERED, target_id="", offset=0, limit=DELIVERIES + 1
        )
        assert len(delivered) == DELIVERIES and len(receiver.accepted) == DELIVERIES
    store.close()
    # The receiver runs in this process too: its threads' CPU is in ``cpu``, so this is an
    # upper bound for the recorder's share.
    return cpu / DELIVERIES * 1000, DELIVERIES / wall


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = [(n, publish_cost(folder, n)) for n in (0, 1, 4)]
        per_delivery_ms, rate = asyncio.run(delivery_cost(folder))
    out = sys.stdout
    out.write("| case | result |\n|---|---|\n")
    for n, us in rows:
        out.write(f"| publish one GAP event, {n} target(s) taking it | {us:.0f} µs (median) |\n")
    out.write(
        f"| one webhook delivery, loopback receiver | {per_delivery_ms:.2f} ms CPU"
        f" (recorder and receiver together), {rate:.0f} deliveries/s at 4 in flight |\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
