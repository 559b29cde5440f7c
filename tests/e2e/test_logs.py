"""The logs end to end: one request's lines from all three services in ``GET /api/logs``,
secrets redacted there, and the hygiene of the JSON lines a representative run really writes
(no field both a value and an object, no uvicorn colour codes, every action catalogued, a
normal stop without warnings); last, a gateway stopped with an SSE client connected."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from simlab.fakes.chaturbate_site import FakeChaturbate
from simlab.fakes.hls_origin import HlsOrigin
from simlab.harness import Stack
from tests.log_fields import catalogue_actions, value_and_object

pytestmark = pytest.mark.e2e

SECRETS = ("SEKRIT-COOKIE-1", "SEKRIT-TOKEN-1", "SEKRIT-BEARER-1")


@pytest.fixture(scope="module")
def site() -> Iterator[FakeChaturbate]:
    with FakeChaturbate() as running:
        yield running


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, site: FakeChaturbate) -> Iterator[Stack]:
    env = {
        "LOG_LEVEL": "DEBUG",  # every line the code can write, autorecord decisions included
        "CHATURBATE_BASE_URL": site.base_url,
        "CHATURBATE_THUMBNAIL_BASE_URL": f"{site.base_url}/ri",
        "CHATURBATE_COOKIE": f"cf_clearance={SECRETS[0]}",
        "STATUS_CACHE_TTL": "0",
        "SITE_JITTER": "0",
        "AUTORECORD_INTERVAL": "1",
    }
    with Stack(tmp_path_factory.mktemp("logs"), env_extra=env) as running:
        yield running


@pytest.fixture(scope="module")
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def recorded(client: httpx.Client, origin: HlsOrigin) -> str:
    """A session of a tokenized URL, recorded a moment and stopped normally; its id."""
    origin.add_stream("logs_a")
    target = f"{origin.url('logs_a')}?token={SECRETS[1]}"
    started = client.post(
        "/api/start",
        json={"target": target, "person": "logs_a"},
        headers={"Authorization": f"Bearer {SECRETS[2]}"},
    )
    assert started.status_code == 201, started.text
    sid: str = started.json()["session_id"]
    end = time.monotonic() + 20
    while client.get(f"/api/sessions/{sid}").json()["bytes_written"] == 0:
        assert time.monotonic() < end, "never recorded"
        time.sleep(0.2)
    assert client.post(f"/api/stop/{sid}").status_code == 200
    return sid


def wait_lines(client: httpx.Client, want: set[str], **params: str) -> dict[str, Any]:
    """GET /api/logs until lines of every service in ``want`` are there."""
    end = time.monotonic() + 10
    while True:
        body: dict[str, Any] = client.get("/api/logs", params=params).json()
        if want <= {line["service"] for line in body["lines"]} or time.monotonic() > end:
            return body
        time.sleep(0.2)


def test_one_request_id_shows_its_lines_from_all_three_services(
    client: httpx.Client, site: FakeChaturbate
) -> None:
    site.add_room("lena", hls_url="http://127.0.0.1:9/x.m3u8", viewers=3)
    status = client.get(
        "/api/model/lena/status", params={"fresh": "true"}, headers={"X-Request-ID": "e2e-logs-1"}
    )
    assert status.status_code == 200, status.text
    body = wait_lines(client, {"gateway", "recorder", "resolver"}, correlation_id="e2e-logs-1")
    assert body["services"] == {"gateway": "ok", "recorder": "ok", "resolver": "ok"}
    lines = body["lines"]
    assert {line["service"] for line in lines} == {"gateway", "recorder", "resolver"}
    assert all(line["correlationId"] == "e2e-logs-1" for line in lines)
    times = [line["time"] for line in lines]
    assert times == sorted(times, reverse=True)
    actions = {(line["service"], line["eventAction"]) for line in lines}
    assert ("gateway", "http.request") in actions  # its access line
    assert ("recorder", "grpc.request") in actions
    assert ("resolver", "chaturbate.status") in actions
    lookup = next(line for line in lines if line["eventAction"] == "chaturbate.status")
    assert lookup["channel"] == "lena" and lookup["fields"]["lookup.availability"] == "ONLINE"


def test_secrets_are_redacted_in_api_logs_and_in_every_log_file(
    client: httpx.Client, stack: Stack, recorded: str
) -> None:
    answer = client.get("/api/logs", params={"limit": "5000"})
    assert answer.status_code == 200
    assert any(line["sessionId"] == recorded for line in answer.json()["lines"])
    for secret in SECRETS:
        assert secret not in answer.text
        assert client.get("/api/logs", params={"q": secret}).json()["lines"] == []
        for service in stack.services.values():
            assert secret not in service.log_path.read_text(encoding="utf-8"), service.name
    starts = client.get("/api/logs", params={"q": "logs_a", "service": "recorder"}).json()
    assert any("token=[REDACTED]" in str(line["fields"]) for line in starts["lines"])


def test_a_normal_stop_writes_no_warning(stack: Stack, recorded: str) -> None:
    lines = [
        r
        for r in stack.services["recorder_service"].log_records()
        if r.get("session_id") == recorded
    ]
    chatter = [r for r in lines if "command received" in r["message"]]
    assert chatter and all(r["log.level"] == "info" for r in chatter)
    assert not [r for r in lines if r["log.level"] in ("warning", "error", "critical")]


def test_the_real_lines_are_mappable_catalogued_and_plain(
    client: httpx.Client, stack: Stack, site: FakeChaturbate, recorded: str
) -> None:
    # A watch list for the auto-record cycles to decide about: one paused, one offline.
    site.add_room("mona", room_status="offline")
    for body in ({"username": "mona"}, {"username": "nina", "autoRecord": False}):
        assert client.post("/api/models", json=body).status_code == 201
    assert client.post("/api/start", json={"target": "nobody_there"}).status_code == 404
    wait_lines(client, {"recorder"}, q="autorecord", correlation_id="")
    time.sleep(2.5)  # two more cycles
    records = [r for s in stack.services.values() for r in s.log_records()]
    keys = {key for r in records for key in r}
    assert not value_and_object(keys)
    assert "color_message" not in keys
    assert not [r for r in records if "\x1b" in str(r)]
    actions = {r["event.action"] for r in records if r.get("event.action")}
    assert not actions - catalogue_actions()
    decisions = {
        (r["channel"], r["autorecord.reason"])
        for r in records
        if r.get("event.action") == "autorecord.decision"
    }
    assert {("mona", "offline"), ("nina", "paused")} <= decisions


def test_stopping_the_gateway_ends_an_open_event_stream_cleanly(stack: Stack) -> None:
    """Last in the module: it stops the gateway."""
    received: list[str] = []
    ended = threading.Event()

    def listen() -> None:
        with (
            httpx.Client(base_url=stack.base_url, timeout=30) as http,
            http.stream("GET", "/api/events", headers={"X-Request-ID": "e2e-sse-1"}) as stream,
        ):
            for line in stream.iter_lines():
                received.append(line)
        ended.set()

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    end = time.monotonic() + 10
    while "event: snapshot" not in received:
        assert time.monotonic() < end, received
        time.sleep(0.05)
    gateway = stack.services["gateway"]
    began = time.monotonic()
    gateway.proc.send_signal(signal.SIGTERM)
    # uvicorn re-raises the signal it handled once it has shut down: -15 is its clean exit.
    assert gateway.proc.wait(10) in (0, -signal.SIGTERM)
    assert time.monotonic() - began < 3  # not the 5 s grace: the stream ended at once
    assert ended.wait(5)  # the client saw the stream end (no error)
    records = gateway.log_records()
    assert not [r for r in records if r["log.level"] in ("error", "critical")], records[-5:]
    mine = [r for r in records if r.get("correlation_id") == "e2e-sse-1"]
    assert [r.get("event.action") for r in mine][-2:] == ["sse.shutdown", "http.request"]
    access = mine[-1]
    assert access["url.path"] == "/api/events" and access["http.response.status_code"] == 200
