"""The service kit against real grpc.aio servers on 127.0.0.1: correlation ids in and out,
access logs, domain errors as rich statuses, health, reflection and graceful SIGTERM."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal

import grpc
import pytest
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from servicekit import correlation
from servicekit.errors import FailedPrecondition, NotFound
from servicekit.grpc_errors import domain_error_from_rpc, parse_rpc_error
from servicekit.grpc_server import serve
from servicekit.logs import EcsJsonFormatter
from streamrec.v1 import recorder_service_pb2, recorder_service_pb2_grpc

from .conftest import (
    FAIL_WITH_DOMAIN_ERROR,
    FAIL_WITH_UNEXPECTED_ERROR,
    SERVICE_NAME,
    STREAM_MESSAGES,
    make_app,
)

GET_SESSION = f"/{SERVICE_NAME}/GetSession"
WATCH_SESSIONS = f"/{SERVICE_NAME}/WatchSessions"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def echoed_id(metadata) -> str | None:
    for key, value in metadata or ():
        if key == correlation.GRPC_METADATA_KEY:
            return str(value)
    return None


def cid_of(record: logging.LogRecord) -> str | None:
    """The correlation id ContextFilter stamped on a captured record."""
    return getattr(record, "correlation_id", None)


def access_lines(logs, method: str) -> list[logging.LogRecord]:
    return [r for r in logs.with_action("grpc.request") if getattr(r, "rpc.method", "") == method]


def snapshot_ids(messages) -> list[str]:
    return [m.snapshot.sessions[0].correlation_id for m in messages if m.HasField("snapshot")]


# --- correlation ids --------------------------------------------------------------------------


async def test_unary_handler_sees_the_callers_correlation_id_and_its_logs_carry_it(
    stub, servicer, logs
):
    with correlation.bound("abc"):
        reply = await stub.GetSession(recorder_service_pb2.GetSessionRequest(session_id="s1"))

    assert reply.session.correlation_id == "abc"
    assert servicer.seen_ids == ["abc"]
    (handler_line,) = [r for r in logs.records if r.name == "tests.kit.handler"]
    assert cid_of(handler_line) == "abc"
    (access,) = access_lines(logs, GET_SESSION)
    assert cid_of(access) == "abc"
    assert getattr(access, "rpc.grpc.status_code") == "OK"
    assert getattr(access, "event.duration") >= 0


async def test_streaming_handler_sees_the_callers_correlation_id_across_yields_and_logs_carry_it(
    stub, servicer, logs
):
    with correlation.bound("abc"):
        call = stub.WatchSessions(recorder_service_pb2.WatchSessionsRequest())
        messages = [m async for m in call]

    assert len(messages) == STREAM_MESSAGES
    assert snapshot_ids(messages) == ["abc"] * (STREAM_MESSAGES - 1)
    assert servicer.seen_ids == ["abc"] * (STREAM_MESSAGES - 1)
    handler_lines = [r for r in logs.records if r.name == "tests.kit.handler"]
    assert [r.getMessage() for r in handler_lines] == ["watch started", "watch done"]
    assert {cid_of(r) for r in handler_lines} == {"abc"}
    (opened,) = logs.with_action("grpc.stream.open")
    assert cid_of(opened) == "abc"
    (access,) = access_lines(logs, WATCH_SESSIONS)
    assert cid_of(access) == "abc"
    assert getattr(access, "rpc.grpc.status_code") == "OK"


async def test_server_echoes_the_correlation_id_in_initial_metadata(stub):
    with correlation.bound("echo-1"):
        unary = stub.GetSession(recorder_service_pb2.GetSessionRequest(session_id="s1"))
        await unary
        stream = stub.WatchSessions(recorder_service_pb2.WatchSessionsRequest())
        [m async for m in stream]
    assert echoed_id(await unary.initial_metadata()) == "echo-1"
    assert echoed_id(await stream.initial_metadata()) == "echo-1"


async def test_call_without_any_correlation_id_gets_one_generated_by_the_server(
    raw_channel, servicer, logs
):
    stub = recorder_service_pb2_grpc.RecorderServiceStub(raw_channel)
    call = stub.GetSession(recorder_service_pb2.GetSessionRequest(session_id="s1"))
    reply = await call

    cid = reply.session.correlation_id
    assert cid and correlation.is_valid(cid)
    assert echoed_id(await call.initial_metadata()) == cid
    assert cid_of(access_lines(logs, GET_SESSION)[0]) == cid
    assert not logs.with_action("correlation.replaced")  # nothing was sent, nothing replaced


async def test_client_interceptor_sends_a_fresh_id_when_the_caller_has_none(stub, servicer):
    assert correlation.get() is None
    call = stub.GetSession(recorder_service_pb2.GetSessionRequest(session_id="s1"))
    reply = await call
    cid = reply.session.correlation_id
    assert cid and correlation.is_valid(cid)
    assert echoed_id(await call.initial_metadata()) == cid
    assert correlation.get() is None  # the caller's context is left alone


async def test_client_interceptor_replaces_an_id_already_in_the_call_metadata(stub):
    with correlation.bound("from-context"):
        reply = await stub.GetSession(
            recorder_service_pb2.GetSessionRequest(session_id="s1"),
            metadata=((correlation.GRPC_METADATA_KEY, "stale-id"), ("other", "kept")),
        )
    assert reply.session.correlation_id == "from-context"


@pytest.mark.parametrize(
    "bad", ["x" * 300, "with space", "-leading-dash"], ids=["300-chars", "space", "leading-dash"]
)
async def test_invalid_incoming_id_is_replaced_by_a_fresh_one(raw_channel, logs, bad):
    stub = recorder_service_pb2_grpc.RecorderServiceStub(raw_channel)
    call = stub.GetSession(
        recorder_service_pb2.GetSessionRequest(session_id="s1"),
        metadata=((correlation.GRPC_METADATA_KEY, bad),),
    )
    reply = await call

    cid = reply.session.correlation_id
    assert cid and cid != bad and correlation.is_valid(cid)
    assert echoed_id(await call.initial_metadata()) == cid
    (warning,) = logs.with_action("correlation.replaced")
    assert warning.levelno == logging.WARNING
    assert getattr(warning, "header.length") == len(bad)
    assert bad not in warning.getMessage()  # the junk itself never reaches a log line


# --- errors -----------------------------------------------------------------------------------


async def test_domain_error_becomes_its_canonical_code_with_error_info(stub, logs):
    with correlation.bound("err-1"), pytest.raises(aio.AioRpcError) as caught:
        await stub.StopRecording(recorder_service_pb2.StopRecordingRequest(session_id="nope"))

    parsed = parse_rpc_error(caught.value)
    assert parsed.code == grpc.StatusCode.NOT_FOUND
    assert parsed.message == "no such session"
    assert parsed.reason == "SESSION_NOT_FOUND"
    assert parsed.metadata == {"k": "v", "correlation_id": "err-1"}
    (access,) = access_lines(logs, f"/{SERVICE_NAME}/StopRecording")
    assert getattr(access, "rpc.grpc.status_code") == "NOT_FOUND"
    assert cid_of(access) == "err-1"
    assert not logs.with_action("grpc.error")  # expected errors are not logged as failures


async def test_domain_error_from_rpc_rebuilds_the_same_kind_and_reason(stub):
    with correlation.bound("err-2"), pytest.raises(aio.AioRpcError) as caught:
        await stub.StopRecording(recorder_service_pb2.StopRecordingRequest(session_id="nope"))

    rebuilt = domain_error_from_rpc(caught.value, unavailable_reason="RECORDER_UNAVAILABLE")
    assert isinstance(rebuilt, NotFound)
    assert rebuilt.reason == "SESSION_NOT_FOUND"
    assert rebuilt.message == "no such session"
    assert rebuilt.metadata == {"k": "v"}  # the downstream correlation id is not carried on


async def test_unexpected_exception_becomes_internal_without_leaking_its_text(stub, logs):
    with correlation.bound("boom-1"), pytest.raises(aio.AioRpcError) as caught:
        await stub.StartRecording(recorder_service_pb2.StartRecordingRequest(target="x"))

    parsed = parse_rpc_error(caught.value)
    assert parsed.code == grpc.StatusCode.INTERNAL
    assert "boom-1" in parsed.message
    assert "secret-internals" not in parsed.message
    assert "RuntimeError" not in parsed.message
    assert parsed.reason == "INTERNAL"
    assert parsed.metadata == {"correlation_id": "boom-1"}

    (failure,) = logs.with_action("grpc.error")
    assert failure.levelno == logging.ERROR
    assert cid_of(failure) == "boom-1"
    raw = EcsJsonFormatter("kit-test").format(failure)
    assert "\n" not in raw  # one line, even with a stack trace
    line = json.loads(raw)
    assert line["correlation_id"] == "boom-1"
    assert line["error.type"] == "RuntimeError"
    assert "Traceback" in line["error.stack_trace"]
    assert "secret-internals" in line["error.stack_trace"]
    assert "StartRecording" in line["error.stack_trace"]
    (access,) = access_lines(logs, f"/{SERVICE_NAME}/StartRecording")
    assert getattr(access, "rpc.grpc.status_code") == "INTERNAL"


async def test_domain_error_raised_mid_stream_reaches_the_client_after_the_messages_sent(
    stub, logs
):
    received = []
    with correlation.bound("mid-1"), pytest.raises(aio.AioRpcError) as caught:
        call = stub.WatchSessions(
            recorder_service_pb2.WatchSessionsRequest(after_sequence=FAIL_WITH_DOMAIN_ERROR)
        )
        async for message in call:
            received.append(message)

    assert len(received) == STREAM_MESSAGES
    assert snapshot_ids(received) == ["mid-1"] * (STREAM_MESSAGES - 1)
    parsed = parse_rpc_error(caught.value)
    assert parsed.code == grpc.StatusCode.FAILED_PRECONDITION
    assert parsed.reason == "STREAM_BROKE"
    assert parsed.metadata == {"at": "3", "correlation_id": "mid-1"}
    assert isinstance(
        domain_error_from_rpc(caught.value, unavailable_reason="X"), FailedPrecondition
    )
    (access,) = access_lines(logs, WATCH_SESSIONS)
    assert getattr(access, "rpc.grpc.status_code") == "FAILED_PRECONDITION"


async def test_unexpected_error_mid_stream_becomes_internal_after_the_messages_sent(stub, logs):
    received = []
    with correlation.bound("mid-2"), pytest.raises(aio.AioRpcError) as caught:
        call = stub.WatchSessions(
            recorder_service_pb2.WatchSessionsRequest(after_sequence=FAIL_WITH_UNEXPECTED_ERROR)
        )
        async for message in call:
            received.append(message)

    assert len(received) == STREAM_MESSAGES
    parsed = parse_rpc_error(caught.value)
    assert parsed.code == grpc.StatusCode.INTERNAL
    assert "mid-2" in parsed.message and "secret-internals" not in parsed.message
    (failure,) = logs.with_action("grpc.error")
    assert cid_of(failure) == "mid-2"
    assert (
        "secret-internals" in json.loads(EcsJsonFormatter("t").format(failure))["error.stack_trace"]
    )


# --- health and reflection --------------------------------------------------------------------


async def check(channel, service: str) -> int:
    reply = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=service), timeout=2
    )
    return int(reply.status)


async def test_health_is_serving_for_the_server_and_the_service_after_set_serving(app, channel):
    with pytest.raises(aio.AioRpcError) as caught:
        await check(channel, SERVICE_NAME)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND  # unknown until reported

    await app.set_serving(True)
    assert await check(channel, "") == SERVING
    assert await check(channel, SERVICE_NAME) == SERVING


async def test_shutdown_reports_not_serving_before_the_hooks_run_then_stops(app, channel, logs):
    await app.set_serving(True)
    seen: list[tuple[str, int]] = []
    order: list[str] = []

    async def probe_health():
        # A second channel, as a load balancer or the gateway would see it.
        async with aio.insecure_channel(f"127.0.0.1:{app.port}") as other:
            for name in ("", SERVICE_NAME):
                seen.append((name, await check(other, name)))
        order.append("probe")

    async def failing_hook():
        order.append("failing")
        raise RuntimeError("hook broke")

    async def last_hook():
        order.append("last")

    app.on_shutdown.extend([probe_health, failing_hook, last_hook])
    await app.shutdown(grace=0.5)

    assert seen == [("", NOT_SERVING), (SERVICE_NAME, NOT_SERVING)]
    assert order == ["probe", "failing", "last"]  # a failing hook does not stop the others
    (hook_failure,) = [r for r in logs.records if r.getMessage() == "shutdown hook failed"]
    assert hook_failure.exc_info is not None
    with pytest.raises(aio.AioRpcError) as caught:
        await check(channel, "")
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_health_and_reflection_calls_are_not_access_logged(app, channel, logs):
    await app.set_serving(True)
    await check(channel, "")
    assert not logs.with_action("grpc.request")


async def test_reflection_lists_the_service_health_and_reflection(channel):
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = stub.ServerReflectionInfo()
    await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    reply = await asyncio.wait_for(call.read(), timeout=2)
    await call.done_writing()

    names = {s.name for s in reply.list_services_response.service}
    assert SERVICE_NAME in names
    assert "grpc.health.v1.Health" in names
    assert "grpc.reflection.v1alpha.ServerReflection" in names


# --- serve() ----------------------------------------------------------------------------------


async def test_serve_runs_until_sigterm_then_shuts_down_cleanly(servicer, logs):
    app = make_app(servicer)
    hook_saw: list[int] = []

    async def hook():
        hook_saw.append(int((await app.health.Check(health_pb2.HealthCheckRequest(), None)).status))

    app.on_shutdown.append(hook)
    loop = asyncio.get_running_loop()
    task = asyncio.create_task(serve(app, name="t", grace=1))
    try:
        # serve() logs server.start and installs its signal handlers without awaiting in
        # between, so once the start line is seen (from another await) the handlers are in.
        for _ in range(200):
            if logs.with_action("server.start") or task.done():
                break
            await asyncio.sleep(0.01)
        assert logs.with_action("server.start"), "serve() never started"
        await asyncio.sleep(0)
        # Never send SIGTERM to the test process unless serve() owns the signal.
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL

        async with aio.insecure_channel(f"127.0.0.1:{app.port}") as ch:
            assert await check(ch, SERVICE_NAME) == SERVING

        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(task, timeout=5)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        if not task.done():
            task.cancel()
        await app.server.stop(None)

    assert task.exception() is None
    assert hook_saw == [NOT_SERVING]
    actions = [getattr(r, "event.action", None) for r in logs.records]
    assert actions.index("server.start") < actions.index("server.stop")
    assert actions.index("server.stop") < actions.index("server.stopped")
