"""LogService over real gRPC: a "resolver" and a "recorder" server on loopback, each with its
own ring; the recorder's ListLogs merges the resolver's records into its own."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc import aio

from servicekit.grpc_errors import parse_rpc_error
from servicekit.grpc_interceptors import insecure_channel
from servicekit.grpc_server import GrpcApp, build_server
from servicekit.log_service import LogServicer, Upstream
from servicekit.logring import LogRing
from servicekit.logs import EcsJsonFormatter, log_ring, setup_logging
from streamrec.v1 import log_service_pb2 as pb
from streamrec.v1 import log_service_pb2_grpc as pb_grpc

LOG_SERVICE = pb.DESCRIPTOR.services_by_name["LogService"].full_name
T0 = 1_800_000_000.0


def make_ring(service: str) -> LogRing:
    return LogRing(100, EcsJsonFormatter(service).record_dict)


def plant(ring: LogRing, at: float, message: str, level: int = logging.INFO, **extra: Any) -> None:
    logger = logging.getLogger("tests.planted")
    record = logger.makeRecord(logger.name, level, "f", 1, message, (), None, extra=extra)
    record.created = at
    record.correlation_id = extra.get("cid")
    ring.handle(record)


async def start(servicer: LogServicer) -> GrpcApp:
    def register(server: aio.Server) -> None:
        pb_grpc.add_LogServiceServicer_to_server(servicer, server)

    app = build_server(register, [LOG_SERVICE], host="127.0.0.1", port=0)
    await app.server.start()
    return app


@dataclass
class Pair:
    resolver: GrpcApp
    recorder: GrpcApp
    resolver_ring: LogRing
    recorder_ring: LogRing
    stub: pb_grpc.LogServiceStub


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    resolver_ring, recorder_ring = make_ring("resolver"), make_ring("recorder")
    resolver = await start(LogServicer("resolver", resolver_ring))
    upstream_channel = insecure_channel(f"127.0.0.1:{resolver.port}")
    upstream = Upstream("resolver", pb_grpc.LogServiceStub(upstream_channel), timeout=2)
    recorder = await start(LogServicer("recorder", recorder_ring, upstream=upstream))
    client = insecure_channel(f"127.0.0.1:{recorder.port}")
    try:
        yield Pair(resolver, recorder, resolver_ring, recorder_ring, pb_grpc.LogServiceStub(client))
    finally:
        await client.close()
        await upstream_channel.close()
        await recorder.server.stop(None)
        await resolver.server.stop(None)


async def list_logs(stub: pb_grpc.LogServiceStub, **request: Any) -> pb.ListLogsResponse:
    answer: pb.ListLogsResponse = await stub.ListLogs(pb.ListLogsRequest(**request), timeout=5)
    return answer


def sources(answer: pb.ListLogsResponse) -> dict[str, tuple[bool, str]]:
    return {s.service: (s.available, s.detail) for s in answer.sources}


async def test_the_recorder_merges_the_resolvers_records_newest_first_by_time(pair: Pair):
    action: dict[str, Any] = {"event.action": "a.b"}
    plant(pair.recorder_ring, T0 + 1, "recorder 1", cid="req-1", **action)
    plant(pair.resolver_ring, T0 + 2, "resolver 2", cid="req-1", channel="alice")
    plant(pair.recorder_ring, T0 + 3, "recorder 3", cid="req-1", session_id="s1")
    plant(pair.resolver_ring, T0 + 4, "resolver 4", cid="other")
    answer = await list_logs(pair.stub)
    assert [(r.service, r.message) for r in answer.records] == [
        ("resolver", "resolver 4"),
        ("recorder", "recorder 3"),
        ("resolver", "resolver 2"),
        ("recorder", "recorder 1"),
    ]
    assert sources(answer) == {"recorder": (True, ""), "resolver": (True, "")}
    first = answer.records[-1]
    assert first.time.ToNanoseconds() == int((T0 + 1) * 1e9)
    assert first.level == pb.LOG_LEVEL_INFO and first.logger == "tests.planted"
    assert first.correlation_id == "req-1" and first.event_action == "a.b"
    assert json.loads(first.json)["event.action"] == "a.b"
    assert answer.records[1].session_id == "s1" and answer.records[2].channel == "alice"


async def test_filters_apply_on_both_sides(pair: Pair):
    plant(pair.recorder_ring, T0 + 1, "started alice", cid="req-1")
    plant(pair.resolver_ring, T0 + 2, "looked up alice", logging.WARNING, cid="req-1")
    plant(pair.resolver_ring, T0 + 3, "looked up bob", logging.ERROR, cid="req-2")
    plant(pair.recorder_ring, T0 + 4, "debug alice", logging.DEBUG, cid="req-1")

    async def messages(**request: object) -> list[str]:
        return [r.message for r in (await list_logs(pair.stub, **request)).records]

    assert await messages(correlation_id="req-1") == [
        "debug alice",
        "looked up alice",
        "started alice",
    ]
    assert await messages(min_level=pb.LOG_LEVEL_WARNING) == ["looked up bob", "looked up alice"]
    assert await messages(text="ALICE", min_level=pb.LOG_LEVEL_INFO) == [
        "looked up alice",
        "started alice",
    ]
    assert await messages(limit=2) == ["debug alice", "looked up bob"]
    since = pb.ListLogsRequest()
    since.since.FromNanoseconds(int((T0 + 3) * 1e9))
    assert await messages(since=since.since) == ["debug alice", "looked up bob"]


async def test_services_filter_leaves_the_resolver_unasked(pair: Pair):
    plant(pair.recorder_ring, T0 + 1, "mine")
    plant(pair.resolver_ring, T0 + 2, "theirs")
    only_recorder = await list_logs(pair.stub, services=["recorder"])
    assert [r.message for r in only_recorder.records] == ["mine"]
    assert sources(only_recorder) == {"recorder": (True, "")}
    only_resolver = await list_logs(pair.stub, services=["resolver"])
    assert [r.message for r in only_resolver.records] == ["theirs"]
    assert sources(only_resolver) == {"resolver": (True, "")}


async def test_a_resolver_that_is_down_leaves_the_recorders_lines_and_a_note(pair: Pair):
    plant(pair.recorder_ring, T0 + 1, "still here")
    await pair.resolver.server.stop(None)
    began = time.monotonic()
    answer = await list_logs(pair.stub)
    assert time.monotonic() - began < 3
    assert [r.message for r in answer.records] == ["still here"]
    available, detail = sources(answer)["resolver"]
    assert not available and detail.startswith(("UNAVAILABLE", "DEADLINE_EXCEEDED"))
    assert sources(answer)["recorder"] == (True, "")


async def test_a_service_without_a_ring_says_so():
    app = await start(LogServicer("resolver", None))
    channel = insecure_channel(f"127.0.0.1:{app.port}")
    try:
        answer = await list_logs(pb_grpc.LogServiceStub(channel))
    finally:
        await channel.close()
        await app.server.stop(None)
    assert not answer.records
    assert sources(answer) == {"resolver": (False, "log ring off (LOG_RING_SIZE=0)")}


@pytest.mark.parametrize(
    ("request_fields", "reason"),
    [
        ({"min_level": 99}, "INVALID_LOG_LEVEL"),
        ({"services": [""]}, "INVALID_SERVICE"),
        ({"text": "x" * 201}, "INVALID_TEXT"),
        ({"correlation_id": "bad id\n"}, "INVALID_CORRELATION_ID"),
        ({"limit": -1}, "INVALID_LIMIT"),
        ({"since": Timestamp(seconds=-(2**63))}, "INVALID_SINCE"),
        ({"since": Timestamp(seconds=1, nanos=-1)}, "INVALID_SINCE"),
    ],
)
async def test_bad_filters_are_invalid_arguments(pair: Pair, request_fields, reason):
    with pytest.raises(grpc.RpcError) as caught:
        await list_logs(pair.stub, **request_fields)
    parsed = parse_rpc_error(caught.value)
    assert parsed.code is grpc.StatusCode.INVALID_ARGUMENT and parsed.reason == reason


async def test_secrets_never_leave_through_list_logs():
    """Lines logged the ordinary way, through setup_logging's ring, come back redacted."""
    setup_logging("recorder", fmt="json", level="DEBUG", stream=io.StringIO(), ring_size=50)
    try:
        secrets = ("SECRET-QUERY", "SECRET-BEARER", "SECRET-COOKIE", "SECRET-TOKEN", "SECRET-KEY")
        logging.getLogger("tests.secrets").warning(
            "fetch https://cdn.example/live.m3u8?token=SECRET-QUERY"
            " with Authorization: Bearer SECRET-BEARER",
            extra={
                "cookie": "cf_clearance=SECRET-COOKIE",
                "api_token": "SECRET-TOKEN",
                "headers": {"X-API-Key": "SECRET-KEY"},
                "correlation_id": "secret-test",
            },
        )
        app = await start(LogServicer("recorder", log_ring()))
        channel = insecure_channel(f"127.0.0.1:{app.port}")
        try:
            answer = await list_logs(pb_grpc.LogServiceStub(channel), correlation_id="secret-test")
        finally:
            await channel.close()
            await app.server.stop(None)
    finally:
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
            handler.close()
    (record,) = answer.records
    wire = answer.SerializeToString().decode("utf-8", "replace")
    for secret in secrets:
        assert secret not in wire
    assert "token=[REDACTED]" in record.message


async def test_reading_the_logs_writes_its_access_lines_at_debug(pair: Pair, logs):
    await list_logs(pair.stub)
    access = logs.with_action("grpc.request")
    assert {r.getMessage() for r in access} == {"/streamrec.v1.LogService/ListLogs -> OK"}
    assert len(access) == 2 and all(r.levelno == logging.DEBUG for r in access)
    with pytest.raises(grpc.RpcError):
        await list_logs(pair.stub, limit=-1)
    assert logs.with_action("grpc.request")[-1].levelno == logging.INFO  # failures stay INFO
