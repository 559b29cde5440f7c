"""``/api/notifications``: targets, deliveries and the event catalogue (``NotificationService``
on the recorder). camelCase JSON like the rest of the API. Secrets go in, never out: a target
shows its URL masked and its webhook secret as a hint. Reads are retried on UNAVAILABLE;
writes and the test action are not."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from google.protobuf.field_mask_pb2 import FieldMask
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from gateway.backend import Backend, backend
from gateway.schemas import enum_name, iso_time
from servicekit.errors import InvalidArgument
from servicekit.retry import call_idempotent
from streamrec.v1 import notification_service_pb2 as pb
from streamrec.v1 import notification_service_pb2_grpc as pb_grpc

router = APIRouter(prefix="/api/notifications", tags=["notifications"])

TargetId = Annotated[str, Path(pattern=r"^tgt_[0-9a-f]{12}$", description="a target's id")]
_KINDS = {"webhook": pb.TARGET_KIND_WEBHOOK, "apprise": pb.TARGET_KIND_APPRISE}
_STATES = {
    "pending": pb.DELIVERY_STATE_PENDING,
    "delivered": pb.DELIVERY_STATE_DELIVERED,
    "dead": pb.DELIVERY_STATE_DEAD,
}


def _stub(be: Backend) -> pb_grpc.NotificationServiceStub:
    return pb_grpc.NotificationServiceStub(be.recorder_channel)


class _TargetFields(BaseModel):
    """The settable fields of a target (Python names are the proto's mask paths, but for
    ``events`` and ``enabled``)."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    name: str | None = Field(None, max_length=100, description="a name for people")
    url: str | None = Field(
        None,
        max_length=2048,
        description="webhook: an http(s) URL; apprise: an Apprise URL (ntfy://, discord://...)."
        " Shown masked; sent back unchanged it is kept",
    )
    secret: str | None = Field(
        None,
        max_length=200,
        description="webhook: 'whsec_' + base64 of 24-64 random bytes; never returned",
    )
    events: list[str] | None = Field(
        None, max_length=100, description="types or families ('recording.*'); empty: all"
    )
    channels: list[str] | None = Field(
        None, max_length=100, description="usernames; empty: all (disk.low always passes)"
    )
    cooldown_seconds: int | None = Field(
        None, ge=0, le=7 * 86_400, description="one notification per event key per this long"
    )
    enabled: bool | None = Field(None, description="a disabled target gets nothing new")
    max_in_flight: int | None = Field(None, ge=0, le=64, description="0: NOTIFY_CONCURRENCY")
    queue_limit: int | None = Field(None, ge=0, le=1_000_000, description="0: NOTIFY_QUEUE_LIMIT")

    def target_pb(self, target_id: str = "", kind: str | None = None) -> pb.Target:
        return pb.Target(
            id=target_id,
            kind=_KINDS[kind] if kind else pb.TARGET_KIND_UNSPECIFIED,
            name=self.name or "",
            url=self.url or "",
            secret=self.secret or "",
            event_types=self.events or [],
            channels=self.channels or [],
            cooldown_seconds=self.cooldown_seconds or 0,
            disabled=self.enabled is False,
            max_in_flight=self.max_in_flight or 0,
            queue_limit=self.queue_limit or 0,
        )


#: JSON field -> the proto's field mask path.
_MASK = {
    "name": "name",
    "url": "url",
    "secret": "secret",
    "events": "event_types",
    "channels": "channels",
    "cooldown_seconds": "cooldown_seconds",
    "enabled": "disabled",
    "max_in_flight": "max_in_flight",
    "queue_limit": "queue_limit",
}


class TargetBody(_TargetFields):
    """``POST /api/notifications/targets``."""

    kind: Literal["webhook", "apprise"] = Field(..., description="how the target is reached")
    url: str = Field(..., max_length=2048, description="the webhook or Apprise URL")


class TargetPatch(_TargetFields):
    """``PUT /api/notifications/targets/{id}``: only the fields present change."""

    def mask(self) -> list[str]:
        return [_MASK[f] for f in _MASK if f in self.model_fields_set]


def target_json(t: pb.Target) -> dict[str, Any]:
    s = t.stats
    return {
        "id": t.id,
        "name": t.name,
        "kind": (enum_name(pb.TargetKind.Name, t.kind, "TARGET_KIND_") or "").lower() or None,
        "url": t.url,
        "secretHint": t.secret_hint or None,
        "events": list(t.event_types),
        "channels": list(t.channels),
        "cooldownSeconds": t.cooldown_seconds,
        "enabled": not t.disabled,
        "maxInFlight": t.max_in_flight,
        "queueLimit": t.queue_limit,
        "createdAt": iso_time(t.create_time, t.HasField("create_time")),
        "updatedAt": iso_time(t.update_time, t.HasField("update_time")),
        "stats": {
            "pending": s.pending,
            "delivered": s.delivered,
            "dead": s.dead,
            "overflowed": s.overflowed,
            "suppressed": s.suppressed,
            "lastDeliveryAt": iso_time(s.last_delivery_time, s.HasField("last_delivery_time")),
            "lastError": s.last_error or None,
        },
    }


def delivery_json(d: pb.Delivery) -> dict[str, Any]:
    state = enum_name(pb.DeliveryState.Name, d.state, "DELIVERY_STATE_") or ""
    return {
        "id": d.id,
        "messageId": d.message_id,
        "targetId": d.target_id,
        "type": d.event_type,
        "channel": d.channel or None,
        "state": state.lower() or None,
        "attempts": d.attempts,
        "createdAt": iso_time(d.create_time, d.HasField("create_time")),
        "nextAttemptAt": iso_time(d.next_attempt_time, d.HasField("next_attempt_time")),
        "deadline": iso_time(d.deadline, d.HasField("deadline")),
        "lastAttemptAt": iso_time(d.last_attempt_time, d.HasField("last_attempt_time")),
        "deliveredAt": iso_time(d.delivered_time, d.HasField("delivered_time")),
        "lastError": d.last_error or None,
        "lastStatus": d.last_status_code or None,
        "payload": json.loads(d.payload) if d.payload else None,
    }


@router.get("/targets", summary="Notification targets")
async def list_targets(be: Annotated[Backend, Depends(backend)]) -> list[dict[str, Any]]:
    """Every target, oldest first, with what happened to its notifications."""
    reply: pb.ListTargetsResponse = await call_idempotent(
        lambda: _stub(be).ListTargets(pb.ListTargetsRequest(), timeout=be.settings.rpc_timeout)
    )
    return [target_json(t) for t in reply.targets]


@router.post("/targets", status_code=201, summary="Add a notification target")
async def create_target(body: TargetBody, be: Annotated[Backend, Depends(backend)]) -> Any:
    """A webhook (signed JSON, Standard Webhooks) or an Apprise URL. 400 for a URL that is not
    http(s) or points at streamrec's own ports, link-local or metadata addresses
    (``UNSAFE_URL``), or a webhook without a valid secret (``SECRET_REQUIRED``,
    ``INVALID_SECRET``)."""
    request = pb.CreateTargetRequest(target=body.target_pb(kind=body.kind))
    reply: pb.CreateTargetResponse = await _stub(be).CreateTarget(
        request, timeout=be.settings.rpc_timeout
    )
    return target_json(reply.target)


@router.get("/targets/{target_id}", summary="One notification target")
async def get_target(target_id: TargetId, be: Annotated[Backend, Depends(backend)]) -> Any:
    request = pb.GetTargetRequest(id=target_id)
    reply: pb.GetTargetResponse = await call_idempotent(
        lambda: _stub(be).GetTarget(request, timeout=be.settings.rpc_timeout)
    )
    return target_json(reply.target)


@router.put("/targets/{target_id}", summary="Change a notification target")
async def update_target(
    target_id: TargetId, body: TargetPatch, be: Annotated[Backend, Depends(backend)]
) -> Any:
    """Only the fields present change; a masked URL sent back is kept as it was."""
    paths = body.mask()
    if not paths:
        raise InvalidArgument(
            "nothing to change: send at least one of " + ", ".join(to_camel(f) for f in _MASK),
            reason="NOTHING_TO_CHANGE",
        )
    request = pb.UpdateTargetRequest(
        target=body.target_pb(target_id), update_mask=FieldMask(paths=paths)
    )
    reply: pb.UpdateTargetResponse = await _stub(be).UpdateTarget(
        request, timeout=be.settings.rpc_timeout
    )
    return target_json(reply.target)


@router.delete("/targets/{target_id}", summary="Remove a notification target")
async def delete_target(target_id: TargetId, be: Annotated[Backend, Depends(backend)]) -> Any:
    """The target and what is queued for it."""
    await _stub(be).DeleteTarget(
        pb.DeleteTargetRequest(id=target_id), timeout=be.settings.rpc_timeout
    )
    return {"id": target_id, "deleted": True}


@router.post("/targets/{target_id}/test", summary="Send a test notification")
async def test_target(target_id: TargetId, be: Annotated[Backend, Depends(backend)]) -> Any:
    """Sends a ``notification.test`` now (not queued, not retried) and reports the answer:
    ``{delivered, statusCode, error, latencyMs, responseBody, messageId}``."""
    reply: pb.TestTargetResponse = await _stub(be).TestTarget(
        pb.TestTargetRequest(id=target_id), timeout=be.settings.rpc_timeout
    )
    return {
        "delivered": reply.delivered,
        "statusCode": reply.status_code or None,
        "error": reply.error or None,
        "latencyMs": reply.latency_ms,
        "responseBody": reply.response_body,
        "messageId": reply.message_id,
    }


@router.get("/deliveries", summary="Notification deliveries")
async def list_deliveries(
    be: Annotated[Backend, Depends(backend)],
    state: Annotated[Literal["pending", "delivered", "dead"] | None, Query()] = None,
    target_id: Annotated[str | None, Query(alias="targetId", max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Newest first (``?state=dead``: the dead letters, each with its last error)."""
    request = pb.ListDeliveriesRequest(
        state=_STATES[state] if state else pb.DELIVERY_STATE_UNSPECIFIED,
        target_id=target_id or "",
        page_size=limit,
    )
    reply: pb.ListDeliveriesResponse = await call_idempotent(
        lambda: _stub(be).ListDeliveries(request, timeout=be.settings.rpc_timeout)
    )
    return [delivery_json(d) for d in reply.deliveries]


@router.post("/deliveries/{delivery_id}/retry", summary="Retry a dead delivery")
async def retry_delivery(
    delivery_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    be: Annotated[Backend, Depends(backend)],
) -> Any:
    """Queues it again with a new retry window, under the same message id (a receiver that did
    get it drops the repeat). 409 ``DELIVERY_NOT_DEAD`` unless it is dead."""
    reply: pb.RetryDeliveryResponse = await _stub(be).RetryDelivery(
        pb.RetryDeliveryRequest(id=delivery_id), timeout=be.settings.rpc_timeout
    )
    return delivery_json(reply.delivery)


@router.get("/events", summary="The event catalogue")
async def list_event_types(be: Annotated[Backend, Depends(backend)]) -> Any:
    """``{version, types: [{type, description}]}``: what a target's ``events`` may name."""
    reply: pb.ListEventTypesResponse = await call_idempotent(
        lambda: _stub(be).ListEventTypes(
            pb.ListEventTypesRequest(), timeout=be.settings.rpc_timeout
        )
    )
    return {
        "version": reply.catalogue_version,
        "types": [{"type": t.name, "description": t.description} for t in reply.event_types],
    }
