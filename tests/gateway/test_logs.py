"""``GET /api/logs``: the gateway's own ring merged with the recorder's ListLogs answer (a fake
LogService over real gRPC), the filters, a recorder that is down, bad filters, the Loki link
and redaction."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from grpc import aio

from gateway.app import create_app
from gateway.routes import logs as logs_route
from gateway.settings import GatewaySettings
from servicekit import correlation
from servicekit.grpc_server import build_server
from servicekit.logring import LogRing
from servicekit.logs import ContextFilter, EcsJsonFormatter
from simlab.harness import free_port
from streamrec.v1 import log_service_pb2 as pb
from streamrec.v1 import log_service_pb2_grpc as pb_grpc

T0 = 1_800_000_000  # 2027-01-15T08:00:00Z
LINE_KEYS = {
    "time",
    "level",
    "service",
    "logger",
    "message",
    "correlationId",
    "eventAction",
    "sessionId",
    "channel",
    "errorType",
    "errorMessage",
    "fields",
}
glog = logging.getLogger("gateway.test")


def record(service: str, at: float, message: str, **fields: Any) -> pb.LogRecord:
    line = {"@timestamp": "x", "log.level": "info", "service.name": service, "message": message}
    line.update(fields)
    out = pb.LogRecord(
        level=pb.LOG_LEVEL_INFO,
        service=service,
        logger=f"{service}.test",
        message=message,
        correlation_id=str(fields.get("correlation_id", "")),
        channel=str(fields.get("channel", "")),
        json=json.dumps(line),
    )
    out.time.FromNanoseconds(int(at * 1e9))
    return out


@dataclass
class FakeLogs(pb_grpc.LogServiceServicer):
    """The recorder's LogService: answers planted records and sources, keeps the requests."""

    records: list[pb.LogRecord] = field(default_factory=list)
    sources: list[pb.LogSource] = field(
        default_factory=lambda: [
            pb.LogSource(service="recorder", available=True),
            pb.LogSource(service="resolver", available=True),
        ]
    )
    requests: list[pb.ListLogsRequest] = field(default_factory=list)

    async def ListLogs(
        self, request: pb.ListLogsRequest, context: aio.ServicerContext
    ) -> pb.ListLogsResponse:
        self.requests.append(request)
        return pb.ListLogsResponse(records=self.records, sources=self.sources)


@pytest.fixture
def ring(monkeypatch: pytest.MonkeyPatch) -> Iterator[LogRing]:
    """The gateway process's ring, fed by the root logger as setup_logging would."""
    found = LogRing(100, EcsJsonFormatter("gateway").record_dict)
    found.addFilter(ContextFilter("gateway"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(found)
    root.setLevel(logging.DEBUG)
    monkeypatch.setattr(logs_route, "log_ring", lambda: found)
    try:
        yield found
    finally:
        root.removeHandler(found)
        root.setLevel(old_level)


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeLogs, int]]:
    servicer = FakeLogs()

    def register(server: aio.Server) -> None:
        pb_grpc.add_LogServiceServicer_to_server(servicer, server)

    app = build_server(register, ["streamrec.v1.LogService"], host="127.0.0.1", port=0)
    await app.server.start()
    try:
        yield servicer, app.port
    finally:
        await app.server.stop(0)


@contextlib.asynccontextmanager
async def gateway_app(recorder_port: int, tmp_path: Path, **settings: Any) -> AsyncIterator[Any]:
    app = create_app(
        GatewaySettings(
            recorder_addr=f"127.0.0.1:{recorder_port}",
            output_dir=tmp_path,
            rpc_timeout=5,
            build_commit="test",
            **settings,
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=10) as client,
    ):
        yield client


async def test_lines_of_the_three_services_come_newest_first_in_one_list(ring, fake, tmp_path):
    servicer, port = fake
    servicer.records = [
        record("resolver", T0 + 3, "looked up", correlation_id="req-1", channel="alice"),
        record("recorder", T0 + 1, "started", correlation_id="req-1", **{"file.path": "a.ts"}),
    ]
    planted = glog.makeRecord(glog.name, logging.WARNING, "f", 1, "proxied", (), None)
    planted.created = T0 + 2
    planted.correlation_id = "req-1"
    planted.__dict__["event.action"] = "http.request"
    ring.handle(planted)
    async with gateway_app(port, tmp_path) as client:
        answer = await client.get("/api/logs", params={"correlation_id": "req-1"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"lines", "services", "lokiUrl"}
    assert body["services"] == {"gateway": "ok", "recorder": "ok", "resolver": "ok"}
    assert body["lokiUrl"] is None
    lines = body["lines"]
    assert [(line["service"], line["message"]) for line in lines] == [
        ("resolver", "looked up"),
        ("gateway", "proxied"),
        ("recorder", "started"),
    ]
    assert all(set(line) == LINE_KEYS for line in lines)
    resolver, mine, recorder = lines
    assert resolver["time"] == "2027-01-15T08:00:03.000Z" and resolver["channel"] == "alice"
    assert mine == {
        "time": "2027-01-15T08:00:02.000Z",
        "level": "warning",
        "service": "gateway",
        "logger": "gateway.test",
        "message": "proxied",
        "correlationId": "req-1",
        "eventAction": "http.request",
        "sessionId": None,
        "channel": None,
        "errorType": None,
        "errorMessage": None,
        "fields": {},
    }
    assert recorder["fields"] == {"file.path": "a.ts"}
    (request,) = servicer.requests
    assert request.correlation_id == "req-1" and not request.services


async def test_filters_reach_the_recorder_and_apply_to_the_gateways_lines(ring, fake, tmp_path):
    servicer, port = fake
    glog.error("a gateway error")
    async with gateway_app(port, tmp_path) as client:
        answer = await client.get(
            "/api/logs",
            params={
                "level": "WARNING",
                "service": "resolver",
                "q": "alice",
                "since": "2027-01-15T08:00:00Z",
                "limit": "7",
            },
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["services"] == {"recorder": "ok", "resolver": "ok"}
        (request,) = servicer.requests
        assert list(request.services) == ["resolver"]
        assert request.min_level == pb.LOG_LEVEL_WARNING
        assert request.text == "alice" and request.limit == 7
        assert request.since.ToSeconds() == T0
        # The gateway's own lines, filtered the same way.
        mine = await client.get("/api/logs", params={"service": "gateway", "level": "error"})
        assert [line["message"] for line in mine.json()["lines"]] == ["a gateway error"]
        assert mine.json()["services"] == {"gateway": "ok"}
        assert len(servicer.requests) == 1  # only the gateway was asked: no call
        both = await client.get("/api/logs", params=[("service", "gateway,recorder")])
        assert list(servicer.requests[-1].services) == ["recorder"]
        assert set(both.json()["services"]) == {"gateway", "recorder", "resolver"}


async def test_a_recorder_that_is_down_leaves_the_gateways_lines_and_notes(ring, tmp_path):
    with correlation.bound("down-1"):
        glog.info("still logging")
    async with gateway_app(free_port(), tmp_path) as client:
        answer = await client.get("/api/logs", params={"correlation_id": "down-1"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [line["message"] for line in body["lines"]] == ["still logging"]
    assert body["services"]["gateway"] == "ok"
    assert body["services"]["recorder"].startswith("unavailable: UNAVAILABLE")
    assert body["services"]["resolver"] == "unavailable: the recorder could not be asked"


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"level": "loud"}, "INVALID_LOG_LEVEL"),
        ({"service": "database"}, "INVALID_SERVICE"),
        ({"q": "x" * 201}, "INVALID_TEXT"),
        ({"correlation_id": "no spaces allowed"}, "INVALID_CORRELATION_ID"),
        ({"limit": "0"}, "INVALID_LIMIT"),
        ({"limit": "5001"}, "INVALID_LIMIT"),
        ({"limit": "many"}, "INVALID_ARGUMENT"),
        ({"since": "yesterday"}, "INVALID_SINCE"),
        ({"since": "2027-01-15T08:00:00"}, "INVALID_SINCE"),
        ({"since": "0001-01-01T00:00:00+01:00"}, "INVALID_SINCE"),
    ],
)
async def test_bad_filters_are_400_with_the_error_body(ring, fake, tmp_path, params, code):
    _, port = fake
    async with gateway_app(port, tmp_path) as client:
        answer = await client.get("/api/logs", params=params, headers={"X-Request-ID": "bad-1"})
    assert answer.status_code == 400
    assert answer.json() == {
        "detail": answer.json()["detail"],
        "code": code,
        "correlation_id": "bad-1",
    }


async def test_loki_url_gives_the_same_query_as_a_grafana_explore_link(ring, fake, tmp_path):
    _, port = fake
    async with gateway_app(port, tmp_path, loki_url="https://grafana.example/g") as client:
        answer = await client.get("/api/logs", params={"correlation_id": "abc-1", "level": "error"})
    url = urlsplit(answer.json()["lokiUrl"])
    assert (url.scheme, url.netloc, url.path) == ("https", "grafana.example", "/g/explore")
    pane = json.loads(parse_qs(url.query)["left"][0])
    assert pane["datasource"] == "loki" and pane["range"] == {"from": "now-1h", "to": "now"}
    assert pane["queries"][0]["expr"] == (
        '{app="streamrec"} | json | correlation_id="abc-1" | log_level=~"error|critical"'
    )


async def test_secrets_are_redacted_in_the_answer(ring, fake, tmp_path):
    _, port = fake
    with correlation.bound("secret-1"):
        glog.warning(
            "GET https://cdn.example/a.m3u8?token=SECRET-Q Authorization: Bearer SECRET-B",
            extra={"cookie": "session=SECRET-C", "headers": {"X-API-Key": "SECRET-K"}},
        )
    async with gateway_app(port, tmp_path) as client:
        answer = await client.get("/api/logs", params={"correlation_id": "secret-1"})
    assert answer.json()["lines"], answer.text
    for secret in ("SECRET-Q", "SECRET-B", "SECRET-C", "SECRET-K"):
        assert secret not in answer.text


async def test_reading_the_logs_is_access_logged_at_debug(ring, fake, tmp_path):
    _, port = fake
    async with gateway_app(port, tmp_path) as client:
        await client.get("/api/logs")
        await client.get("/api/logs", params={"level": "loud"})
    access = [e for e in ring.snapshot() if e.fields.get("event.action") == "http.request"]
    assert [(e.fields["http.response.status_code"], e.level) for e in access] == [
        (200, logging.DEBUG),
        (400, logging.INFO),
    ]
