"""The watch list across sites: a channel is (site, username), its key ``alice`` or
``stripchat:alice``; through real gRPC to the fake recorder keyed the same way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from grpc import aio

from gateway.schemas import check_person
from gateway.sites import ChannelRef, channel_key, channel_or_folder, parse_key
from servicekit.errors import InvalidArgument
from servicekit.grpc_server import build_server
from streamrec.v1 import channel_service_pb2 as ch
from streamrec.v1 import channel_service_pb2_grpc as ch_grpc
from streamrec.v1 import media_service_pb2 as media
from streamrec.v1 import media_service_pb2_grpc as media_grpc
from streamrec.v1 import recorder_service_pb2 as recorder
from streamrec.v1 import recorder_service_pb2_grpc as recorder_grpc
from streamrec.v1 import session_pb2
from streamrec.v1 import system_service_pb2 as system
from streamrec.v1 import system_service_pb2_grpc as system_grpc
from tests.gateway.conftest import gateway_client
from tests.gateway.fake_recorder import FakeChannels, Fakes, Recorder, assert_error

# ---- the key, as pure functions ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "site", "ref"),
    [
        ("alice", None, ChannelRef("", "alice")),
        ("Alice", None, ChannelRef("", "alice")),  # the default site: case-insensitive
        ("alice", "stripchat", ChannelRef("stripchat", "alice")),
        ("stripchat:alice", None, ChannelRef("stripchat", "alice")),
        ("stripchat:alice", "stripchat", ChannelRef("stripchat", "alice")),
        ("stripchat:Ann-Marie", None, ChannelRef("stripchat", "Ann-Marie")),  # its own rules
        ("cam4:a_b", None, ChannelRef("cam4", "a_b")),
        ("chaturbate:bob", None, ChannelRef("chaturbate", "bob")),
    ],
)
def test_keys_name_a_site_and_a_username(key: str, site: str | None, ref: ChannelRef) -> None:
    assert parse_key(key, site) == ref


@pytest.mark.parametrize(
    ("key", "site", "reason"),
    [
        ("Strip:alice", None, "INVALID_SITE"),
        ("s:alice", None, "INVALID_SITE"),  # too short
        ("1cam:alice", None, "INVALID_SITE"),
        ("x" * 33 + ":alice", None, "INVALID_SITE"),
        (":alice", None, "INVALID_SITE"),
        ("alice", "Stripchat", "INVALID_SITE"),
        ("alice", "strip chat", "INVALID_SITE"),
        ("alice", "<b>x</b>", "INVALID_SITE"),
        ("stripchat:alice", "cam4", "SITE_MISMATCH"),
        ("stripchat:", None, "INVALID_ARGUMENT"),
        ("stripchat:a:b", None, "INVALID_ARGUMENT"),
        ("stripchat:../x", None, "INVALID_ARGUMENT"),
        ("a-b", None, "INVALID_ARGUMENT"),  # the default site's names have no '-'
        ("a b", None, "INVALID_ARGUMENT"),
        ("", None, "INVALID_ARGUMENT"),
    ],
)
def test_malformed_keys_are_refused_with_a_reason(key: str, site: str | None, reason: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        parse_key(key, site)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("site", "username", "given", "key"),
    [
        ("chaturbate", "alice", "", "alice"),
        ("", "alice", "", "alice"),
        ("stripchat", "alice", "", "stripchat:alice"),
        ("stripchat", "alice", "given:key", "given:key"),  # the recorder's own key wins
    ],
)
def test_channel_key(site: str, username: str, given: str, key: str) -> None:
    assert channel_key(site, username, given) == key


def test_a_picture_route_takes_a_key_or_a_folder() -> None:
    assert channel_or_folder("stripchat-alice", None, check_person) == ChannelRef(
        "", "stripchat-alice"
    )
    assert channel_or_folder("stripchat:alice", None, check_person) == ChannelRef(
        "stripchat", "alice"
    )
    assert channel_or_folder("alice", "cam4", check_person) == ChannelRef("cam4", "alice")


# ---- the routes -------------------------------------------------------------------------------


async def test_the_same_name_on_two_sites_is_two_channels(
    client: httpx.AsyncClient, fakes: Fakes
) -> None:
    one = await client.post("/api/models", json={"username": "alice"})
    two = await client.post("/api/models", json={"username": "alice", "site": "stripchat"})
    assert one.status_code == two.status_code == 201, (one.text, two.text)
    assert (one.json()["site"], one.json()["key"]) == ("chaturbate", "alice")
    assert (two.json()["site"], two.json()["key"]) == ("stripchat", "stripchat:alice")
    assert two.json()["thumbnailUrl"] == "/api/models/stripchat:alice/thumbnail"
    sent = [c.request.channel for c in fakes.channels.seen.calls]
    assert [(c.source, c.username) for c in sent] == [("", "alice"), ("stripchat", "alice")]
    # The prefix spelling is the same channel as the site field.
    again = await client.post("/api/models", json={"username": "stripchat:alice"})
    assert_error(again, 409, "CHANNEL_EXISTS")

    listed = (await client.get("/api/models")).json()
    assert sorted(c["key"] for c in listed) == ["alice", "stripchat:alice"]
    only = await client.get("/api/models?site=stripchat")
    assert [c["key"] for c in only.json()] == ["stripchat:alice"]
    assert fakes.channels.seen.calls[-1].request.source == "stripchat"

    for path in ("/api/models/stripchat:alice", "/api/models/alice?site=stripchat"):
        got = await client.get(path)
        assert got.status_code == 200, got.text
        assert got.json()["site"] == "stripchat"
        assert fakes.channels.seen.calls[-1].request.source == "stripchat"
    assert (await client.get("/api/models/alice")).json()["site"] == "chaturbate"

    changed = await client.put("/api/models/stripchat:alice", json={"name": "Strip"})
    assert changed.status_code == 200, changed.text
    assert fakes.channels.seen.calls[-1].request.channel.source == "stripchat"
    assert (await client.get("/api/models/alice")).json()["name"] == ""

    gone = await client.delete("/api/models/stripchat:alice")
    assert gone.json() == {"username": "alice", "key": "stripchat:alice", "deleted": True}
    assert [c["key"] for c in (await client.get("/api/models")).json()] == ["alice"]


@pytest.mark.parametrize(
    ("method", "path", "body", "reason"),
    [
        ("GET", "/api/models?site=Strip", None, "INVALID_SITE"),
        ("GET", "/api/models/Strip:alice", None, "INVALID_SITE"),
        ("GET", "/api/models/alice?site=s", None, "INVALID_SITE"),
        ("GET", "/api/models/stripchat:alice?site=cam4", None, "SITE_MISMATCH"),
        ("DELETE", "/api/models/x_y:alice", None, "INVALID_SITE"),
        ("PUT", "/api/models/stripchat:alice", {"site": "cam4", "name": "x"}, "SITE_MISMATCH"),
        ("PUT", "/api/models/stripchat:alice", {"username": "bob", "name": "x"}, None),
        ("POST", "/api/models", {"username": "alice", "site": "Strip Chat"}, "INVALID_SITE"),
        ("POST", "/api/models", {"username": "cam4:alice", "site": "stripchat"}, "SITE_MISMATCH"),
        ("POST", "/api/models", {"username": "stripchat:a.b"}, "INVALID_ARGUMENT"),
        ("GET", "/api/model/BAD:alice/status", None, "INVALID_SITE"),
    ],
)
async def test_a_malformed_site_is_a_400_with_a_reason_before_any_call(
    client: httpx.AsyncClient,
    fakes: Fakes,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    reason: str | None,
) -> None:
    response = await client.request(method, path, json=body)
    assert_error(response, 400, reason)
    assert fakes.calls() == []


async def test_an_unknown_site_is_the_recorders_answer(
    client: httpx.AsyncClient, fakes: Fakes
) -> None:
    response = await client.post("/api/models", json={"username": "alice", "site": "nosuchsite"})
    assert_error(response, 400, "UNKNOWN_SOURCE_TYPE")
    assert fakes.channels.seen.methods() == ["CreateChannel"]
    assert_error(await client.get("/api/models?site=nosuchsite"), 400, "UNKNOWN_SOURCE_TYPE")


async def test_an_older_recorder_without_sites_still_shows_a_site_and_a_key(
    client: httpx.AsyncClient, fakes: Fakes
) -> None:
    old = ch.Channel(username="bob")
    fakes.channels.channels[("chaturbate", "bob")] = old  # neither source nor key filled
    (shown,) = (await client.get("/api/models")).json()
    assert (shown["site"], shown["key"], shown["thumbnailUrl"]) == (
        "chaturbate",
        "bob",
        "/api/models/bob/thumbnail",
    )


async def test_the_watch_list_file_carries_the_site(
    client: httpx.AsyncClient, fakes: Fakes
) -> None:
    for body in ({"username": "ann"}, {"username": "ann", "site": "stripchat"}):
        assert (await client.post("/api/models", json=body)).status_code == 201
    document = (await client.get("/api/watchlist/export")).json()
    assert sorted((c["site"], c["username"]) for c in document["channels"]) == [
        ("chaturbate", "ann"),
        ("stripchat", "ann"),
    ]
    for key in ("ann", "stripchat:ann"):
        assert (await client.delete(f"/api/models/{key}")).status_code == 200
    # An older export (no site) and entries with one, mixed.
    document["channels"] += [
        {"username": "old_one", "retentionDays": 2},
        {"username": "cam4:ann"},
        {"username": "ann", "site": "cam4"},  # the same channel as the entry before
        {"username": "zed", "site": "Bad Site"},
    ]
    report = (await client.post("/api/watchlist/import", json=document)).json()
    results = [(e["key"], e["result"]) for e in report["entries"]]
    assert sorted(results[:2]) == [("ann", "created"), ("stripchat:ann", "created")]
    assert results[2:] == [
        ("old_one", "created"),
        ("cam4:ann", "created"),
        ("cam4:ann", "invalid"),
        (None, "invalid"),
    ]
    assert "site" in report["entries"][-1]["detail"]
    assert set(fakes.channels.channels) == {
        ("chaturbate", "ann"),
        ("stripchat", "ann"),
        ("chaturbate", "old_one"),
        ("cam4", "ann"),
    }


# ---- sessions, start, pictures and timeline with a key ----------------------------------------


class FakeElse(
    recorder_grpc.RecorderServiceServicer,
    media_grpc.MediaServiceServicer,
    system_grpc.SystemServiceServicer,
):
    """Just what these routes call: a start, a picture and a timeline, each remembered."""

    def __init__(self) -> None:
        self.seen = Recorder()

    async def StartRecording(self, request: Any, context: Any) -> Any:
        await self.seen.enter("StartRecording", request, context)
        session = session_pb2.Session(
            session_id="s1", person="stripchat-alice", target=request.target, source="stripchat"
        )
        return recorder.StartRecordingResponse(session=session)

    async def GetChannelThumbnail(self, request: Any, context: Any) -> Any:
        await self.seen.enter("GetChannelThumbnail", request, context)
        return media.GetChannelThumbnailResponse(source=media.THUMBNAIL_SOURCE_NONE)

    async def GetChannelTimeline(self, request: Any, context: Any) -> Any:
        await self.seen.enter("GetChannelTimeline", request, context)
        return system.GetChannelTimelineResponse(
            username=request.username, source=request.source, person="stripchat-alice"
        )


@pytest.fixture
async def other(output_dir: Path) -> AsyncIterator[tuple[FakeElse, httpx.AsyncClient]]:
    servicer = FakeElse()  # type: ignore[abstract]  # only the methods these routes call

    def register(server: aio.Server) -> None:
        recorder_grpc.add_RecorderServiceServicer_to_server(servicer, server)
        media_grpc.add_MediaServiceServicer_to_server(servicer, server)
        system_grpc.add_SystemServiceServicer_to_server(servicer, server)
        ch_grpc.add_ChannelServiceServicer_to_server(FakeChannels(), server)

    names = ["streamrec.v1.RecorderService", "streamrec.v1.MediaService"]
    app = build_server(register, names, host="127.0.0.1", port=0)
    await app.server.start()
    try:
        async with gateway_client(f"127.0.0.1:{app.port}", output_dir) as c:
            yield servicer, c
    finally:
        await app.server.stop(0)


async def test_start_sends_the_site_and_the_session_shows_it(
    other: tuple[FakeElse, httpx.AsyncClient],
) -> None:
    fake, client = other
    response = await client.post("/api/start", json={"target": "alice", "site": "stripchat"})
    assert response.status_code == 201, response.text
    assert response.json()["site"] == "stripchat"
    assert fake.seen.calls[-1].request.source == "stripchat"
    old_body = await client.post("/api/start", json={"target": "alice"})
    assert old_body.status_code == 201 and fake.seen.calls[-1].request.source == ""
    assert_error(
        await client.post("/api/start", json={"target": "alice", "site": "-x"}), 400, "INVALID_SITE"
    )
    assert fake.seen.methods() == ["StartRecording", "StartRecording"]


async def test_pictures_and_timelines_take_the_key(
    other: tuple[FakeElse, httpx.AsyncClient],
) -> None:
    fake, client = other
    for path in (
        "/api/models/stripchat:alice/thumbnail",
        "/api/models/alice/thumbnail?site=stripchat",
    ):
        assert_error(await client.get(path), 404, "THUMBNAIL_NOT_FOUND")
        asked = fake.seen.calls[-1].request
        assert (asked.source, asked.username) == ("stripchat", "alice")
    # A recording folder is still a folder (no site).
    await client.get("/api/models/stripchat-alice/thumbnail")
    asked = fake.seen.calls[-1].request
    assert (asked.source, asked.username) == ("", "stripchat-alice")

    timeline = await client.get("/api/models/stripchat:alice/timeline")
    assert timeline.status_code == 200, timeline.text
    assert (timeline.json()["site"], timeline.json()["person"]) == ("stripchat", "stripchat-alice")
    asked = fake.seen.calls[-1].request
    assert (asked.source, asked.username) == ("stripchat", "alice")
    assert_error(await client.get("/api/models/X:alice/timeline"), 400, "INVALID_SITE")
