"""``convert.channel_pb``: a watched channel and what the scheduler last saw of it, on the wire."""

from __future__ import annotations

from datetime import UTC, datetime

from recorder_service.autorecord import ChannelRuntime
from recorder_service.convert import channel_pb
from recorder_service.store import Channel
from streamrec.v1 import resolver_service_pb2

NOW = datetime(2026, 11, 21, 12, 30, tzinfo=UTC)
ALICE = Channel(username="alice", created_at=NOW, updated_at=NOW, auto_record=True)


def test_the_last_check_of_the_room_is_on_the_channel() -> None:
    runtime = ChannelRuntime(
        last_availability="ONLINE",
        last_check_at=NOW,
        last_title="Sunday stream",
        last_viewers=42,
        last_room_status="public",
        last_message="",
        last_error="",
    )
    pb = channel_pb(ALICE, session_id="s1", runtime=runtime)
    assert pb.last_availability == resolver_service_pb2.CHANNEL_AVAILABILITY_ONLINE
    assert pb.last_check_time.ToDatetime(tzinfo=UTC) == NOW
    assert (pb.last_title, pb.last_room_status, pb.last_message) == ("Sunday stream", "public", "")
    assert pb.HasField("last_viewers") and pb.last_viewers == 42


def test_zero_viewers_is_known_and_none_is_unset() -> None:
    assert channel_pb(ALICE, runtime=ChannelRuntime(last_viewers=0)).HasField("last_viewers")
    assert not channel_pb(ALICE, runtime=ChannelRuntime()).HasField("last_viewers")
    huge = channel_pb(ALICE, runtime=ChannelRuntime(last_viewers=2**40))
    assert huge.last_viewers == 2**32 - 1  # clamped to the wire's uint32, not an error


def test_a_channel_never_checked_has_nothing_of_a_check() -> None:
    for runtime in (None, ChannelRuntime()):
        pb = channel_pb(ALICE, runtime=runtime)
        assert pb.last_availability == resolver_service_pb2.CHANNEL_AVAILABILITY_UNSPECIFIED
        assert not pb.HasField("last_check_time") and not pb.HasField("last_viewers")
        assert (pb.last_title, pb.last_room_status, pb.last_message) == ("", "", "")


def test_an_availability_the_enum_does_not_know_is_unspecified_not_a_crash() -> None:
    # e.g. a FailedPrecondition CHANNEL_... reason of a newer resolver, kept at a start
    pb = channel_pb(ALICE, runtime=ChannelRuntime(last_availability="ON_A_BREAK"))
    assert pb.last_availability == resolver_service_pb2.CHANNEL_AVAILABILITY_UNSPECIFIED
