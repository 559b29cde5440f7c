"""NotificationService over gRPC: a thin adapter over the notifier and the dispatcher.

Secrets go in, never out: a target's URL is returned masked and its secret only as a hint."""

from __future__ import annotations

from typing import Any

from grpc import aio

from recorder_service.convert import ts
from recorder_service.notify.catalogue import CATALOGUE_VERSION, EVENT_TYPES
from recorder_service.notify.dispatcher import Dispatcher
from recorder_service.notify.model import Delivery, DeliveryState, Target, TargetKind, TargetStats
from recorder_service.notify.notifier import Notifier, masked_url
from recorder_service.notify.signing import secret_hint
from recorder_service.recordings import page_bounds
from servicekit.errors import InvalidArgument
from streamrec.v1 import notification_service_pb2 as pb
from streamrec.v1 import notification_service_pb2_grpc as pb_grpc

_KIND_TO_PB = {
    TargetKind.WEBHOOK: pb.TARGET_KIND_WEBHOOK,
    TargetKind.APPRISE: pb.TARGET_KIND_APPRISE,
}
_KIND_FROM_PB = {v: k for k, v in _KIND_TO_PB.items()}
_STATE_TO_PB = {
    DeliveryState.PENDING: pb.DELIVERY_STATE_PENDING,
    DeliveryState.DELIVERED: pb.DELIVERY_STATE_DELIVERED,
    DeliveryState.DEAD: pb.DELIVERY_STATE_DEAD,
}
_STATE_FROM_PB = {v: k for k, v in _STATE_TO_PB.items()}
#: Proto field (mask path) -> the notifier's field name.
MASK_FIELDS = {
    "name": "name",
    "kind": "kind",
    "url": "url",
    "secret": "secret",
    "event_types": "events",
    "channels": "channels",
    "cooldown_seconds": "cooldown_s",
    "disabled": "enabled",
    "max_in_flight": "max_in_flight",
    "queue_limit": "queue_limit",
}


def target_pb(t: Target, stats: TargetStats | None = None) -> pb.Target:
    s = stats or TargetStats()
    return pb.Target(
        id=t.id,
        name=t.name,
        kind=_KIND_TO_PB[t.kind],
        url=masked_url(t),
        secret_hint=secret_hint(t.secret),
        event_types=list(t.events),
        channels=list(t.channels),
        cooldown_seconds=t.cooldown_s,
        disabled=not t.enabled,
        max_in_flight=t.max_in_flight,
        queue_limit=t.queue_limit,
        create_time=ts(t.created_at),
        update_time=ts(t.updated_at),
        stats=pb.TargetStats(
            pending=s.pending,
            delivered=s.delivered,
            dead=s.dead,
            overflowed=t.overflowed,
            suppressed=t.suppressed,
            last_delivery_time=ts(s.last_delivery_at),
            last_error=s.last_error,
        ),
    )


def target_fields(t: pb.Target, paths: list[str]) -> dict[str, Any]:
    """The notifier's fields named by ``paths`` (proto names), from a Target message."""
    unknown = sorted(set(paths) - set(MASK_FIELDS))
    if unknown:
        raise InvalidArgument(
            f"update_mask names fields that cannot change: {', '.join(unknown)}",
            reason="INVALID_UPDATE_MASK",
        )
    values: dict[str, Any] = {
        "name": t.name,
        "kind": _KIND_FROM_PB.get(t.kind),
        "url": t.url,
        "secret": t.secret,
        "events": tuple(t.event_types),
        "channels": tuple(t.channels),
        "cooldown_s": t.cooldown_seconds,
        "enabled": not t.disabled,
        "max_in_flight": t.max_in_flight,
        "queue_limit": t.queue_limit,
    }
    return {MASK_FIELDS[p]: values[MASK_FIELDS[p]] for p in paths}


def delivery_pb(d: Delivery, payload: bytes | None = None) -> pb.Delivery:
    return pb.Delivery(
        id=d.id,
        message_id=d.message_id,
        target_id=d.target_id,
        event_type=d.event_type,
        channel=d.channel,
        state=_STATE_TO_PB[d.state],
        attempts=d.attempts,
        create_time=ts(d.created_at),
        next_attempt_time=ts(d.next_attempt_at) if d.state is DeliveryState.PENDING else None,
        deadline=ts(d.deadline),
        last_attempt_time=ts(d.last_attempt_at),
        delivered_time=ts(d.delivered_at),
        last_error=d.last_error,
        last_status_code=d.last_status,
        payload=payload.decode() if payload else "",
    )


class NotificationServicer(pb_grpc.NotificationServiceServicer):
    def __init__(self, notifier: Notifier, dispatcher: Dispatcher) -> None:
        self._notifier = notifier
        self._dispatcher = dispatcher

    def _pb(self, t: Target) -> pb.Target:
        return target_pb(t, self._notifier.stats().get(t.id))

    async def CreateTarget(
        self, request: pb.CreateTargetRequest, context: aio.ServicerContext
    ) -> pb.CreateTargetResponse:
        fields = target_fields(request.target, list(MASK_FIELDS))
        created = self._notifier.create(fields, request.request_id)
        return pb.CreateTargetResponse(target=self._pb(created))

    async def GetTarget(
        self, request: pb.GetTargetRequest, context: aio.ServicerContext
    ) -> pb.GetTargetResponse:
        return pb.GetTargetResponse(target=self._pb(self._notifier.get(request.id)))

    async def ListTargets(
        self, request: pb.ListTargetsRequest, context: aio.ServicerContext
    ) -> pb.ListTargetsResponse:
        stats = self._notifier.stats()
        return pb.ListTargetsResponse(
            targets=[target_pb(t, stats.get(t.id)) for t in self._notifier.targets()]
        )

    async def UpdateTarget(
        self, request: pb.UpdateTargetRequest, context: aio.ServicerContext
    ) -> pb.UpdateTargetResponse:
        paths = list(request.update_mask.paths) or list(MASK_FIELDS)
        changes = target_fields(request.target, paths)
        if changes.get("kind", "") is None:
            changes.pop("kind")
        updated = self._notifier.update(request.target.id, changes)
        return pb.UpdateTargetResponse(target=self._pb(updated))

    async def DeleteTarget(
        self, request: pb.DeleteTargetRequest, context: aio.ServicerContext
    ) -> pb.DeleteTargetResponse:
        self._notifier.delete(request.id)
        return pb.DeleteTargetResponse()

    async def TestTarget(
        self, request: pb.TestTargetRequest, context: aio.ServicerContext
    ) -> pb.TestTargetResponse:
        target = self._notifier.get(request.id)
        n, attempt = await self._dispatcher.test(target)
        return pb.TestTargetResponse(
            delivered=attempt.ok,
            status_code=attempt.status,
            error=attempt.error,
            latency_ms=int(attempt.latency_s * 1000),
            response_body=attempt.response,
            message_id=n.id,
        )

    async def ListDeliveries(
        self, request: pb.ListDeliveriesRequest, context: aio.ServicerContext
    ) -> pb.ListDeliveriesResponse:
        offset, size = page_bounds(request.page_size, request.page_token)
        rows = self._notifier.deliveries(
            state=_STATE_FROM_PB.get(request.state),
            target_id=request.target_id,
            offset=offset,
            limit=size + 1,
        )
        page = rows[:size]
        return pb.ListDeliveriesResponse(
            deliveries=[delivery_pb(d, self._payload(d)) for d in page],
            next_page_token=str(offset + size) if len(rows) > size else "",
        )

    def _payload(self, d: Delivery) -> bytes | None:
        message = self._notifier.outbox.message(d.message_id)
        return message.body if message else None

    async def RetryDelivery(
        self, request: pb.RetryDeliveryRequest, context: aio.ServicerContext
    ) -> pb.RetryDeliveryResponse:
        d = self._notifier.retry(request.id)
        return pb.RetryDeliveryResponse(delivery=delivery_pb(d, self._payload(d)))

    async def ListEventTypes(
        self, request: pb.ListEventTypesRequest, context: aio.ServicerContext
    ) -> pb.ListEventTypesResponse:
        return pb.ListEventTypesResponse(
            catalogue_version=CATALOGUE_VERSION,
            event_types=[
                pb.EventTypeInfo(name=k.name, description=k.description)
                for k in EVENT_TYPES.values()
            ],
        )
