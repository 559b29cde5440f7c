"""``streamrec notify``: the commands against the real NotificationService (in-process, on
loopback, over a real store) and a real webhook receiver."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from grpc import aio

from recorder_service.notify.catalogue import Notification, common
from recorder_service.notify.dispatcher import Dispatcher
from recorder_service.notify.model import TargetKind
from recorder_service.notify.notifier import Notifier
from recorder_service.notify.outbox import Outbox
from recorder_service.notify.servicer import NotificationServicer
from recorder_service.notify.settings import NotifySettings
from recorder_service.notify.urls import UrlPolicy
from recorder_service.notify.webhook import WebhookSender
from recorder_service.sqlite_store import SqliteStore
from servicekit.grpc_server import build_server
from simlab.fakes.receivers import WebhookReceiver
from streamrec.v1 import notification_service_pb2_grpc as pb_grpc
from streamrec_cli.__main__ import parse_args
from streamrec_cli.client import Client, Failure
from streamrec_cli.commands import Output


class Running:
    def __init__(self, addr: str, notifier: Notifier) -> None:
        self.addr = addr
        self.notifier = notifier

    async def run(self, *argv: str) -> tuple[int, Any]:
        args = parse_args(["--addr", self.addr, "--json", *argv])
        stream = io.StringIO()
        out = Output(True, stream)
        async with Client.connect(args.addr, 10, args.request_id) as client:
            code = await args.handler(client, args, out)
        return code, json.loads(stream.getvalue())


@pytest.fixture
async def recorder(tmp_path: Path) -> AsyncIterator[Running]:
    store = SqliteStore(tmp_path / "streamrec.db")
    settings = NotifySettings()
    policy = UrlPolicy.build([], [], [])
    notifier = Notifier(Outbox(store.transaction), settings, policy)
    sender = WebhookSender(timeout=2, policy=policy)
    dispatcher = Dispatcher(notifier, {TargetKind.WEBHOOK: sender}, settings)

    def register(server: aio.Server) -> None:
        pb_grpc.add_NotificationServiceServicer_to_server(
            NotificationServicer(notifier, dispatcher), server
        )

    app = build_server(register, ["streamrec.v1.NotificationService"], host="127.0.0.1", port=0)
    await app.server.start()
    try:
        yield Running(f"127.0.0.1:{app.port}", notifier)
    finally:
        await sender.close()
        await app.server.stop(0)
        store.close()


async def test_add_makes_the_secret_locally_and_test_verifies_with_it(recorder) -> None:
    code, added = await recorder.run(
        "notify", "add", "--webhook", "http://127.0.0.1:1/x", "--events", "recording.*,disk.low"
    )
    assert code == 0 and added["secret"].startswith("whsec_")
    assert added["events"] == ["disk.low", "recording.*"] and added["secretHint"]
    # A receiver configured with the secret the CLI printed verifies the test message.
    with WebhookReceiver(added["secret"]) as receiver:
        _, changed = await recorder.run(
            "notify", "set", added["id"], "--url", f"{receiver.url}/hook", "--cooldown", "30"
        )
        assert changed["cooldownSeconds"] == 30
        code, result = await recorder.run("notify", "test", added["id"])
        assert code == 0 and result["delivered"] and receiver.bad_signatures == 0
        assert receiver.ids() == [result["messageId"]]
        receiver.status = 500
        code, result = await recorder.run("notify", "test", added["id"])
        assert code == 1 and result["statusCode"] == 500
    _, listed = await recorder.run("notify", "ls")
    assert [t["id"] for t in listed] == [added["id"]] and "secret" not in listed[0]


async def test_dead_letters_are_listed_and_retried(recorder) -> None:
    _, added = await recorder.run("notify", "add", "--apprise", "json://127.0.0.1:1/x")
    n = Notification("disk.low", {**common(), "level": "LOW"})
    recorder.notifier.emit(n)
    (d,) = recorder.notifier.deliveries(state=None, target_id="", offset=0, limit=1)
    recorder.notifier.outbox.failed(d.id, at=0.0, status=0, error="refused", next_at=None)
    _, dead = await recorder.run("notify", "deliveries", "--state", "dead")
    assert [(x["id"], x["lastError"], x["messageId"]) for x in dead] == [(d.id, "refused", n.id)]
    _, again = await recorder.run("notify", "retry", str(d.id))
    assert again["state"] == "pending"
    with pytest.raises(Failure) as caught:
        await recorder.run("notify", "retry", str(d.id))
    assert caught.value.reason == "DELIVERY_NOT_DEAD"
    _, catalogue = await recorder.run("notify", "events")
    assert catalogue["version"] == 1 and any(
        t["type"] == "recording.gap" for t in catalogue["types"]
    )
    _, removed = await recorder.run("notify", "rm", added["id"])
    assert removed == {"id": added["id"], "deleted": True}


def test_add_needs_one_kind(capsys) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_args(["notify", "add", "--name", "x"])
    assert caught.value.code == 2
