"""The notifier: targets (validated, cached) and ``emit``, which decides per target and writes
the outbox rows in the caller's transaction. No network here: the dispatcher delivers."""

from __future__ import annotations

import logging
import secrets
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from recorder_service.notify import metrics
from recorder_service.notify.apprise_sender import check_apprise_url, mask_apprise_url
from recorder_service.notify.catalogue import Notification
from recorder_service.notify.model import Delivery, DeliveryState, Target, TargetKind, TargetStats
from recorder_service.notify.outbox import Outbox
from recorder_service.notify.rules import (
    Verdict,
    channel_matches,
    clean_channel_filters,
    clean_event_filters,
    cooldown_key,
    decide,
    event_matches,
)
from recorder_service.notify.settings import NotifySettings
from recorder_service.notify.signing import secret_key
from recorder_service.notify.urls import UrlPolicy, mask_url
from servicekit.errors import InvalidArgument, NotFound

log = logging.getLogger(__name__)

#: The fields a client may set, with their defaults at creation.
SETTABLE: dict[str, Any] = {
    "name": "",
    "kind": None,
    "url": "",
    "secret": "",
    "events": (),
    "channels": (),
    "cooldown_s": 0,
    "enabled": True,
    "max_in_flight": 0,
    "queue_limit": 0,
}
MAX_COOLDOWN_S = 7 * 86_400
_OVERFLOW_LOG_EVERY_S = 60.0
_REQUEST_IDS_KEPT = 1_000


def masked_url(target: Target) -> str:
    return (
        mask_url(target.url) if target.kind is TargetKind.WEBHOOK else mask_apprise_url(target.url)
    )


class Notifier:
    def __init__(
        self,
        outbox: Outbox,
        settings: NotifySettings,
        policy: UrlPolicy,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.settings = settings
        self.policy = policy
        self._clock = clock
        self._targets = {t.id: t for t in outbox.targets()}
        self._overflow_logged: dict[str, float] = {}
        self._request_ids: dict[str, str] = {}
        #: Called after a notification is queued (the dispatcher's wake-up).
        self.on_queued: Callable[[], None] = lambda: None

    # -- targets -----------------------------------------------------------------------------

    def targets(self) -> list[Target]:
        return list(self._targets.values())

    def get(self, target_id: str) -> Target:
        found = self._targets.get(target_id)
        if found is None:
            raise NotFound(f"no notification target {target_id!r}", reason="TARGET_NOT_FOUND")
        return found

    def queue_limit(self, t: Target) -> int:
        return t.queue_limit or self.settings.queue_limit

    def max_in_flight(self, t: Target) -> int:
        return t.max_in_flight or self.settings.concurrency

    def stats(self) -> dict[str, TargetStats]:
        return self.outbox.stats()

    def create(self, fields: Mapping[str, Any], request_id: str = "") -> Target:
        """A new target from ``fields`` (SETTABLE names); ``request_id`` makes a retried
        create return the first one."""
        if request_id and request_id in self._request_ids:
            known = self._targets.get(self._request_ids[request_id])
            if known is not None:
                return known
        unknown = set(fields) - set(SETTABLE)
        if unknown:
            raise InvalidArgument(
                f"unknown fields: {', '.join(sorted(unknown))}", reason="INVALID_FIELD"
            )
        now = datetime.fromtimestamp(self._clock(), UTC)
        values = {**SETTABLE, **fields}
        if values["kind"] is None:
            raise InvalidArgument("kind is webhook or apprise", reason="INVALID_KIND")
        target = self._validated(
            Target(id="tgt_" + secrets.token_hex(6), created_at=now, updated_at=now, **values)
        )
        self.outbox.add_target(target)
        self._targets[target.id] = target
        if request_id:
            self._request_ids[request_id] = target.id
            while len(self._request_ids) > _REQUEST_IDS_KEPT:
                self._request_ids.pop(next(iter(self._request_ids)))
        self._log("created", target)
        return target

    def update(self, target_id: str, changes: Mapping[str, Any]) -> Target:
        """Change only the fields given. A URL sent back as the API showed it (masked) leaves
        the stored one alone; so does an empty secret."""
        current = self.get(target_id)
        unknown = set(changes) - set(SETTABLE)
        if unknown:
            raise InvalidArgument(
                f"fields that cannot change: {', '.join(sorted(unknown))}",
                reason="INVALID_UPDATE_MASK",
            )
        values = dict(changes)
        if values.get("url") in ("", masked_url(current)):
            values.pop("url", None)
        if not values.get("secret"):
            values.pop("secret", None)
        if values.get("kind") not in (None, current.kind) and "url" not in values:
            raise InvalidArgument("a new kind needs a new url", reason="INVALID_KIND")
        updated = self._validated(
            replace(
                current,
                **values,
                updated_at=datetime.fromtimestamp(self._clock(), UTC),
            )
        )
        self.outbox.update_target(updated)
        self._targets[target_id] = updated
        self._log("updated", updated)
        return updated

    def delete(self, target_id: str) -> None:
        target = self.get(target_id)
        self.outbox.delete_target(target_id)
        del self._targets[target_id]
        metrics.forget(target_id)
        self._log("deleted", target)

    def _log(self, verb: str, t: Target) -> None:
        log.info(
            "notification target %s %s (%s)",
            t.id,
            verb,
            t.kind.value,
            extra={"event.action": "notify.target", "notify.target": t.id, "notify.verb": verb},
        )

    def _validated(self, t: Target) -> Target:
        name = " ".join(str(t.name).split())
        if len(name) > 100 or any(unicodedata.category(c).startswith("C") for c in name):
            raise InvalidArgument("name: at most 100 printable characters", reason="INVALID_NAME")
        kind = t.kind if isinstance(t.kind, TargetKind) else _kind(str(t.kind))
        if kind is TargetKind.WEBHOOK:
            self.policy.check_webhook_url(t.url)
            if not t.secret:
                raise InvalidArgument(
                    "a webhook needs a secret: 'whsec_' + base64 of 24 to 64 random bytes"
                    " (`streamrec notify add` makes one)",
                    reason="SECRET_REQUIRED",
                )
            secret_key(t.secret)
        else:
            check_apprise_url(t.url, self.policy)
            if t.secret:
                raise InvalidArgument("an Apprise target has no secret", reason="INVALID_SECRET")
        cooldown = int(t.cooldown_s)
        if not 0 <= cooldown <= MAX_COOLDOWN_S:
            raise InvalidArgument(
                f"cooldown: 0 to {MAX_COOLDOWN_S} seconds", reason="INVALID_COOLDOWN"
            )
        if not 0 <= int(t.max_in_flight) <= 64:
            raise InvalidArgument("maxInFlight: 0 (default) to 64", reason="INVALID_CONCURRENCY")
        if not 0 <= int(t.queue_limit) <= 1_000_000:
            raise InvalidArgument(
                "queueLimit: 0 (default) to 1000000", reason="INVALID_QUEUE_LIMIT"
            )
        return replace(
            t,
            name=name or (mask_url(t.url) if kind is TargetKind.WEBHOOK else kind.value),
            kind=kind,
            events=clean_event_filters(t.events),
            channels=clean_channel_filters(t.channels),
            cooldown_s=cooldown,
            enabled=bool(t.enabled),
        )

    # -- notifications -----------------------------------------------------------------------

    def wants(self, event_type: str, channel: str | None = None) -> bool:
        """Whether any enabled target could take such an event (a cheap check before a
        notification is built)."""
        return any(
            t.enabled
            and event_matches(t.events, event_type)
            and channel_matches(t.channels, channel)
            for t in self._targets.values()
        )

    def emit(self, n: Notification) -> int:
        """Queue ``n`` for every target that takes it, in the caller's transaction (or one of
        its own); returns how many deliveries were queued."""
        now = self._clock()
        queued = 0
        with self.outbox.atomic():
            for t in self._targets.values():
                if not (
                    t.enabled
                    and event_matches(t.events, n.type)
                    and channel_matches(t.channels, n.channel)
                ):
                    continue
                key = cooldown_key(n)
                limit = self.queue_limit(t)
                verdict = decide(
                    events=t.events,
                    channels=t.channels,
                    cooldown_s=t.cooldown_s,
                    queue_limit=limit,
                    notification=n,
                    last_sent=self.outbox.last_sent(t.id, key) if t.cooldown_s else None,
                    pending=self.outbox.pending(t.id, limit),
                    now=now,
                )
                if verdict is Verdict.COOLDOWN:
                    self.outbox.count(t.id, "suppressed")
                    metrics.SUPPRESSED.labels(t.id).inc()
                    continue
                if verdict is Verdict.OVERFLOW:
                    self._overflow(t, n, limit, now)
                    continue
                if verdict is not Verdict.SEND:
                    continue
                if not queued:
                    self.outbox.add_message(n)
                self.outbox.add_delivery(n.id, t.id, now, now + self.settings.retry_for)
                if t.cooldown_s:
                    self.outbox.set_last_sent(t.id, key, now)
                queued += 1
        if queued:
            self.on_queued()
        return queued

    def _overflow(self, t: Target, n: Notification, limit: int, now: float) -> None:
        self.outbox.count(t.id, "overflowed")
        metrics.OVERFLOW.labels(t.id).inc()
        if now - self._overflow_logged.get(t.id, 0.0) >= _OVERFLOW_LOG_EVERY_S:
            self._overflow_logged[t.id] = now
            log.warning(
                "notification target %s has %d deliveries waiting; %s dropped (counted)",
                t.id,
                limit,
                n.type,
                extra={
                    "event.action": "notify.overflow",
                    "notify.target": t.id,
                    "notify.type": n.type,
                },
            )

    # -- deliveries --------------------------------------------------------------------------

    def deliveries(
        self, *, state: DeliveryState | None, target_id: str, offset: int, limit: int
    ) -> list[Delivery]:
        return self.outbox.deliveries(state=state, target_id=target_id, offset=offset, limit=limit)

    def retry(self, delivery_id: int) -> Delivery:
        """A dead delivery queued again (same id: a receiver that had it drops it)."""
        now = self._clock()
        delivery = self.outbox.retry(delivery_id, now, now + self.settings.retry_for)
        log.info(
            "delivery %d queued again by hand",
            delivery_id,
            extra={
                "event.action": "notify.retry_manual",
                "notify.target": delivery.target_id,
                "notify.message_id": delivery.message_id,
            },
        )
        self.on_queued()
        return delivery


def _kind(value: str) -> TargetKind:
    try:
        return TargetKind(value.lower())
    except ValueError:
        raise InvalidArgument("kind is webhook or apprise", reason="INVALID_KIND") from None
