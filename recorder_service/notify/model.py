"""Targets and deliveries, as plain dataclasses (no SQL, no gRPC)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class TargetKind(enum.Enum):
    WEBHOOK = "webhook"
    APPRISE = "apprise"


class DeliveryState(enum.Enum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    DEAD = "DEAD"


@dataclass(frozen=True)
class Target:
    """Where notifications go. ``url`` and ``secret`` are secrets: never logged, never
    returned in full (``repr`` leaves them out)."""

    id: str
    name: str
    kind: TargetKind
    url: str = field(repr=False)
    created_at: datetime
    updated_at: datetime
    secret: str = field(default="", repr=False)
    events: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    cooldown_s: int = 0
    enabled: bool = True
    max_in_flight: int = 0  # 0: NOTIFY_CONCURRENCY
    queue_limit: int = 0  # 0: NOTIFY_QUEUE_LIMIT
    # Counted, never reset: notifications the full queue refused, and those a cooldown held back.
    overflowed: int = 0
    suppressed: int = 0


@dataclass(frozen=True)
class TargetStats:
    pending: int = 0
    delivered: int = 0
    dead: int = 0
    last_delivery_at: datetime | None = None
    last_error: str = ""


@dataclass(frozen=True)
class Delivery:
    """One notification for one target (the outbox row)."""

    id: int
    message_id: str
    target_id: str
    event_type: str
    channel: str
    state: DeliveryState
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    deadline: datetime
    last_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    last_error: str = ""
    last_status: int = 0


@dataclass(frozen=True)
class Message:
    """The notification as stored: its type, its JSON body (sent and signed as is)."""

    id: str
    type: str
    created_at: datetime
    body: bytes


@dataclass(frozen=True)
class Attempt:
    """What one send found out."""

    ok: bool
    status: int = 0  # HTTP status; 0 when there was no answer
    error: str = ""  # for a person; never holds the URL or the secret
    retry_after: float = 0.0
    latency_s: float = 0.0
    response: str = ""  # the start of the receiver's answer (test action)
