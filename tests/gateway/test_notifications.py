"""``/api/notifications``: the REST API for targets, deliveries and the catalogue, through the
real gateway and real gRPC to the real NotificationService over a real store (no fakes but
the receiver, which is a real HTTP server on loopback verifying signatures)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from grpc import aio

from recorder_service.notify.catalogue import Notification, common
from recorder_service.notify.dispatcher import Dispatcher
from recorder_service.notify.model import TargetKind
from recorder_service.notify.notifier import Notifier
from recorder_service.notify.outbox import Outbox
from recorder_service.notify.servicer import NotificationServicer
from recorder_service.notify.settings import NotifySettings
from recorder_service.notify.signing import new_secret
from recorder_service.notify.urls import UrlPolicy
from recorder_service.notify.webhook import WebhookSender
from recorder_service.sqlite_store import SqliteStore
from servicekit.grpc_server import build_server
from simlab.fakes.receivers import WebhookReceiver
from streamrec.v1 import notification_service_pb2_grpc as pb_grpc
from tests.gateway.conftest import gateway_client
from tests.gateway.fake_recorder import assert_error

SECRET = new_secret()
TARGET_KEYS = {
    "id", "name", "kind", "url", "secretHint", "events", "channels", "cooldownSeconds",
    "enabled", "maxInFlight", "queueLimit", "createdAt", "updatedAt", "stats",
}  # fmt: skip


class Service:
    def __init__(self, notifier: Notifier, port: int) -> None:
        self.notifier = notifier
        self.port = port


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    store = SqliteStore(tmp_path / "streamrec.db")
    settings = NotifySettings(retry_for=0.5, retry_initial=0.05, retry_max_wait=0.1)
    policy = UrlPolicy.build(own_ports=[50052], own_hosts=["127.0.0.1"], allow=[])
    notifier = Notifier(Outbox(store.transaction), settings, policy)
    webhooks = WebhookSender(timeout=2, policy=policy)
    dispatcher = Dispatcher(notifier, {TargetKind.WEBHOOK: webhooks}, settings)

    def register(server: aio.Server) -> None:
        pb_grpc.add_NotificationServiceServicer_to_server(
            NotificationServicer(notifier, dispatcher), server
        )

    app = build_server(register, ["streamrec.v1.NotificationService"], host="127.0.0.1", port=0)
    await app.server.start()
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(stop))
    try:
        yield Service(notifier, app.port)
    finally:
        stop.set()
        await task
        await webhooks.close()
        await app.server.stop(0)
        store.close()


@pytest.fixture
async def client(service: Service, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_client(f"127.0.0.1:{service.port}", tmp_path) as c:
        yield c


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as running:
        yield running


def webhook_body(receiver: WebhookReceiver, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "webhook",
        "url": f"{receiver.url}/hook?token=t0ps3cr3t",
        "secret": SECRET,
        **extra,
    }


async def test_targets_are_created_listed_changed_and_removed(client, receiver) -> None:
    created = await client.post(
        "/api/notifications/targets",
        json=webhook_body(receiver, name="home", events=["recording.*"], cooldownSeconds=60),
    )
    assert created.status_code == 201, created.text
    t = created.json()
    assert set(t) == TARGET_KEYS
    assert (t["kind"], t["name"], t["events"], t["cooldownSeconds"], t["enabled"]) == (
        "webhook",
        "home",
        ["recording.*"],
        60,
        True,
    )
    assert t["url"] == f"{receiver.url}/hook?token=***" and t["secretHint"].startswith("whsec_")
    assert t["stats"] == {
        "pending": 0, "delivered": 0, "dead": 0, "overflowed": 0, "suppressed": 0,
        "lastDeliveryAt": None, "lastError": None,
    }  # fmt: skip
    listed = (await client.get("/api/notifications/targets")).json()
    assert [x["id"] for x in listed] == [t["id"]]
    # The target as the API showed it, sent back: nothing secret changes.
    changed = await client.put(
        f"/api/notifications/targets/{t['id']}",
        json={"url": t["url"], "enabled": False, "channels": ["Alice"]},
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["enabled"], changed.json()["channels"]) == (False, ["alice"])
    one = (await client.get(f"/api/notifications/targets/{t['id']}")).json()
    assert one["url"] == t["url"] and one["enabled"] is False
    assert_error(
        await client.put(f"/api/notifications/targets/{t['id']}", json={}), 400, "NOTHING_TO_CHANGE"
    )
    gone = await client.delete(f"/api/notifications/targets/{t['id']}")
    assert gone.json() == {"id": t["id"], "deleted": True}
    assert_error(await client.get(f"/api/notifications/targets/{t['id']}"), 404, "TARGET_NOT_FOUND")
    assert_error(await client.get("/api/notifications/targets/nope"), 400)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {"kind": "webhook", "url": "ftp://example.com/x", "secret": SECRET},
            "UNSUPPORTED_PROTOCOL",
        ),
        ({"kind": "webhook", "url": "http://127.0.0.1:50052/", "secret": SECRET}, "UNSAFE_URL"),
        (
            {"kind": "webhook", "url": "http://169.254.169.254/latest", "secret": SECRET},
            "UNSAFE_URL",
        ),
        ({"kind": "webhook", "url": "https://hooks.example.com/x"}, "SECRET_REQUIRED"),
        (
            {"kind": "webhook", "url": "https://hooks.example.com/x", "secret": "hunter2"},
            "INVALID_SECRET",
        ),
        ({"kind": "apprise", "url": "nosuch://thing"}, "INVALID_APPRISE_URL"),
        (
            {"kind": "apprise", "url": "json://example.com/x", "events": ["nope.x"]},
            "UNKNOWN_EVENT_TYPE",
        ),
        ({"kind": "carrier-pigeon", "url": "https://example.com"}, "INVALID_ARGUMENT"),
        ({"kind": "apprise", "url": "json://example.com/x", "color": "red"}, "INVALID_ARGUMENT"),
    ],
)
async def test_bad_targets_are_refused_with_a_reason(client, body, code) -> None:
    assert_error(await client.post("/api/notifications/targets", json=body), 400, code)


async def test_secrets_never_come_back_nor_reach_the_logs(client, receiver, caplog) -> None:
    apprise_url = "ntfy://streamrec:Sup3rS3cretPassw0rd@ntfy.example.com/alerts"
    with caplog.at_level(logging.DEBUG):
        a = await client.post(
            "/api/notifications/targets", json={"kind": "apprise", "url": apprise_url}
        )
        w = await client.post("/api/notifications/targets", json=webhook_body(receiver))
        listed = await client.get("/api/notifications/targets")
        await client.post(f"/api/notifications/targets/{w.json()['id']}/test")
    everything = a.text + w.text + listed.text
    for secret in (SECRET, SECRET.removeprefix("whsec_"), "Sup3rS3cretPassw0rd", "t0ps3cr3t"):
        assert secret not in everything
        assert secret not in caplog.text
    assert a.json()["url"] == "ntfy://streamrec:****@ntfy.example.com/alerts"


async def test_the_test_action_reports_the_receivers_answer(client, receiver) -> None:
    t = (await client.post("/api/notifications/targets", json=webhook_body(receiver))).json()
    ok = (await client.post(f"/api/notifications/targets/{t['id']}/test")).json()
    assert ok["delivered"] is True and ok["statusCode"] == 200 and ok["error"] is None
    assert ok["messageId"].startswith("msg_") and receiver.ids() == [ok["messageId"]]
    assert receiver.accepted[0]["type"] == "notification.test"
    receiver.status = 403
    failed = (await client.post(f"/api/notifications/targets/{t['id']}/test")).json()
    assert failed["delivered"] is False and failed["statusCode"] == 403
    assert failed["error"].startswith("HTTP 403") and "not now" in failed["responseBody"]


async def test_dead_letters_are_listed_with_their_error_and_retried_by_hand(
    client, service, receiver
) -> None:
    t = (await client.post("/api/notifications/targets", json=webhook_body(receiver))).json()
    receiver.status = 503
    n = Notification("recording.failed", {**common(channel="alice"), "reason": "x"})
    service.notifier.emit(n)

    async def dead() -> list[dict[str, Any]]:
        for _ in range(200):
            found: list[dict[str, Any]] = (
                await client.get("/api/notifications/deliveries?state=dead")
            ).json()
            if found:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError("never dead")

    (d,) = await dead()
    assert (d["state"], d["targetId"], d["type"], d["channel"], d["messageId"]) == (
        "dead",
        t["id"],
        "recording.failed",
        "alice",
        n.id,
    )
    assert d["lastStatus"] == 503 and d["lastError"].startswith("HTTP 503") and d["attempts"] >= 2
    assert d["payload"] == json.loads(n.body())
    stats = (await client.get(f"/api/notifications/targets/{t['id']}")).json()["stats"]
    assert stats["dead"] == 1 and stats["lastError"].startswith("HTTP 503")
    receiver.status = 200
    again = await client.post(f"/api/notifications/deliveries/{d['id']}/retry")
    assert again.status_code == 200 and again.json()["state"] == "pending"
    for _ in range(200):
        if receiver.accepted:
            break
        await asyncio.sleep(0.05)
    assert receiver.ids() == [n.id]
    for _ in range(200):  # the answer is in; its row is marked a moment later
        delivered = (await client.get("/api/notifications/deliveries?state=delivered")).json()
        if delivered:
            break
        await asyncio.sleep(0.05)
    assert [x["id"] for x in delivered] == [d["id"]] and delivered[0]["deliveredAt"]
    assert_error(
        await client.post(f"/api/notifications/deliveries/{d['id']}/retry"),
        409,
        "DELIVERY_NOT_DEAD",
    )
    assert_error(
        await client.post("/api/notifications/deliveries/999/retry"), 404, "DELIVERY_NOT_FOUND"
    )
    assert_error(await client.get("/api/notifications/deliveries?state=lost"), 400)


async def test_the_catalogue_is_served(client) -> None:
    body = (await client.get("/api/notifications/events")).json()
    assert body["version"] == 1
    types = {t["type"] for t in body["types"]}
    assert {
        "channel.online",
        "recording.gap",
        "recording.interrupted",
        "disk.low",
        "site.blocked",
    } <= types
