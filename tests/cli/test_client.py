"""Calls, retries, the request id, and failed calls turned into exit statuses and one line."""

from __future__ import annotations

import io
import time
from typing import Any

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from simlab.harness import free_port
from streamrec.v1 import recorder_service_pb2, session_pb2
from streamrec_cli import commands
from streamrec_cli.__main__ import main, parse_args
from streamrec_cli.client import (
    EXIT_ERROR,
    EXIT_NOT_FOUND,
    EXIT_UNREACHABLE,
    Client,
    Failure,
    failure_from_rpc,
)
from tests.cli.conftest import FakeServer


class FakeRpcError(grpc.RpcError):
    """A failed call as a client sees it, with an ErrorInfo reason when one is given."""

    def __init__(self, code: grpc.StatusCode, details: str, reason: str = "") -> None:
        self._code, self._details, self._reason = code, details, reason

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        if not self._reason:
            return ()
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.ErrorInfo(reason=self._reason, domain="streamrec"))
        status = status_pb2.Status(code=self._code.value[0], message=self._details)
        status.details.append(detail)
        return (("grpc-status-details-bin", status.SerializeToString()),)


@pytest.mark.parametrize(
    ("code", "reason", "exit_code", "shown"),
    [
        (grpc.StatusCode.NOT_FOUND, "SESSION_NOT_FOUND", EXIT_NOT_FOUND, "SESSION_NOT_FOUND"),
        (grpc.StatusCode.NOT_FOUND, "", EXIT_NOT_FOUND, "NOT_FOUND"),
        (grpc.StatusCode.INVALID_ARGUMENT, "EMPTY_TARGET", EXIT_ERROR, "EMPTY_TARGET"),
        (grpc.StatusCode.ALREADY_EXISTS, "", EXIT_ERROR, "ALREADY_EXISTS"),
        (grpc.StatusCode.UNAVAILABLE, "", EXIT_UNREACHABLE, "UNAVAILABLE"),
        # a recorder that answered, passing on its resolver's outage: a server error
        (grpc.StatusCode.UNAVAILABLE, "RESOLVER_UNAVAILABLE", EXIT_ERROR, "RESOLVER_UNAVAILABLE"),
        (grpc.StatusCode.INTERNAL, "", EXIT_ERROR, "INTERNAL"),
    ],
)
def test_failures_map_to_exit_statuses(
    code: grpc.StatusCode, reason: str, exit_code: int, shown: str
) -> None:
    failure = failure_from_rpc(FakeRpcError(code, "it\nwent  wrong", reason), addr="h:1", timeout=5)
    assert failure.exit_code == exit_code
    assert failure.reason == shown
    line = failure.line("cli-123")
    assert line.startswith("streamrec: ") and line.endswith(f" ({shown}, request id cli-123)\n")
    assert line.count("\n") == 1  # one line, whatever the server said
    if exit_code == EXIT_UNREACHABLE:
        assert "cannot reach the recorder at h:1" in line


def test_a_deadline_is_unreachable_only_when_the_channel_never_connected() -> None:
    error = FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
    never = failure_from_rpc(error, addr="h:1", timeout=2, connected=False)
    assert never.exit_code == EXIT_UNREACHABLE and "within 2s" in never.detail
    slow = failure_from_rpc(error, addr="h:1", timeout=2, connected=True)
    assert slow.exit_code == EXIT_ERROR and slow.reason == "DEADLINE_EXCEEDED"


def test_a_closed_port_exits_3_within_the_timeout(capsys: pytest.CaptureFixture[str]) -> None:
    started = time.monotonic()
    code = main(["--addr", f"127.0.0.1:{free_port()}", "--timeout", "1.5", "--request-id", "r-9",
                 "ls"])  # fmt: skip
    assert code == EXIT_UNREACHABLE
    assert time.monotonic() - started < 3
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("(UNAVAILABLE, request id r-9)\n")


async def test_reads_are_retried_and_carry_the_request_id(fake: FakeServer) -> None:
    fake.recorder.unavailable["ListSessions"] = 2
    fake.recorder.sessions = [session_pb2.Session(session_id=f"s{i}") for i in range(3)]
    args = parse_args(["--json", "ls", "--all"])
    async with Client.connect(fake.addr, 10, "cli-req-1") as client:
        seen: list[Any] = []

        class Sink(commands.Output):
            def emit(self, data: object, text: str) -> None:
                seen.append(data)

        assert await commands.list_sessions(client, args, Sink(True)) == 0
    assert [s["id"] for s in seen[0]] == ["s0", "s1", "s2"]  # every page
    calls = fake.recorder.calls
    assert [m for m, _, _ in calls] == ["ListSessions"] * 5  # 2 failures, then 3 pages
    assert {cid for _, _, cid in calls} == {"cli-req-1"}
    assert all(request.include_ended for _, request, _ in calls)


async def test_start_is_retried_with_one_request_id(fake: FakeServer) -> None:
    fake.recorder.unavailable["StartRecording"] = 1
    args = parse_args(["--request-id", "cli-start-1", "start", "http://cdn/x.m3u8"])
    async with Client.connect(fake.addr, 10, args.request_id) as client:
        await commands.start(client, args, commands.Output(True, io.StringIO()))
    requests = [r for m, r, _ in fake.recorder.calls if m == "StartRecording"]
    assert len(requests) == 2
    assert {r.request_id for r in requests} == {"cli-start-1"}


async def test_stop_is_never_retried(fake: FakeServer) -> None:
    fake.recorder.unavailable["StopRecording"] = 1
    args = parse_args(["stop", "s1"])
    with pytest.raises(Failure) as exc:
        async with Client.connect(fake.addr, 10, "r") as client:
            await commands.stop(client, args, commands.Output(False, io.StringIO()))
    assert exc.value.exit_code == EXIT_UNREACHABLE
    assert fake.recorder.methods() == ["StopRecording"]


async def test_a_domain_error_keeps_its_reason(fake: FakeServer) -> None:
    with pytest.raises(Failure) as exc:
        async with Client.connect(fake.addr, 10, "r") as client:
            request = recorder_service_pb2.StopRecordingRequest(session_id="nope")
            await client.once(lambda t: client.recorder.StopRecording(request, timeout=t))
    assert exc.value.exit_code == EXIT_NOT_FOUND
    assert exc.value.reason == "SESSION_NOT_FOUND"
    assert exc.value.detail == "no session 'nope'"
