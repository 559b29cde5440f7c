"""watch: the session table kept from snapshots and events, the three views, and following the
stream through drops (resuming after the last sequence seen)."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from servicekit.grpc_interceptors import insecure_channel
from simlab.harness import free_port
from streamrec.v1 import recorder_service_pb2, recorder_service_pb2_grpc, session_pb2
from streamrec_cli import views, watch
from tests.cli.conftest import DENY, DROP, END, HANG, FakeServer, WatchScript

Message = recorder_service_pb2.WatchSessionsResponse


def stamp(seconds: int) -> Timestamp:
    return Timestamp(seconds=seconds)


def session(
    sid: str,
    state: session_pb2.SessionState.ValueType = session_pb2.SESSION_STATE_RECORDING,
    **kw: Any,
) -> session_pb2.Session:
    return session_pb2.Session(
        session_id=sid, person=f"p-{sid}", state=state, start_time=stamp(1000), **kw
    )


def snapshot(sequence: int, *sessions: session_pb2.Session) -> Message:
    snap = recorder_service_pb2.SessionSnapshot(sequence=sequence, sessions=sessions)
    return Message(snapshot=snap)


def event(
    sequence: int,
    kind: session_pb2.SessionEventType.ValueType,
    s: session_pb2.Session,
    message: str = "",
) -> Message:
    e = session_pb2.SessionEvent(
        sequence=sequence, type=kind, session=s, message=message, event_time=stamp(2000)
    )
    return Message(event=e)


def heartbeat(sequence: int) -> Message:
    return Message(heartbeat=recorder_service_pb2.Heartbeat(sequence=sequence))


PROGRESS = session_pb2.SESSION_EVENT_TYPE_PROGRESS
STOPPED = session_pb2.SESSION_EVENT_TYPE_STOPPED


class TtyString(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_sessions_follow_snapshots_and_events() -> None:
    now = [100.0]
    table = views.Sessions(keep_ended=30, clock=lambda: now[0])
    table.apply(snapshot(5, session("a"), session("b")))
    assert table.sequence == 5 and sorted(table.by_id) == ["a", "b"]
    table.apply(event(6, PROGRESS, session("a", bytes_written=2048)))
    assert table.by_id["a"].bytes_written == 2048 and table.sequence == 6
    table.apply(event(7, STOPPED, session("b", state=session_pb2.SESSION_STATE_STOPPED)))
    table.apply(heartbeat(9))
    assert table.sequence == 7  # heartbeats do not move it
    assert [s.session_id for s in table.visible()] == ["a", "b"]  # ended, still shown
    now[0] += 31
    assert [s.session_id for s in table.visible()] == ["a"]  # and gone after a while
    table.apply(snapshot(20, session("c")))
    assert list(table.by_id) == ["c"]


def test_json_view_writes_one_object_per_line_per_event() -> None:
    out = io.StringIO()
    view = watch.make_view(True, "h:1", out)
    assert isinstance(view, views.JsonView)
    view.message(snapshot(5, session("a")))
    view.message(event(6, PROGRESS, session("a")))
    view.message(heartbeat(6))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(d["type"], d["sequence"]) for d in lines] == [("SNAPSHOT", 5), ("PROGRESS", 6)]
    assert lines[1]["session"]["id"] == "a"


def test_line_view_writes_plain_lines_when_not_a_tty() -> None:
    out = io.StringIO()
    view = watch.make_view(False, "h:1", out)
    assert isinstance(view, views.LineView)
    view.message(snapshot(5, session("a")))
    view.message(event(6, PROGRESS, session("a", bytes_written=1536), "progress"))
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and "\x1b" not in out.getvalue()
    assert "#5  SNAPSHOT" in lines[0] and "1 running" in lines[0]
    assert lines[2].split()[1:] == ["#6", "PROGRESS", "a", "p-a", "RECORDING", "1.5", "KiB",
                                    "0:00:00", "-", "progress"]  # fmt: skip


def test_tty_view_redraws_in_place() -> None:
    out = TtyString()
    view = watch.make_view(False, "h:1", out)
    assert isinstance(view, views.TtyView)
    view.message(snapshot(5, session("a")))
    first = out.getvalue()
    drawn = first.count("\n")
    assert first.startswith("\x1b[?25l\x1b[J")  # cursor hidden, nothing to move over yet
    view.message(event(6, PROGRESS, session("a", bytes_written=4096)))
    second = out.getvalue()[len(first) :]
    assert second.startswith(f"\x1b[{drawn}F\x1b[J")  # back to the top of the table, clear
    assert "4.0 KiB" in second and "#6" in second
    view.close()
    assert out.getvalue().endswith("\x1b[?25h")  # cursor back


def test_live_table_lines() -> None:
    table = views.Sessions()
    table.apply(
        snapshot(
            3,
            session("a", bytes_written=2**20, bitrate_kbps=900, speed=1.0,
                    last_progress_time=stamp(1_700_000_000)),
        )
    )  # fmt: skip
    now = datetime.fromtimestamp(1_700_000_004, UTC)
    lines = views.live_table(table, addr="h:1", status="connected", now=now)
    assert lines[0].startswith("streamrec watch  h:1  #3  1 running")
    assert lines[1] == "connected"
    assert lines[3].split() == list(views.LIVE_HEADERS)
    assert lines[4].split() == ["a", "p-a", "RECORDING", "1.0", "MiB", "0:00:00", "900", "kb/s",
                                "1.00x", "4s", "ago"]  # fmt: skip


class Collect:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.notices: list[str] = []
        self.arrived = asyncio.Event()

    def message(self, message: Message) -> None:
        self.messages.append(message)
        self.arrived.set()

    def notice(self, text: str) -> None:
        self.notices.append(text)

    def tick(self) -> None:
        pass

    def close(self) -> None:
        pass

    async def until(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self.messages) < count:
                self.arrived.clear()
                await self.arrived.wait()


async def test_follow_resumes_after_a_drop_and_an_end_from_the_last_sequence(
    fake: FakeServer,
) -> None:
    a = session("a")
    fake.recorder.watch = [
        WatchScript([snapshot(5, a), event(6, PROGRESS, a), heartbeat(9)], DROP),
        WatchScript([event(7, PROGRESS, a)], END),
        WatchScript([event(8, PROGRESS, a)], HANG),
    ]
    view = Collect()
    channel = insecure_channel(fake.addr)
    stub = recorder_service_pb2_grpc.RecorderServiceStub(channel)
    task = asyncio.create_task(
        watch.follow(stub, view, after=0, connect_timeout=5, first_delay=0.05, max_delay=0.1)
    )
    try:
        await view.until(5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await channel.close()
    afters = [r.after_sequence for m, r, _ in fake.recorder.calls if m == "WatchSessions"]
    assert afters == [0, 6, 7]  # not 9: a heartbeat is no event seen
    assert [watch.sequence_of(m) for m in view.messages] == [5, 6, None, 7, 8]
    assert "stream lost (UNAVAILABLE); resuming after #6" in view.notices[0]
    assert "the recorder ended the stream; resuming after #7" in view.notices[1]


async def test_follow_gives_up_when_the_recorder_is_never_there() -> None:
    view = Collect()
    channel = insecure_channel(f"127.0.0.1:{free_port()}")
    stub = recorder_service_pb2_grpc.RecorderServiceStub(channel)
    try:
        with pytest.raises(grpc.RpcError) as exc:
            await watch.follow(stub, view, connect_timeout=0.5, first_delay=0.05, max_delay=0.1)
    finally:
        await channel.close()
    assert exc.value.code() == grpc.StatusCode.UNAVAILABLE
    assert view.notices == []  # quiet until it has connected once


async def test_follow_does_not_resume_an_error_that_will_not_go_away(fake: FakeServer) -> None:
    fake.recorder.watch = [WatchScript([], DENY)]
    channel = insecure_channel(fake.addr)
    stub = recorder_service_pb2_grpc.RecorderServiceStub(channel)
    try:
        with pytest.raises(grpc.RpcError) as exc:
            await watch.follow(stub, Collect(), connect_timeout=5, first_delay=0.05)
    finally:
        await channel.close()
    assert exc.value.code() == grpc.StatusCode.PERMISSION_DENIED
