"""Notification metrics, per target (the label is the target's id: the set is as small as the
targets an operator configured, and it goes when a target is deleted)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

DELIVERIES = Counter(
    "streamrec_notify_deliveries_total",
    "Delivery attempts by outcome: delivered, retried (failed, tried again later), dead.",
    ["target", "outcome"],
)
OVERFLOW = Counter(
    "streamrec_notify_overflow_total",
    "Notifications refused because the target's queue was full (NOTIFY_QUEUE_LIMIT).",
    ["target"],
)
SUPPRESSED = Counter(
    "streamrec_notify_suppressed_total",
    "Notifications held back by the target's cooldown.",
    ["target"],
)
QUEUE_DEPTH = Gauge(
    "streamrec_notify_queue_depth", "Deliveries waiting (pending) per target.", ["target"]
)
DELIVERY_SECONDS = Histogram(
    "streamrec_notify_delivery_seconds",
    "From the event to its delivery (retries included), per target.",
    ["target"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 21600, 86400),
)


def forget(target_id: str) -> None:
    """Drop a deleted target's series."""
    for metric, labels in (
        (OVERFLOW, (target_id,)),
        (SUPPRESSED, (target_id,)),
        (QUEUE_DEPTH, (target_id,)),
        (DELIVERY_SECONDS, (target_id,)),
    ):
        try:
            metric.remove(*labels)
        except KeyError:
            pass
    for outcome in ("delivered", "retried", "dead"):
        try:
            DELIVERIES.remove(target_id, outcome)
        except KeyError:
            pass
