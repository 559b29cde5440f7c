"""WatchSessions messages as SSE frames: a batch of events is one frame per event, in order."""

from gateway.routes.events import to_sse
from recorder_service.convert import event_pb
from recorder_service.events import EventBus
from recorder_service.model import EventType
from streamrec.v1 import recorder_service_pb2 as pb
from tests.recorder_service.conftest import bare_session


def frames(data: bytes) -> list[list[str]]:
    return [block.split("\n") for block in data.decode().split("\n\n") if block]


def test_a_batch_is_one_frame_per_event_and_ends_at_its_last_sequence() -> None:
    bus = EventBus(first_sequence=0)
    events = [
        bus.publish(EventType.RECORDING, bare_session("a")),
        bus.publish(EventType.PROGRESS, bare_session("b")),
        bus.publish(EventType.STOPPED, bare_session("c"), "stopped by request"),
    ]
    wire = [event_pb(e).event for e in events]
    data, last = to_sse(pb.WatchSessionsResponse(batch=pb.EventBatch(events=wire)))
    assert last == 3
    got = frames(data)
    assert [f[:2] for f in got] == [
        ["id: 1", "event: recording"],
        ["id: 2", "event: progress"],
        ["id: 3", "event: stopped"],
    ]
    # The same frames as the events sent one by one.
    singles = b"".join(to_sse(pb.WatchSessionsResponse(event=w))[0] for w in wire)
    assert data == singles


def test_an_empty_batch_moves_nothing() -> None:
    assert to_sse(pb.WatchSessionsResponse(batch=pb.EventBatch())) == (b"", None)
