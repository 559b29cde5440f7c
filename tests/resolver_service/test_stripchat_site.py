"""Stripchat's answers parsed and mapped: table tests of the pure functions (no I/O)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from resolver_service.sources._stripchat_batch import chunks
from resolver_service.sources._stripchat_cdn import tld_order
from resolver_service.sources._stripchat_site import (
    Answer,
    CamInfo,
    Renamed,
    availability_for,
    bulk_models,
    check_template,
    http_answer,
    master_url,
    model_id,
    not_recordable,
    parse_cam,
    parse_page,
)
from resolver_service.status import Availability, ChannelStatus, now_utc
from servicekit.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
    UpstreamError,
)

A = Availability


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"status": "public"}, A.ONLINE),
        ({"status": "public", "cam_active": True, "cam_available": True}, A.ONLINE),
        ({"status": "public", "cam_active": False}, A.AWAY),
        ({"status": "public", "cam_available": False}, A.AWAY),
        ({"status": "private"}, A.PRIVATE),
        ({"status": "p2p"}, A.PRIVATE),
        ({"status": "virtualPrivate"}, A.PRIVATE),
        ({"status": "p2pVoice"}, A.PRIVATE),
        ({"status": "groupShow"}, A.GROUP_SHOW),
        ({"status": "off"}, A.OFFLINE),
        ({"status": "idle"}, A.OFFLINE),
        ({"status": "public", "deleted": True}, A.NOT_FOUND),
        ({"status": "off", "deleted": True}, A.NOT_FOUND),
        ({"status": "public", "geo_banned": True}, A.GEO_RESTRICTED),
        ({"status": "off", "geo_banned": True}, A.GEO_RESTRICTED),
        ({"status": "somethingNew"}, A.UPSTREAM_ERROR),
    ],
)
def test_every_model_state_maps_onto_one_availability(
    fields: dict[str, Any], expected: Availability
) -> None:
    assert availability_for(CamInfo(id=1, username="a", **fields))[0] is expected


@pytest.mark.parametrize(
    ("status", "expected", "reason"),
    [
        (418, A.BLOCKED, "BLOCKED_HTTP_418"),
        (403, A.BLOCKED, "BLOCKED_HTTP_403"),
        (429, A.RATE_LIMITED, "RATE_LIMITED"),
        (500, A.UPSTREAM_ERROR, "UPSTREAM_5XX"),
        (503, A.UPSTREAM_ERROR, "UPSTREAM_5XX"),
        (400, A.UPSTREAM_ERROR, "UPSTREAM_HTTP_400"),
    ],
)
def test_http_failures_are_never_offline(status: int, expected: Availability, reason: str) -> None:
    answer = http_answer(status, 7.0, "cam")
    assert answer is not None and answer.availability is expected and answer.reason == reason
    assert answer.retry_after == (7.0 if status == 429 else None)


def test_ok_and_404_are_read_from_the_body() -> None:
    assert http_answer(200, None, "cam") is None and http_answer(404, None, "cam") is None


CAM_OK = {
    "user": {
        "user": {
            "id": 77,
            "username": "Alice",
            "status": "public",
            "isDeleted": False,
            "viewersCount": 12,
            "previewUrlThumbBig": "https://img.example/thumbs/1/77",
            "snapshotTimestamp": 1,
        },
        "isGeoBanned": False,
    },
    "cam": {"streamName": "77", "isCamActive": True, "isCamAvailable": True, "topic": "hi"},
}


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, {"error": "Not Found"}, Answer(A.NOT_FOUND, "no such model")),
        (404, {"error": "Model not found", "data": {"newUsername": "Bob_2"}}, Renamed("Bob_2")),
        # A new name that is not a username is not followed.
        (404, {"error": "Model not found", "data": {"newUsername": "../x"}}, A.NOT_FOUND),
        (404, {"error": "Model not found"}, A.NOT_FOUND),
        (200, {"error": "Internal"}, A.UPSTREAM_ERROR),
        (200, ["not", "an", "object"], A.UPSTREAM_ERROR),
        (200, {"user": {"user": {"id": "x", "status": "public"}}}, A.UPSTREAM_ERROR),
        (200, {"user": {"user": {"id": 5}}}, A.UPSTREAM_ERROR),
    ],
)
def test_cam_answers_without_a_model(status: int, body: Any, expected: Any) -> None:
    parsed = parse_cam(status, body)
    if isinstance(expected, Availability):
        assert isinstance(parsed, Answer) and parsed.availability is expected
    else:
        assert parsed == expected


def test_a_cam_answer_gives_the_model() -> None:
    info = parse_cam(200, CAM_OK)
    assert info == CamInfo(
        id=77,
        username="Alice",
        status="public",
        cam_active=True,
        cam_available=True,
        viewers=12,
        topic="hi",
        thumbnail_url="https://img.example/thumbs/1/77",
    )


def test_the_thumbnail_falls_back_to_the_snapshot_and_refuses_other_schemes() -> None:
    body = json.loads(json.dumps(CAM_OK))
    body["user"]["user"]["previewUrlThumbBig"] = "javascript:alert(1)"
    info = parse_cam(200, body, "https://img.doppiocdn.net")
    assert isinstance(info, CamInfo)
    assert info.thumbnail_url == "https://img.doppiocdn.net/thumbs/1/77"
    body["cam"]["streamName"] = "../../etc"
    info = parse_cam(200, body, "https://img.doppiocdn.net")
    assert isinstance(info, CamInfo) and info.thumbnail_url == ""


def test_bulk_models_keep_only_well_formed_entries() -> None:
    body = {
        "models": [
            {"id": 1, "status": "public", "username": "a"},
            {"id": True, "status": "public"},
            {"id": -4, "status": "off"},
            {"id": 2, "status": "off", "username": "<script>"},
            "junk",
        ]
    }
    found = bulk_models(body)
    assert found is not None and sorted(found) == [1, 2]
    assert found[2].username == ""  # an unusable name is dropped, the status kept
    assert bulk_models({"models": {}}) is None and bulk_models([]) is None


def test_the_page_state_is_read_to_its_balanced_end() -> None:
    state = {"viewCam": {"model": {"id": 9, "username": "zoe", "status": "groupShow"},
                         "cam": {"topic": "} tricky { \"quoted\" </script>"}}}  # fmt: skip
    html = f"<script>window.__PRELOADED_STATE__ = {json.dumps(state)};var x = {{}};</script>"
    info = parse_page(html)
    assert info is not None and (info.id, info.status, info.username) == (9, "groupShow", "zoe")
    assert parse_page("<html>no state</html>") is None
    assert parse_page("window.__PRELOADED_STATE__ = {broken") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [(5, 5), ("42", 42), (0, None), (-1, None), (True, None), ("4a", None), (2**60, None),
     (1.5, None), (None, None), ("٣", None)],
)  # fmt: skip
def test_model_ids_are_positive_integers(value: Any, expected: int | None) -> None:
    assert model_id(value) == expected


def test_master_urls_come_from_the_template() -> None:
    template = "https://edge-hls.doppiocdn.{tld}/hls/{id}/master/{id}_auto.m3u8"
    assert master_url(template, "net", 12) == (
        "https://edge-hls.doppiocdn.net/hls/12/master/12_auto.m3u8"
    )
    with pytest.raises(InvalidArgument):
        check_template("https://edge-hls.doppiocdn.{tld}/hls/master.m3u8")
    with pytest.raises(InvalidArgument):
        check_template("file:///{id}")


@pytest.mark.parametrize(
    ("preferred", "expected"),
    [(None, ["com", "net", "org"]), ("net", ["net", "org", "com"]),
     ("org", ["org", "com", "net"]), ("xyz", ["com", "net", "org"])],
)  # fmt: skip
def test_tlds_are_tried_from_the_last_that_worked(
    preferred: str | None, expected: list[str]
) -> None:
    assert tld_order(("com", "net", "org"), preferred) == expected


def test_chunks_of_a_hundred() -> None:
    assert [len(c) for c in chunks(list(range(250)), 100)] == [100, 100, 50]
    assert chunks([], 100) == []


@pytest.mark.parametrize(
    ("availability", "kind", "reason"),
    [
        (A.OFFLINE, FailedPrecondition, "CHANNEL_OFFLINE"),
        (A.AWAY, FailedPrecondition, "CHANNEL_AWAY"),
        (A.PRIVATE, FailedPrecondition, "CHANNEL_PRIVATE"),
        (A.GROUP_SHOW, FailedPrecondition, "CHANNEL_GROUP_SHOW"),
        (A.GEO_RESTRICTED, FailedPrecondition, "CHANNEL_GEO_RESTRICTED"),
        (A.NOT_FOUND, NotFound, "CHANNEL_NOT_FOUND"),
        (A.RATE_LIMITED, Unavailable, "RATE_LIMITED"),
        (A.BLOCKED, UpstreamError, "BLOCKED_BY_SITE"),
        (A.UPSTREAM_ERROR, UpstreamError, "UPSTREAM_5XX"),
    ],
)
def test_a_status_that_is_not_online_is_an_error_with_its_reason(
    availability: Availability, kind: type[DomainError], reason: str
) -> None:
    status = ChannelStatus("amy", "stripchat", availability, now_utc(), reason="UPSTREAM_5XX",
                           message="m")  # fmt: skip
    error = not_recordable(status)
    assert type(error) is kind and error.reason == reason
    assert error.metadata["availability"] == availability.value and "(m)" in error.message
