"""RecorderService over a real gRPC server on loopback (real ffmpeg, fake origin)."""

import asyncio

import grpc
import pytest

from recorder_service.model import EventType
from recorder_service.servicer import RecorderServicer
from servicekit import correlation
from servicekit.grpc_errors import parse_rpc_error
from streamrec.v1 import recorder_service_pb2 as pb
from streamrec.v1 import recorder_service_pb2_grpc, session_pb2
from tests.grpc_util import serving
from tests.recorder_service.conftest import bare_session


@pytest.fixture
async def stub(manager):
    servicer = RecorderServicer(manager, heartbeat_interval=0.3)
    async with serving(
        lambda s: recorder_service_pb2_grpc.add_RecorderServiceServicer_to_server(servicer, s),
        "streamrec.v1.RecorderService",
    ) as channel:
        yield recorder_service_pb2_grpc.RecorderServiceStub(channel)


async def next_event(stream, wanted, within=15.0):
    async def find():
        async for message in stream:
            if message.WhichOneof("payload") == "event" and message.event.type == wanted:
                return message.event
        raise AssertionError("stream ended")

    return await asyncio.wait_for(find(), within)


async def test_watch_starts_with_a_snapshot_then_follows_live_events(origin, stub):
    origin.add_stream("g1")
    stream = stub.WatchSessions(pb.WatchSessionsRequest())
    first = await stream.read()
    assert first.WhichOneof("payload") == "snapshot"
    with correlation.bound("watch-req-1"):
        started = await stub.StartRecording(pb.StartRecordingRequest(target="g1"))
    sid = started.session.session_id
    recording = await next_event(stream, session_pb2.SESSION_EVENT_TYPE_RECORDING)
    assert recording.session.session_id == sid
    assert recording.correlation_id == "watch-req-1"
    progress = await next_event(stream, session_pb2.SESSION_EVENT_TYPE_PROGRESS)
    assert progress.sequence > recording.sequence
    assert progress.session.bytes_written > 0
    assert progress.session.media_duration.ToNanoseconds() > 0
    stream.cancel()
    stopped = await stub.StopRecording(pb.StopRecordingRequest(session_id=sid))
    assert stopped.session.state == session_pb2.SESSION_STATE_STOPPED


async def test_watch_resumes_after_a_sequence_without_a_snapshot(origin, stub):
    origin.add_stream("g2")
    await stub.StartRecording(pb.StartRecordingRequest(target="g2"))
    stream = stub.WatchSessions(pb.WatchSessionsRequest())
    snapshot = (await stream.read()).snapshot
    seen = await next_event(stream, session_pb2.SESSION_EVENT_TYPE_PROGRESS)
    stream.cancel()
    await asyncio.sleep(1.5)
    resumed = stub.WatchSessions(pb.WatchSessionsRequest(after_sequence=seen.sequence))
    message = await resumed.read()
    assert message.WhichOneof("payload") == "event"
    assert message.event.sequence == seen.sequence + 1
    assert snapshot.sequence < seen.sequence
    resumed.cancel()


async def test_quiet_streams_get_heartbeats(stub):
    stream = stub.WatchSessions(pb.WatchSessionsRequest())
    assert (await stream.read()).WhichOneof("payload") == "snapshot"
    beat = await asyncio.wait_for(stream.read(), 3)
    assert beat.WhichOneof("payload") == "heartbeat"
    stream.cancel()


async def test_cancelled_watchers_are_unsubscribed(manager, stub):
    streams = [stub.WatchSessions(pb.WatchSessionsRequest()) for _ in range(5)]
    for s in streams:
        await s.read()
    assert manager.bus.subscriber_count == 5
    for s in streams:
        s.cancel()
    for _ in range(50):
        if manager.bus.subscriber_count == 0:
            break
        await asyncio.sleep(0.05)
    assert manager.bus.subscriber_count == 0


async def test_errors_come_back_with_codes_and_reasons(origin, stub):
    origin.add_stream("g3")
    await stub.StartRecording(pb.StartRecordingRequest(target="g3"))
    cases = [
        (stub.StartRecording(pb.StartRecordingRequest(target="g3")), "PERSON_ALREADY_RECORDING"),
        (stub.StartRecording(pb.StartRecordingRequest(target="")), "EMPTY_TARGET"),
        (stub.GetSession(pb.GetSessionRequest(session_id="nope")), "SESSION_NOT_FOUND"),
        (stub.StopRecording(pb.StopRecordingRequest(session_id="nope")), "SESSION_NOT_FOUND"),
        (stub.ListSessions(pb.ListSessionsRequest(page_token="x")), "INVALID_PAGE_TOKEN"),
    ]
    expected_codes = [
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.INVALID_ARGUMENT,
    ]
    for (call, reason), code in zip(cases, expected_codes, strict=True):
        with pytest.raises(grpc.RpcError) as err:
            await call
        parsed = parse_rpc_error(err.value)
        assert (parsed.code, parsed.reason) == (code, reason)


async def read_events(stream, count, within=5.0):
    """The next ``count`` events of ``stream`` and the payload kinds that brought them."""
    events: list[session_pb2.SessionEvent] = []
    kinds: list[str] = []
    async with asyncio.timeout(within):
        while len(events) < count:
            message = await stream.read()
            kind = message.WhichOneof("payload")
            if kind == "event":
                events.append(message.event)
            elif kind == "batch":
                events += message.batch.events
            else:
                continue
            kinds.append(kind)
    return events, kinds


async def test_events_waiting_together_come_as_one_batch_when_the_client_allows_it(manager, stub):
    plain = stub.WatchSessions(pb.WatchSessionsRequest())
    batched = stub.WatchSessions(pb.WatchSessionsRequest(allow_batches=True))
    for stream in (plain, batched):
        assert (await stream.read()).WhichOneof("payload") == "snapshot"
    # 100 sessions report in the same moment: the subscribers wake once for all of them.
    reports = [
        manager.bus.publish(EventType.PROGRESS, bare_session(f"s{i:03d}")) for i in range(100)
    ]
    wanted = [e.sequence for e in reports]
    events, kinds = await read_events(plain, 100)
    assert [e.sequence for e in events] == wanted and set(kinds) == {"event"}
    events, kinds = await read_events(batched, 100)
    assert [e.sequence for e in events] == wanted
    assert kinds == ["batch", "batch"]  # the one that woke it and 63 waiting, then 36
    assert [e.session.session_id for e in events] == [f"s{i:03d}" for i in range(100)]
    # Nothing waiting: a lone event is an event, not a batch of one.
    lone = manager.bus.publish(EventType.PROGRESS, bare_session("s100"))
    events, kinds = await read_events(batched, 1)
    assert [e.sequence for e in events] == [lone.sequence] and kinds == ["event"]
    # Resuming, the replay comes in batches of at most 64, in order, none missing.
    resumed = stub.WatchSessions(
        pb.WatchSessionsRequest(after_sequence=wanted[0] - 1, allow_batches=True)
    )
    events, kinds = await read_events(resumed, 101)
    assert [e.sequence for e in events] == [*wanted, lone.sequence]
    assert kinds == ["batch", "batch"]
    for stream in (plain, batched, resumed):
        stream.cancel()
