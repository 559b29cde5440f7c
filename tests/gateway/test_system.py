"""``GET /api/disk``: the recorder's disk usage (GetStorage), through real gRPC."""

from __future__ import annotations

import httpx

from servicekit.errors import Unavailable
from streamrec.v1 import recording_service_pb2 as rec
from tests.gateway.fake_recorder import UNAVAILABLE, Fakes, assert_error

GIB = 2**30


async def test_disk_usage_in_camel_case_with_the_recorders_level(
    client: httpx.AsyncClient, fakes: Fakes
) -> None:
    fakes.recordings.storage = rec.GetStorageResponse(
        total_bytes=500 * GIB,
        used_bytes=480 * GIB,
        free_bytes=15 * GIB,
        recordings_bytes=400 * GIB,
        min_free_bytes=10 * GIB,
        level=rec.STORAGE_LEVEL_LOW,
    )
    response = await client.get("/api/disk")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "totalBytes": 500 * GIB,
        "usedBytes": 480 * GIB,
        "freeBytes": 15 * GIB,
        "recordingsBytes": 400 * GIB,
        "minFreeBytes": 10 * GIB,
        "level": "LOW",
    }
    assert fakes.recordings.seen.methods() == ["GetStorage"]
    assert fakes.recordings.seen.calls[0].correlation_id == response.headers["x-request-id"]


async def test_every_level_by_name_and_none_as_unspecified(
    client: httpx.AsyncClient, fakes: Fakes
) -> None:
    for level, name in (
        (rec.STORAGE_LEVEL_OK, "OK"),
        (rec.STORAGE_LEVEL_CRITICAL, "CRITICAL"),
        (rec.STORAGE_LEVEL_UNSPECIFIED, "UNSPECIFIED"),  # a recorder that did not say
        (99, "99"),  # a newer recorder's level
    ):
        fakes.recordings.storage = rec.GetStorageResponse(level=level)  # type: ignore[arg-type]
        assert (await client.get("/api/disk")).json()["level"] == name


async def test_disk_is_retried_when_the_recorder_is_unreachable(
    client: httpx.AsyncClient, fakes: Fakes
) -> None:
    fakes.recordings.seen.fail_next("GetStorage", UNAVAILABLE)
    response = await client.get("/api/disk")
    assert response.status_code == 200, response.text
    assert fakes.recordings.seen.methods() == ["GetStorage", "GetStorage"]


async def test_disk_when_the_recorder_is_down_is_a_503(down_client: httpx.AsyncClient) -> None:
    assert_error(await down_client.get("/api/disk"), 503, "RECORDER_UNAVAILABLE")


async def test_a_disk_the_recorder_cannot_measure_is_a_503_with_its_reason_not_retried(
    client: httpx.AsyncClient, fakes: Fakes
) -> None:
    fakes.recordings.seen.fail_next(
        "GetStorage", Unavailable("cannot be measured", reason="STORAGE_UNAVAILABLE")
    )
    assert_error(await client.get("/api/disk"), 503, "STORAGE_UNAVAILABLE")
    assert fakes.recordings.seen.methods() == ["GetStorage"]
