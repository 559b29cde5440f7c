"""Pictures over MediaService, through real gRPC to a fake servicer: a channel's thumbnail,
a recording's poster, sheet and sheet index; caching headers, 304s, 404s with the error body."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from grpc import aio

from servicekit.errors import NotFound
from servicekit.grpc_server import build_server
from simlab.fakes.chaturbate_pages import THUMBNAIL
from streamrec.v1 import media_service_pb2 as media
from streamrec.v1 import media_service_pb2_grpc as media_grpc
from tests.gateway.conftest import gateway_client
from tests.gateway.fake_recorder import UNAVAILABLE, Recorder, assert_error, ts

PNG = b"\x89PNG\r\n\x1a\n" + bytes(30)
FILE = "alice_20250601_120000_0123456789ab.mp4"


class FakeMedia(media_grpc.MediaServiceServicer):
    def __init__(self) -> None:
        self.seen = Recorder()
        self.thumbnails: dict[str, media.GetChannelThumbnailResponse] = {}
        self.pictures: dict[tuple[str, str, int], media.GetRecordingImageResponse] = {}

    async def GetChannelThumbnail(self, request: Any, context: Any) -> Any:
        await self.seen.enter("GetChannelThumbnail", request, context)
        if request.username == "nobody":
            raise NotFound("not watched", reason="CHANNEL_NOT_FOUND")
        return self.thumbnails.get(
            request.username, media.GetChannelThumbnailResponse(source=media.THUMBNAIL_SOURCE_NONE)
        )

    async def GetRecordingImage(self, request: Any, context: Any) -> Any:
        await self.seen.enter("GetRecordingImage", request, context)
        found = self.pictures.get((request.person, request.file_name, request.kind))
        if found is None:
            raise NotFound("no such picture", reason="RECORDING_IMAGE_NOT_FOUND")
        return found


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeMedia, int]]:
    servicer = FakeMedia()

    def register(server: aio.Server) -> None:
        media_grpc.add_MediaServiceServicer_to_server(servicer, server)

    app = build_server(register, ["streamrec.v1.MediaService"], host="127.0.0.1", port=0)
    await app.server.start()
    try:
        yield servicer, app.port
    finally:
        await app.server.stop(0)


@pytest.fixture
async def client(fake: tuple[FakeMedia, int], output_dir: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_client(f"127.0.0.1:{fake[1]}", output_dir) as c:
        yield c


def thumbnail(
    data: bytes, source: media.ThumbnailSource.ValueType, content_type: str
) -> media.GetChannelThumbnailResponse:
    return media.GetChannelThumbnailResponse(
        image=data,
        content_type=content_type,
        taken_time=ts("2025-06-01T12:00:00.500Z"),
        source=source,
    )


async def test_a_live_thumbnail_is_a_jpeg_cached_briefly(
    client: httpx.AsyncClient, fake: tuple[FakeMedia, int]
) -> None:
    servicer, _ = fake
    servicer.thumbnails["alice"] = thumbnail(THUMBNAIL, media.THUMBNAIL_SOURCE_LIVE, "image/jpeg")
    response = await client.get("/api/models/Alice/thumbnail", params={"t": "29412"})
    assert response.status_code == 200, response.text
    assert response.content == THUMBNAIL
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "private, max-age=30"
    assert response.headers["x-thumbnail-source"] == "live"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["last-modified"] == "Sun, 01 Jun 2025 12:00:00 GMT"
    assert servicer.seen.calls[0].request.username == "alice"
    assert servicer.seen.calls[0].correlation_id == response.headers["x-request-id"]


async def test_a_room_image_keeps_its_own_type(
    client: httpx.AsyncClient, fake: tuple[FakeMedia, int]
) -> None:
    fake[0].thumbnails["bob"] = thumbnail(PNG, media.THUMBNAIL_SOURCE_ROOM, "image/png")
    response = await client.get("/api/models/bob/thumbnail")
    assert (response.status_code, response.headers["content-type"]) == (200, "image/png")
    assert response.headers["cache-control"] == "private, max-age=60"
    assert response.headers["x-thumbnail-source"] == "room"


async def test_no_picture_is_a_404_with_the_error_body(
    client: httpx.AsyncClient, fake: tuple[FakeMedia, int]
) -> None:
    assert_error(await client.get("/api/models/carol/thumbnail"), 404, "THUMBNAIL_NOT_FOUND")
    assert_error(await client.get("/api/models/nobody/thumbnail"), 404, "CHANNEL_NOT_FOUND")


async def test_bad_names_are_refused_before_any_call(
    client: httpx.AsyncClient, fake: tuple[FakeMedia, int]
) -> None:
    assert_error(await client.get("/api/models/a.b/thumbnail"), 400, "INVALID_PERSON")
    assert_error(await client.get("/api/recordings/alice/x.mkv/poster"), 400, "INVALID_FILE_NAME")
    assert_error(await client.get("/api/recordings/al%20ice/x.ts/sheet"), 400, "INVALID_PERSON")
    assert fake[0].seen.calls == []


async def test_bytes_that_are_not_their_type_are_never_served(
    client: httpx.AsyncClient, fake: tuple[FakeMedia, int]
) -> None:
    fake[0].thumbnails["eve"] = thumbnail(
        b"<script>alert(1)</script>", media.THUMBNAIL_SOURCE_ROOM, "image/jpeg"
    )
    response = await client.get("/api/models/eve/thumbnail")
    assert_error(response, 500, "BAD_PICTURE")
    assert b"<script>" not in response.content


@pytest.mark.parametrize(
    ("route", "kind", "data", "content_type"),
    [
        ("poster", media.RECORDING_IMAGE_KIND_POSTER, THUMBNAIL, "image/jpeg"),
        ("sheet", media.RECORDING_IMAGE_KIND_SHEET, THUMBNAIL, "image/jpeg"),
        ("sheet.json", media.RECORDING_IMAGE_KIND_SHEET_INDEX, b"{}", "application/json"),
    ],
)
async def test_recording_pictures_are_cached_long_and_revalidated_by_etag(
    client: httpx.AsyncClient,
    fake: tuple[FakeMedia, int],
    route: str,
    kind: media.RecordingImageKind.ValueType,
    data: bytes,
    content_type: str,
) -> None:
    servicer, _ = fake
    servicer.pictures[("alice", FILE, kind)] = media.GetRecordingImageResponse(
        image=data, content_type=content_type, taken_time=ts("2025-06-01T13:00:00Z")
    )
    url = f"/api/recordings/alice/{FILE}/{route}"
    response = await client.get(url)
    assert response.status_code == 200, response.text
    assert (response.content, response.headers["content-type"]) == (data, content_type)
    assert response.headers["cache-control"] == "private, max-age=86400"
    etag = response.headers["etag"]
    assert etag.startswith('"') and len(etag) == 34
    again = await client.get(url, headers={"If-None-Match": f'"other", {etag}'})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    changed = await client.get(url, headers={"If-None-Match": '"other"'})
    assert changed.status_code == 200
    request = servicer.seen.calls[0].request
    assert (request.person, request.file_name, request.kind) == ("alice", FILE, kind)


async def test_a_recording_without_that_picture_is_a_404(
    client: httpx.AsyncClient, fake: tuple[FakeMedia, int]
) -> None:
    response = await client.get(f"/api/recordings/alice/{FILE}/sheet")
    assert_error(response, 404, "RECORDING_IMAGE_NOT_FOUND")


async def test_a_read_is_retried_when_the_recorder_was_unreachable(
    client: httpx.AsyncClient, fake: tuple[FakeMedia, int]
) -> None:
    servicer, _ = fake
    servicer.thumbnails["alice"] = thumbnail(THUMBNAIL, media.THUMBNAIL_SOURCE_LIVE, "image/jpeg")
    servicer.seen.fail_next("GetChannelThumbnail", UNAVAILABLE)
    response = await client.get("/api/models/alice/thumbnail")
    assert response.status_code == 200
    assert servicer.seen.methods() == ["GetChannelThumbnail", "GetChannelThumbnail"]


async def test_the_routes_are_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/api/models/{username}/thumbnail" in paths
    for kind in ("poster", "sheet", "sheet.json"):
        assert f"/api/recordings/{{username}}/{{filename}}/{kind}" in paths


async def test_pictures_are_access_logged_at_debug(
    client: httpx.AsyncClient, fake: tuple[FakeMedia, int], caplog: pytest.LogCaptureFixture
) -> None:
    # A dashboard asks for every card's picture about once a minute: not an INFO line each.
    caplog.set_level(logging.DEBUG, logger="gateway")
    await client.get("/api/models/carol/thumbnail")  # 404: no picture yet
    await client.get("/api/models/a.b/thumbnail")  # 400: a bad request is still worth a line
    lines = [r for r in caplog.records if getattr(r, "event.action", "") == "http.request"]
    assert [r.levelno for r in lines] == [logging.DEBUG, logging.INFO]
