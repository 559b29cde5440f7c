"""ChannelService's watch list over real gRPC and a real SQLite store: create, get, list,
update with a field mask, delete, and every bad input refused with its reason."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from recorder_service.autorecord import ChannelRuntime
from recorder_service.channel_servicer import ChannelServicer
from recorder_service.model import Session
from recorder_service.resolver_client import GrpcResolver
from recorder_service.sqlite_store import SqliteStore
from recorder_service.watchlist import WatchList
from servicekit.grpc_errors import parse_rpc_error
from streamrec.v1 import channel_service_pb2 as pb
from streamrec.v1 import channel_service_pb2_grpc, quality_pb2, resolver_service_pb2
from tests.grpc_util import serving
from tests.recorder_service.classifying_resolver import classifying_resolver

BAD_POLICY: Any = 42
RUNTIME = {
    "bob": ChannelRuntime(
        last_availability="ONLINE",
        last_check_at=datetime(2026, 11, 21, 12, tzinfo=UTC),
        last_error="",
    )
}


@pytest.fixture
async def stub(tmp_path) -> AsyncIterator[channel_service_pb2_grpc.ChannelServiceStub]:
    store = SqliteStore(tmp_path / "db.sqlite")

    def running() -> list[Session]:
        return [
            Session(
                session_id="abc123abc123",
                person="bob",
                name="bob",
                target="bob",
                source_type="chaturbate",
                start_time=datetime.now(UTC),
                correlation_id="",
                preview_path="",
            )
        ]

    async with classifying_resolver() as to_resolver:
        servicer = ChannelServicer(
            GrpcResolver(to_resolver, timeout=5),
            WatchList(store),
            running=running,
            runtime=RUNTIME.get,
        )
        async with serving(
            lambda s: channel_service_pb2_grpc.add_ChannelServiceServicer_to_server(servicer, s),
            "streamrec.v1.ChannelService",
        ) as channel:
            yield channel_service_pb2_grpc.ChannelServiceStub(channel)
    store.close()


async def error_of(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    parsed = parse_rpc_error(info.value)
    return parsed.code, parsed.reason


def channel(username: str = "Alice", **kw) -> pb.Channel:
    return pb.Channel(username=username, **kw)


async def test_create_get_list_update_delete(stub) -> None:
    created = (
        await stub.CreateChannel(
            pb.CreateChannelRequest(
                channel=channel(
                    name="Alice A.",
                    auto_record=True,
                    retention_days=7,
                    max_bytes=5 << 30,
                    max_count=20,
                    quality=quality_pb2.QualityPreference(
                        height=720, policy=quality_pb2.QUALITY_POLICY_CLOSEST
                    ),
                )
            )
        )
    ).channel
    assert created.username == "alice"  # keys are lower case
    assert (created.name, created.auto_record, created.retention_days) == ("Alice A.", True, 7)
    assert (created.max_bytes, created.max_count, created.quality.height) == (5 << 30, 20, 720)
    assert created.HasField("create_time") and created.session_id == ""

    got = (await stub.GetChannel(pb.GetChannelRequest(username="ALICE"))).channel
    assert got == created

    await stub.CreateChannel(pb.CreateChannelRequest(channel=channel("bob", auto_record=True)))
    listed = await stub.ListChannels(pb.ListChannelsRequest(page_size=1))
    assert [c.username for c in listed.channels] == ["alice"] and listed.next_page_token
    rest = await stub.ListChannels(pb.ListChannelsRequest(page_token=listed.next_page_token))
    assert [c.username for c in rest.channels] == ["bob"] and rest.next_page_token == ""
    bob = rest.channels[0]
    assert bob.session_id == "abc123abc123"  # recording now
    assert bob.last_availability == resolver_service_pb2.CHANNEL_AVAILABILITY_ONLINE

    updated = (
        await stub.UpdateChannel(
            pb.UpdateChannelRequest(
                channel=channel(retention_days=30, name="ignored: not in the mask"),
                update_mask=field_mask_pb2.FieldMask(paths=["retention_days"]),
            )
        )
    ).channel
    assert (updated.retention_days, updated.name, updated.auto_record) == (30, "Alice A.", True)
    assert updated.update_time.ToDatetime() >= created.update_time.ToDatetime()

    await stub.DeleteChannel(pb.DeleteChannelRequest(username="alice"))
    code, reason = await error_of(stub.GetChannel(pb.GetChannelRequest(username="alice")))
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "CHANNEL_NOT_FOUND")


async def test_a_duplicate_username_is_already_exists_whatever_its_case(stub) -> None:
    await stub.CreateChannel(pb.CreateChannelRequest(channel=channel("carol")))
    code, reason = await error_of(
        stub.CreateChannel(pb.CreateChannelRequest(channel=channel("CAROL", name="other")))
    )
    assert (code, reason) == (grpc.StatusCode.ALREADY_EXISTS, "CHANNEL_EXISTS")
    got = (await stub.GetChannel(pb.GetChannelRequest(username="carol"))).channel
    assert got.name == "carol"  # the first one is untouched


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"username": ""}, "INVALID_USERNAME"),
        ({"username": "../etc"}, "INVALID_USERNAME"),
        ({"username": "a b"}, "INVALID_USERNAME"),
        ({"username": "x" * 65}, "INVALID_USERNAME"),
        ({"username": "élodie"}, "INVALID_USERNAME"),
        ({"target": "file:///etc/passwd"}, "UNSUPPORTED_PROTOCOL"),
        ({"target": "concat:/a|/b"}, "INVALID_CHANNEL"),
        ({"target": "ftp://host/x.m3u8"}, "UNSUPPORTED_PROTOCOL"),
        # The resolver's rule: a site channel needs a username or that site's room URL.
        ({"target": "http://host/x.m3u8", "source_type": 2}, "INVALID_USERNAME"),
        ({"source": "nosuchsite"}, "UNKNOWN_SOURCE_TYPE"),
        ({"username": "nosuchsite:alice"}, "UNKNOWN_SOURCE_TYPE"),
        ({"source": "hls", "source_type": 2}, "SOURCE_MISMATCH"),
        ({"username": "othersite:a", "source": "chaturbate"}, "SOURCE_MISMATCH"),
        ({"target": "https://othersite.example/bob"}, "INVALID_CHANNEL"),  # dave is not bob
        ({"source_type": 1}, "INVALID_CHANNEL"),  # hls without a URL
        ({"source_type": 99}, "UNKNOWN_SOURCE_TYPE"),
        ({"name": "bad\nname"}, "INVALID_CHANNEL"),
        ({"name": "n" * 201}, "INVALID_CHANNEL"),
        ({"retention_days": 40_000}, "INVALID_CHANNEL"),
        ({"max_count": 2_000_000}, "INVALID_CHANNEL"),
        ({"max_bytes": 2**63}, "INVALID_CHANNEL"),  # more than SQLite holds: a 400, not a 500
        ({"quality": quality_pb2.QualityPreference(height=20_000)}, "INVALID_CHANNEL"),
        ({"quality": quality_pb2.QualityPreference(policy=BAD_POLICY)}, "INVALID_CHANNEL"),
    ],
)
async def test_bad_channels_are_refused_and_nothing_is_saved(stub, fields, reason) -> None:
    fields = {"username": "dave", **fields}
    code, got = await error_of(
        stub.CreateChannel(pb.CreateChannelRequest(channel=pb.Channel(**fields)))
    )
    assert (code, got) == (grpc.StatusCode.INVALID_ARGUMENT, reason)
    assert (await stub.ListChannels(pb.ListChannelsRequest())).channels == []


async def test_unknown_channels_are_not_found(stub) -> None:
    for call in (
        stub.GetChannel(pb.GetChannelRequest(username="nobody")),
        stub.DeleteChannel(pb.DeleteChannelRequest(username="nobody")),
        stub.UpdateChannel(pb.UpdateChannelRequest(channel=channel("nobody"))),
    ):
        code, reason = await error_of(call)
        assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "CHANNEL_NOT_FOUND")


async def test_an_update_mask_naming_an_output_field_is_refused(stub) -> None:
    await stub.CreateChannel(pb.CreateChannelRequest(channel=channel("erin")))
    for paths in (["create_time"], ["username"], ["session_id"], ["bogus"]):
        code, reason = await error_of(
            stub.UpdateChannel(
                pb.UpdateChannelRequest(
                    channel=channel("erin"), update_mask=field_mask_pb2.FieldMask(paths=paths)
                )
            )
        )
        assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_UPDATE_MASK")


async def test_an_update_that_breaks_a_rule_changes_nothing(stub) -> None:
    await stub.CreateChannel(pb.CreateChannelRequest(channel=channel("fay", retention_days=3)))
    code, _ = await error_of(
        stub.UpdateChannel(
            pb.UpdateChannelRequest(
                channel=channel("fay", retention_days=99_999, name="new"),
                update_mask=field_mask_pb2.FieldMask(paths=["retention_days", "name"]),
            )
        )
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    got = (await stub.GetChannel(pb.GetChannelRequest(username="fay"))).channel
    assert (got.retention_days, got.name) == (3, "fay")


async def test_the_same_name_on_two_sites_is_two_channels_in_two_folders(stub) -> None:
    mine = (await stub.CreateChannel(pb.CreateChannelRequest(channel=channel("Alice")))).channel
    other = (
        await stub.CreateChannel(pb.CreateChannelRequest(channel=channel("othersite:Alice")))
    ).channel
    assert (mine.source, mine.key, mine.username) == ("chaturbate", "alice", "alice")
    assert mine.source_type == resolver_service_pb2.SOURCE_TYPE_CHATURBATE
    # The second site keeps the name's case (it is case-sensitive) and its own folder.
    assert (other.source, other.key, other.username) == (
        "othersite",
        "othersite:Alice",
        "Alice",
    )
    assert other.source_type == resolver_service_pb2.SOURCE_TYPE_UNSPECIFIED
    listed = (await stub.ListChannels(pb.ListChannelsRequest())).channels
    assert sorted(c.key for c in listed) == ["alice", "othersite:Alice"]
    only = (await stub.ListChannels(pb.ListChannelsRequest(source="othersite"))).channels
    assert [c.key for c in only] == ["othersite:Alice"]

    by_key = (await stub.GetChannel(pb.GetChannelRequest(username="othersite:Alice"))).channel
    by_field = (
        await stub.GetChannel(pb.GetChannelRequest(username="Alice", source="othersite"))
    ).channel
    assert by_key == by_field == other
    bare = (await stub.GetChannel(pb.GetChannelRequest(username="ALICE"))).channel
    assert bare.key == "alice"

    updated = (
        await stub.UpdateChannel(
            pb.UpdateChannelRequest(
                channel=pb.Channel(username="Alice", source="othersite", retention_days=4),
                update_mask=field_mask_pb2.FieldMask(paths=["retention_days"]),
            )
        )
    ).channel
    assert (updated.key, updated.retention_days) == ("othersite:Alice", 4)
    assert (
        await stub.GetChannel(pb.GetChannelRequest(username="alice"))
    ).channel.retention_days == 0

    await stub.DeleteChannel(pb.DeleteChannelRequest(username="Alice", source="othersite"))
    listed = (await stub.ListChannels(pb.ListChannelsRequest())).channels
    assert [c.key for c in listed] == ["alice"]


async def test_a_channel_named_by_key_or_by_source_is_the_same_channel(stub) -> None:
    await stub.CreateChannel(pb.CreateChannelRequest(channel=channel("othersite:bob")))
    code, reason = await error_of(
        stub.CreateChannel(pb.CreateChannelRequest(channel=channel("bob", source="othersite")))
    )
    assert (code, reason) == (grpc.StatusCode.ALREADY_EXISTS, "CHANNEL_EXISTS")


async def test_a_room_url_names_the_channel_and_a_playlist_url_makes_an_hls_channel(stub) -> None:
    room = (
        await stub.CreateChannel(
            pb.CreateChannelRequest(channel=pb.Channel(target="https://othersite.example/Zed"))
        )
    ).channel
    assert (room.key, room.target) == ("othersite:Zed", "")  # recorded by its username
    url = "https://cdn.example/live/cam.m3u8"
    cam = (
        await stub.CreateChannel(pb.CreateChannelRequest(channel=channel("Cam1", target=url)))
    ).channel
    assert (cam.source, cam.key, cam.target) == ("hls", "hls:cam1", url)
    assert cam.source_type == resolver_service_pb2.SOURCE_TYPE_HLS
    # A bare name still finds a playlist channel (as before channels had sources).
    assert (await stub.GetChannel(pb.GetChannelRequest(username="cam1"))).channel == cam
    # A default-site channel of that name would record into the same folder: refused.
    code, reason = await error_of(
        stub.CreateChannel(pb.CreateChannelRequest(channel=channel("cam1")))
    )
    assert (code, reason) == (grpc.StatusCode.ALREADY_EXISTS, "CHANNEL_FOLDER_TAKEN")


async def test_a_channel_source_cannot_change_by_update(stub) -> None:
    await stub.CreateChannel(pb.CreateChannelRequest(channel=channel("gil")))
    code, reason = await error_of(
        stub.UpdateChannel(
            pb.UpdateChannelRequest(
                channel=pb.Channel(
                    username="gil", source_type=resolver_service_pb2.SOURCE_TYPE_HLS
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["source_type"]),
            )
        )
    )
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_CHANNEL")
