"""``/api/models``: the watch list over ChannelService, through real gRPC."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.backend import all_pages
from servicekit.errors import DomainError
from streamrec.v1 import channel_service_pb2 as ch
from streamrec.v1 import quality_pb2, resolver_service_pb2
from tests.gateway.fake_recorder import UNAVAILABLE, Fakes, assert_error, ts

CHANNEL_KEYS = {
    "username",
    "site",
    "key",
    "name",
    "target",
    "sourceType",
    "autoRecord",
    "retentionDays",
    "maxBytes",
    "maxCount",
    "quality",
    "createdAt",
    "updatedAt",
    "recording",
    "sessionId",
    "lastAvailability",
    "lastCheckAt",
    "lastError",
    "lastTitle",
    "lastViewers",
    "lastRoomStatus",
    "lastMessage",
    "thumbnailUrl",
}


def full_channel(username: str = "alice") -> ch.Channel:
    return ch.Channel(
        username=username,
        name="Alice",
        target="https://cdn.example/alice/playlist.m3u8",
        source_type=resolver_service_pb2.SOURCE_TYPE_HLS,
        auto_record=True,
        retention_days=30,
        max_bytes=5 * 2**30,
        max_count=12,
        quality=quality_pb2.QualityPreference(
            height=720, policy=quality_pb2.QUALITY_POLICY_HIGHEST_BELOW, fps=30, fallback=False
        ),
        create_time=ts("2025-06-01T12:00:00.123456Z"),
        update_time=ts("2025-06-02T08:30:00Z"),
        session_id="sess-1",
        last_availability=resolver_service_pb2.CHANNEL_AVAILABILITY_ONLINE,
        last_check_time=ts("2025-06-02T09:00:00.5Z"),
        last_error="resolver timed out",
        last_title="Sunday stream <3",
        last_viewers=42,
        last_room_status="public",
        last_message="",
    )


async def test_get_one_channel_shows_every_field_in_camel_case(
    client: httpx.AsyncClient, fakes: Fakes
) -> None:
    fakes.channels.add(full_channel())
    response = await client.get("/api/models/alice")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "username": "alice",
        "site": "chaturbate",
        "key": "alice",
        "name": "Alice",
        "target": "https://cdn.example/alice/playlist.m3u8",
        "sourceType": "m3u8",
        "autoRecord": True,
        "retentionDays": 30,
        "maxBytes": 5 * 2**30,
        "maxCount": 12,
        "quality": {"height": 720, "policy": "highest_below", "fps": 30.0, "fallback": False},
        "createdAt": "2025-06-01T12:00:00.123Z",
        "updatedAt": "2025-06-02T08:30:00.000Z",
        "recording": True,
        "sessionId": "sess-1",
        "lastAvailability": "ONLINE",
        "lastCheckAt": "2025-06-02T09:00:00.500Z",
        "lastError": "resolver timed out",
        "lastTitle": "Sunday stream <3",
        "lastViewers": 42,
        "lastRoomStatus": "public",
        "lastMessage": "",
        "thumbnailUrl": "/api/models/alice/thumbnail",
    }
    assert fakes.channels.seen.methods() == ["GetChannel"]
    assert fakes.channels.seen.calls[0].request.username == "alice"


async def test_unset_fields_are_null(client: httpx.AsyncClient, fakes: Fakes) -> None:
    fakes.channels.add(ch.Channel(username="bob", quality=quality_pb2.QualityPreference()))
    body = (await client.get("/api/models/BOB")).json()
    assert set(body) == CHANNEL_KEYS
    assert body["quality"] == {"height": 0, "policy": "best", "fps": 0.0, "fallback": True}
    assert body["sourceType"] == "auto" and body["recording"] is False
    for key in (
        "sessionId",
        "lastAvailability",
        "lastCheckAt",
        "lastError",
        "createdAt",
        "lastViewers",
    ):
        assert body[key] is None, key
    # like the status route's title and message: text, empty when the site gave none
    assert (body["lastTitle"], body["lastRoomStatus"], body["lastMessage"]) == ("", "", "")
    fakes.channels.add(ch.Channel(username="carol"))
    assert (await client.get("/api/models/carol")).json()["quality"] is None


async def test_zero_viewers_is_zero_not_unknown(client: httpx.AsyncClient, fakes: Fakes) -> None:
    fakes.channels.add(ch.Channel(username="bob", last_viewers=0, last_room_status="private"))
    body = (await client.get("/api/models")).json()[0]
    assert (body["lastViewers"], body["lastRoomStatus"]) == (0, "private")


async def test_list_walks_every_page(client: httpx.AsyncClient, fakes: Fakes) -> None:
    for name in ("eve", "alice", "dave", "bob", "carol"):
        fakes.channels.add(ch.Channel(username=name))
    response = await client.get("/api/models")
    assert response.status_code == 200
    assert [c["username"] for c in response.json()] == ["alice", "bob", "carol", "dave", "eve"]
    requests = [c.request for c in fakes.channels.seen.calls]
    assert [(r.page_size, r.page_token) for r in requests] == [(1000, ""), (1000, "2"), (1000, "4")]


async def test_empty_list(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/models")
    assert response.status_code == 200 and response.json() == []


async def test_create_maps_every_field(client: httpx.AsyncClient, fakes: Fakes) -> None:
    body = {
        "username": "Alice",
        "name": "Alice A.",
        "target": "https://cdn.example/a.m3u8",
        "sourceType": "m3u8",
        "autoRecord": False,
        "retentionDays": 7,
        "maxBytes": 1000,
        "maxCount": 3,
        "quality": {"height": 480, "policy": "closest", "fps": 25, "fallback": False},
    }
    response = await client.post("/api/models", json=body)
    assert response.status_code == 201, response.text
    sent = fakes.channels.seen.calls[0].request.channel
    # A bare name is on the default site, whose names are case-insensitive: sent lower-cased.
    assert sent.username == "alice" and sent.name == "Alice A."
    assert sent.target == "https://cdn.example/a.m3u8"
    assert sent.source_type == resolver_service_pb2.SOURCE_TYPE_HLS
    assert not sent.auto_record
    assert (sent.retention_days, sent.max_bytes, sent.max_count) == (7, 1000, 3)
    assert sent.quality == quality_pb2.QualityPreference(
        height=480, policy=quality_pb2.QUALITY_POLICY_CLOSEST, fps=25, fallback=False
    )
    created = response.json()
    assert set(created) == CHANNEL_KEYS
    assert created["username"] == "alice" and created["autoRecord"] is False
    assert created["createdAt"] == "2025-06-01T12:00:00.123Z"
    assert created["quality"]["policy"] == "closest"


async def test_create_defaults(client: httpx.AsyncClient, fakes: Fakes) -> None:
    response = await client.post("/api/models", json={"username": "bob"})
    assert response.status_code == 201, response.text
    sent = fakes.channels.seen.calls[0].request.channel
    assert sent == ch.Channel(username="bob", auto_record=True)
    assert not sent.HasField("quality")


async def test_create_twice_is_a_409(client: httpx.AsyncClient, fakes: Fakes) -> None:
    fakes.channels.add(ch.Channel(username="alice"))
    assert_error(
        await client.post("/api/models", json={"username": "alice"}), 409, "CHANNEL_EXISTS"
    )


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "../x"},
        {"username": "a b"},
        {"username": "x" * 65},
        {"username": ""},
        {"username": "alice", "extra": 1},
        {"username": "alice", "auto_record": False},  # snake_case is not the API's name
        {"username": "alice", "retentionDays": -1},
        {"username": "alice", "retentionDays": 36_501},
        {"username": "alice", "maxBytes": -1},
        {"username": "alice", "maxCount": 1_000_001},
        {"username": "alice", "sourceType": "rtmp"},
        {"username": "alice", "name": "n" * 201},
        {"username": "alice", "target": "https://x/" + "a" * 2048},
        {"username": "alice", "quality": {"policy": "worst"}},
        {"username": "alice", "quality": {"height": 720, "bogus": 1}},
        {"username": "alice", "autoRecord": None},
    ],
)
async def test_create_rejects_bad_bodies_without_calling(
    client: httpx.AsyncClient, fakes: Fakes, body: dict[str, Any]
) -> None:
    assert_error(await client.post("/api/models", json=body), 400, "INVALID_ARGUMENT")
    assert fakes.calls() == []


@pytest.mark.parametrize(
    ("body", "mask"),
    [
        ({"name": "New"}, ["name"]),
        ({"autoRecord": False, "retentionDays": 9}, ["auto_record", "retention_days"]),
        ({"username": "alice", "maxCount": 4}, ["max_count"]),
        ({"quality": {"height": 1080}}, ["quality"]),
        ({"quality": None}, ["quality"]),
        ({"target": None, "sourceType": None}, ["target", "source_type"]),
        (
            {
                "name": "n",
                "target": "https://cdn.example/x.m3u8",
                "sourceType": "hls",
                "autoRecord": True,
                "retentionDays": 1,
                "maxBytes": 2,
                "maxCount": 3,
                "quality": {"policy": "exact", "height": 360},
            },
            [
                "name",
                "target",
                "source_type",
                "auto_record",
                "retention_days",
                "max_bytes",
                "max_count",
                "quality",
            ],
        ),
    ],
)
async def test_update_mask_is_exactly_the_fields_sent(
    client: httpx.AsyncClient, fakes: Fakes, body: dict[str, Any], mask: list[str]
) -> None:
    fakes.channels.add(full_channel())
    response = await client.put("/api/models/Alice", json=body)
    assert response.status_code == 200, response.text
    assert set(response.json()) == CHANNEL_KEYS
    (call,) = fakes.channels.seen.calls
    assert call.method == "UpdateChannel"
    assert list(call.request.update_mask.paths) == mask
    assert call.request.channel.username == "alice"


async def test_update_values_reach_the_channel(client: httpx.AsyncClient, fakes: Fakes) -> None:
    fakes.channels.add(full_channel())
    body = {"name": "Renamed", "autoRecord": False, "quality": None, "sourceType": None}
    updated = (await client.put("/api/models/alice", json=body)).json()
    assert updated["name"] == "Renamed" and updated["autoRecord"] is False
    assert updated["quality"] is None and updated["sourceType"] == "auto"
    # Fields not sent kept their values.
    assert updated["retentionDays"] == 30 and updated["maxCount"] == 12
    assert updated["target"] == "https://cdn.example/alice/playlist.m3u8"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "NOTHING_TO_CHANGE"),
        ({"username": "alice"}, "NOTHING_TO_CHANGE"),
        ({"username": "bob", "name": "x"}, "USERNAME_MISMATCH"),
        ({"autoRecord": None}, "INVALID_ARGUMENT"),
        ({"retentionDays": 99_999}, "INVALID_ARGUMENT"),
        ({"name": "x", "unknown": True}, "INVALID_ARGUMENT"),
        ({"username": "../x", "name": "x"}, "INVALID_ARGUMENT"),
    ],
)
async def test_bad_updates_are_400_without_calling(
    client: httpx.AsyncClient, fakes: Fakes, body: dict[str, Any], code: str
) -> None:
    assert_error(await client.put("/api/models/alice", json=body), 400, code)
    assert fakes.calls() == []


async def test_update_without_a_body_is_a_400(client: httpx.AsyncClient, fakes: Fakes) -> None:
    assert_error(await client.put("/api/models/alice"), 400, "INVALID_ARGUMENT")
    assert fakes.calls() == []


async def test_update_unknown_is_a_404(client: httpx.AsyncClient) -> None:
    response = await client.put("/api/models/ghost", json={"name": "x"})
    assert_error(response, 404, "CHANNEL_NOT_FOUND")


async def test_delete(client: httpx.AsyncClient, fakes: Fakes) -> None:
    fakes.channels.add(ch.Channel(username="alice"))
    response = await client.delete("/api/models/Alice")
    assert response.status_code == 200
    assert response.json() == {"username": "alice", "key": "alice", "deleted": True}
    assert fakes.channels.channels == {}
    assert_error(await client.delete("/api/models/alice"), 404, "CHANNEL_NOT_FOUND")


async def test_get_unknown_is_a_404_with_the_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/models/ghost", headers={"X-Request-ID": "req-42"})
    assert_error(response, 404, "CHANNEL_NOT_FOUND")
    assert response.json()["correlation_id"] == "req-42"


async def test_the_request_id_reaches_the_recorder(client: httpx.AsyncClient, fakes: Fakes) -> None:
    await client.get("/api/models", headers={"X-Request-ID": "trace-7"})
    assert fakes.channels.seen.calls[0].correlation_id == "trace-7"


BAD_USERNAMES = ["a%20b", "x" * 65, "%2e%2e", "a.b", "a-b", "%00"]


@pytest.mark.parametrize("username", BAD_USERNAMES)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_bad_username_in_the_path_is_a_400_without_calling(
    client: httpx.AsyncClient, fakes: Fakes, username: str, method: str
) -> None:
    body = {"name": "x"} if method == "PUT" else None
    response = await client.request(method, f"/api/models/{username}", json=body)
    assert_error(response, 400, "INVALID_ARGUMENT")
    assert fakes.calls() == []


@pytest.mark.parametrize("path", ["/api/models/..%2Fx", "/api/models/..%2F..%2Fetc%2Fpasswd"])
async def test_a_slash_in_the_username_matches_no_route(
    client: httpx.AsyncClient, fakes: Fakes, path: str
) -> None:
    assert_error(await client.get(path), 404, "NOT_FOUND")
    assert fakes.calls() == []


async def test_bad_username_is_a_400_even_when_the_recorder_is_down(
    down_client: httpx.AsyncClient,
) -> None:
    assert_error(await down_client.get("/api/models/a%20b"), 400, "INVALID_ARGUMENT")
    assert_error(await down_client.post("/api/models", json={"username": "../x"}), 400)


async def test_reads_are_retried_when_the_recorder_is_unreachable(
    client: httpx.AsyncClient, fakes: Fakes
) -> None:
    fakes.channels.add(ch.Channel(username="alice"))
    fakes.channels.seen.fail_next("GetChannel", UNAVAILABLE)
    response = await client.get("/api/models/alice")
    assert response.status_code == 200
    assert fakes.channels.seen.methods() == ["GetChannel", "GetChannel"]


@pytest.mark.parametrize(
    ("method", "path", "body", "rpc"),
    [
        ("POST", "/api/models", {"username": "bob"}, "CreateChannel"),
        ("PUT", "/api/models/alice", {"name": "x"}, "UpdateChannel"),
        ("DELETE", "/api/models/alice", None, "DeleteChannel"),
    ],
)
async def test_writes_are_not_retried(
    client: httpx.AsyncClient,
    fakes: Fakes,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    rpc: str,
) -> None:
    fakes.channels.add(ch.Channel(username="alice"))
    fakes.channels.seen.fail_next(rpc, UNAVAILABLE)
    response = await client.request(method, path, json=body)
    assert_error(response, 503, "RECORDER_UNAVAILABLE")
    assert fakes.channels.seen.methods() == [rpc]


async def test_paging_that_never_ends_is_an_error_not_a_hang() -> None:
    async def same_token_forever(token: str) -> tuple[list[int], str]:
        return [1], "again"

    with pytest.raises(DomainError) as info:
        await all_pages(same_token_forever)
    assert info.value.reason == "PAGING_LOOP"
