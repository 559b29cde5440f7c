"""``streamrec notify ...``: notification targets, deliveries and the event catalogue
(NotificationService). ``notify add --webhook URL`` makes the webhook's secret here, on the
client, and prints it once: the recorder never returns it."""

from __future__ import annotations

import argparse
import base64
import json
import secrets
from collections.abc import Callable
from typing import Any

from google.protobuf.field_mask_pb2 import FieldMask

from streamrec.v1 import notification_service_pb2 as pb
from streamrec.v1 import notification_service_pb2_grpc as pb_grpc
from streamrec_cli import messages, render
from streamrec_cli.client import EXIT_ERROR, EXIT_OK, Client

Leaf = Callable[..., argparse.ArgumentParser]
_STATES = {
    "pending": pb.DELIVERY_STATE_PENDING,
    "delivered": pb.DELIVERY_STATE_DELIVERED,
    "dead": pb.DELIVERY_STATE_DEAD,
}


def _stub(client: Client) -> pb_grpc.NotificationServiceStub:
    return pb_grpc.NotificationServiceStub(client.channel)


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _iso(ts: Any, present: bool) -> str | None:
    return ts.ToJsonString() if present else None


def target_json(t: pb.Target) -> dict[str, Any]:
    """The REST API's shape of a target."""
    s = t.stats
    return {
        "id": t.id,
        "name": t.name,
        "kind": pb.TargetKind.Name(t.kind).removeprefix("TARGET_KIND_").lower(),
        "url": t.url,
        "secretHint": t.secret_hint or None,
        "events": list(t.event_types),
        "channels": list(t.channels),
        "cooldownSeconds": t.cooldown_seconds,
        "enabled": not t.disabled,
        "maxInFlight": t.max_in_flight,
        "queueLimit": t.queue_limit,
        "createdAt": _iso(t.create_time, t.HasField("create_time")),
        "updatedAt": _iso(t.update_time, t.HasField("update_time")),
        "stats": {
            "pending": s.pending,
            "delivered": s.delivered,
            "dead": s.dead,
            "overflowed": s.overflowed,
            "suppressed": s.suppressed,
            "lastDeliveryAt": _iso(s.last_delivery_time, s.HasField("last_delivery_time")),
            "lastError": s.last_error or None,
        },
    }


def delivery_json(d: pb.Delivery) -> dict[str, Any]:
    return {
        "id": d.id,
        "messageId": d.message_id,
        "targetId": d.target_id,
        "type": d.event_type,
        "channel": d.channel or None,
        "state": pb.DeliveryState.Name(d.state).removeprefix("DELIVERY_STATE_").lower(),
        "attempts": d.attempts,
        "createdAt": _iso(d.create_time, d.HasField("create_time")),
        "nextAttemptAt": _iso(d.next_attempt_time, d.HasField("next_attempt_time")),
        "lastError": d.last_error or None,
        "lastStatus": d.last_status_code or None,
        "payload": json.loads(d.payload) if d.payload else None,
    }


def _targets_table(targets: list[pb.Target]) -> str:
    rows = [
        [
            t.id,
            pb.TargetKind.Name(t.kind).removeprefix("TARGET_KIND_").lower(),
            t.name,
            "off" if t.disabled else "on",
            ",".join(t.event_types) or "*",
            str(t.stats.pending),
            str(t.stats.delivered),
            str(t.stats.dead),
            str(t.stats.overflowed),
            t.url,
        ]
        for t in targets
    ]
    headers = ("ID", "KIND", "NAME", "ON", "EVENTS", "PENDING", "SENT", "DEAD", "DROPPED", "URL")
    return "\n".join(render.table(headers, rows, right=(5, 6, 7, 8))) + "\n"


def _target_detail(t: pb.Target) -> str:
    return render.details(
        [
            ("id", t.id),
            ("name", t.name),
            ("kind", pb.TargetKind.Name(t.kind).removeprefix("TARGET_KIND_").lower()),
            ("url", t.url),
            ("secret", t.secret_hint),
            ("enabled", "no" if t.disabled else "yes"),
            ("events", ", ".join(t.event_types) or "all"),
            ("channels", ", ".join(t.channels) or "all"),
            ("cooldown", f"{t.cooldown_seconds}s" if t.cooldown_seconds else ""),
            (
                "deliveries",
                f"{t.stats.pending} pending, {t.stats.delivered} delivered, {t.stats.dead} dead,"
                f" {t.stats.overflowed} dropped (queue full), {t.stats.suppressed} held back",
            ),
            ("last error", t.stats.last_error),
        ]
    )


def _changes(args: argparse.Namespace) -> tuple[pb.Target, list[str]]:
    """The Target message and mask paths of the options given."""
    t = pb.Target()
    paths = []
    scalars = {
        "name": args.name,
        "url": getattr(args, "url", None),
        "secret": args.secret,
        "cooldown_seconds": args.cooldown,
        "max_in_flight": args.max_in_flight,
        "queue_limit": args.queue_limit,
        "disabled": None if args.enabled is None else not args.enabled,
    }
    for path, value in scalars.items():
        if value is not None:
            setattr(t, path, value)
            paths.append(path)
    for path, listed in (("event_types", args.events), ("channels", args.channels)):
        if listed is not None:
            getattr(t, path).extend(_csv(listed))
            paths.append(path)
    return t, paths


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def add(client: Client, args: argparse.Namespace, out: Any) -> int:
    made_secret = ""
    if args.webhook:
        if args.secret is None:
            args.secret = made_secret = new_secret()
        args.url, kind = args.webhook, pb.TARGET_KIND_WEBHOOK
    else:
        args.url, kind = args.apprise, pb.TARGET_KIND_APPRISE
    target, _ = _changes(args)
    target.kind = kind
    request = pb.CreateTargetRequest(target=target, request_id=client.request_id)
    reply: pb.CreateTargetResponse = await client.retried(
        lambda t: _stub(client).CreateTarget(request, timeout=t)
    )
    data = target_json(reply.target)
    text = _target_detail(reply.target)
    if made_secret:
        data["secret"] = made_secret
        text += f"secret  {made_secret}\n(give it to the receiver now: it is not shown again)\n"
    out.emit(data, text)
    return EXIT_OK


async def ls(client: Client, args: argparse.Namespace, out: Any) -> int:
    reply: pb.ListTargetsResponse = await client.retried(
        lambda t: _stub(client).ListTargets(pb.ListTargetsRequest(), timeout=t)
    )
    targets = list(reply.targets)
    text = _targets_table(targets) if targets else "no notification targets\n"
    out.emit([target_json(t) for t in targets], text)
    return EXIT_OK


async def set_(client: Client, args: argparse.Namespace, out: Any) -> int:
    target, paths = _changes(args)
    target.id = args.id
    request = pb.UpdateTargetRequest(target=target, update_mask=FieldMask(paths=paths))
    reply: pb.UpdateTargetResponse = await client.once(
        lambda t: _stub(client).UpdateTarget(request, timeout=t)
    )
    out.emit(target_json(reply.target), _target_detail(reply.target))
    return EXIT_OK


async def rm(client: Client, args: argparse.Namespace, out: Any) -> int:
    await client.once(
        lambda t: _stub(client).DeleteTarget(pb.DeleteTargetRequest(id=args.id), timeout=t)
    )
    out.emit({"id": args.id, "deleted": True}, f"removed {args.id}\n")
    return EXIT_OK


async def test(client: Client, args: argparse.Namespace, out: Any) -> int:
    reply: pb.TestTargetResponse = await client.once(
        lambda t: _stub(client).TestTarget(pb.TestTargetRequest(id=args.id), timeout=t)
    )
    data = {
        "delivered": reply.delivered,
        "statusCode": reply.status_code or None,
        "error": reply.error or None,
        "latencyMs": reply.latency_ms,
        "responseBody": reply.response_body,
        "messageId": reply.message_id,
    }
    verdict = "delivered" if reply.delivered else f"not delivered: {reply.error}"
    text = render.details(
        [
            ("result", verdict),
            ("status", str(reply.status_code or "")),
            ("time", f"{reply.latency_ms} ms"),
            ("answer", reply.response_body[:200]),
            ("message", reply.message_id),
        ]
    )
    out.emit(data, text)
    return EXIT_OK if reply.delivered else EXIT_ERROR


async def deliveries(client: Client, args: argparse.Namespace, out: Any) -> int:
    request = pb.ListDeliveriesRequest(
        state=_STATES.get(args.state or "", pb.DELIVERY_STATE_UNSPECIFIED),
        target_id=args.target or "",
        page_size=args.limit,
    )
    reply: pb.ListDeliveriesResponse = await client.retried(
        lambda t: _stub(client).ListDeliveries(request, timeout=t)
    )
    rows = [
        [
            str(d.id),
            pb.DeliveryState.Name(d.state).removeprefix("DELIVERY_STATE_").lower(),
            d.event_type,
            d.channel or "-",
            d.target_id,
            str(d.attempts),
            render.format_time(d.create_time, d.HasField("create_time")),
            d.last_error[:60],
        ]
        for d in reply.deliveries
    ]
    headers = ("ID", "STATE", "TYPE", "CHANNEL", "TARGET", "TRIES", "CREATED", "LAST ERROR")
    text = "\n".join(render.table(headers, rows, right=(0, 5))) + "\n" if rows else "none\n"
    out.emit([delivery_json(d) for d in reply.deliveries], text)
    return EXIT_OK


async def retry(client: Client, args: argparse.Namespace, out: Any) -> int:
    reply: pb.RetryDeliveryResponse = await client.once(
        lambda t: _stub(client).RetryDelivery(pb.RetryDeliveryRequest(id=args.id), timeout=t)
    )
    d = reply.delivery
    out.emit(delivery_json(d), f"delivery {d.id} ({d.event_type}) queued again\n")
    return EXIT_OK


async def events(client: Client, args: argparse.Namespace, out: Any) -> int:
    reply: pb.ListEventTypesResponse = await client.retried(
        lambda t: _stub(client).ListEventTypes(pb.ListEventTypesRequest(), timeout=t)
    )
    data = {
        "version": reply.catalogue_version,
        "types": [{"type": e.name, "description": e.description} for e in reply.event_types],
    }
    rows = [[e.name, e.description] for e in reply.event_types]
    out.emit(data, "\n".join(render.table(("TYPE", "WHAT"), rows)) + "\n")
    return EXIT_OK


def _target_options(sub: argparse.ArgumentParser, *, adding: bool) -> None:
    sub.add_argument("--name", help="a name for people")
    if not adding:
        sub.add_argument("--url", help="a new URL (for the target's kind)")
    sub.add_argument(
        "--secret",
        help="webhook secret, whsec_ + base64 (add: made for you when absent, shown once)",
    )
    sub.add_argument(
        "--events", metavar="LIST", help="types or families: channel.online,recording.*"
    )
    sub.add_argument("--channels", metavar="LIST", help="usernames: alice,bob ('' : all)")
    sub.add_argument(
        "--cooldown", type=messages.non_negative, metavar="SECONDS", help="per event key"
    )
    sub.add_argument(
        "--enabled", action=argparse.BooleanOptionalAction, default=None, help="on or off"
    )
    sub.add_argument("--max-in-flight", type=messages.non_negative, metavar="N")
    sub.add_argument("--queue-limit", type=messages.non_negative, metavar="N")


def add_parser(top: Any, leaf: Leaf) -> None:
    """``notify`` and its commands, on the CLI's top-level subparsers."""
    notify = top.add_parser(
        "notify", help="notification targets", description="notification targets and deliveries"
    )
    group = notify.add_subparsers(dest="notify_command", required=True, metavar="COMMAND")
    leaf(group, "ls", ls, "list the notification targets")
    sub = leaf(group, "add", add, "add a webhook or an Apprise target")
    how = sub.add_mutually_exclusive_group(required=True)
    how.add_argument("--webhook", metavar="URL", help="an http(s) URL: signed JSON POSTs")
    how.add_argument("--apprise", metavar="URL", help="an Apprise URL: ntfy://, discord://...")
    _target_options(sub, adding=True)
    sub = leaf(group, "set", set_, "change the given settings of a target")
    sub.add_argument("id")
    _target_options(sub, adding=False)
    sub = leaf(group, "rm", rm, "remove a target and what is queued for it")
    sub.add_argument("id")
    sub = leaf(group, "test", test, "send a test notification now and show the answer")
    sub.add_argument("id")
    sub = leaf(group, "deliveries", deliveries, "deliveries, newest first")
    sub.add_argument("--state", choices=tuple(_STATES), help="only these (dead: dead letters)")
    sub.add_argument("--target", metavar="ID", help="only this target's")
    sub.add_argument("--limit", type=messages.positive, default=100, metavar="N")
    sub = leaf(group, "retry", retry, "queue a dead delivery again (same message id)")
    sub.add_argument("id", type=messages.positive)
    leaf(group, "events", events, "the event catalogue")
