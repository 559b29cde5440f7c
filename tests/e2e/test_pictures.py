"""Pictures end to end, through the gateway, the recorder and the resolver: a watched
channel's room image from the fake site (kept on disk, asked for once), a recording channel's
live frame, a finished recording's poster and contact sheet, and their removal with it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from servicekit.images import jpeg_size
from simlab.fakes.chaturbate_pages import THUMBNAIL
from simlab.fakes.chaturbate_site import FakeChaturbate
from simlab.fakes.hls_origin import HlsOrigin
from simlab.harness import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def site() -> Iterator[FakeChaturbate]:
    with FakeChaturbate() as running:
        yield running


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, site: FakeChaturbate) -> Iterator[Stack]:
    env = {
        "CHATURBATE_BASE_URL": site.base_url,
        "CHATURBATE_THUMBNAIL_BASE_URL": f"{site.base_url}/ri",
        "SITE_RATE": "50",
        "SITE_BURST": "20",
        "SITE_JITTER": "0",
        "AUTORECORD_INTERVAL": "3600",
    }
    with Stack(tmp_path_factory.mktemp("pictures"), env_extra=env) as running:
        yield running


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        yield http


def watch(client: httpx.Client, username: str) -> None:
    response = client.post("/api/models", json={"username": username, "autoRecord": False})
    assert response.status_code == 201, response.text


def wait_for(check: Any, timeout: float = 30.0, every: float = 0.3) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise AssertionError(f"not within {timeout}s")


def test_an_offline_channel_shows_its_room_image_asked_from_the_site_once(
    client: httpx.Client, site: FakeChaturbate, stack: Stack
) -> None:
    site.add_room("rita", room_status="offline")
    watch(client, "rita")
    site.reset_log()
    response = client.get("/api/models/Rita/thumbnail")
    assert response.status_code == 200, response.text
    assert (response.content, response.headers["content-type"]) == (THUMBNAIL, "image/jpeg")
    assert response.headers["x-thumbnail-source"] == "room"
    assert (stack.output_dir / "thumbs" / "rita.jpg").read_bytes() == THUMBNAIL
    again = client.get("/api/models/rita/thumbnail")
    assert again.content == THUMBNAIL
    assert site.request_count("thumb") == 1  # kept: not asked again within ROOM_IMAGE_REFRESH
    assert client.get("/api/models/rita").json()["thumbnailUrl"] == "/api/models/rita/thumbnail"
    # Not watched, not recording: no picture and no request to the site.
    response = client.get("/api/models/stranger/thumbnail")
    assert (response.status_code, response.json()["code"]) == (404, "CHANNEL_NOT_FOUND")
    assert site.request_count("thumb") == 1


def test_a_recording_gets_a_live_frame_then_a_poster_and_a_sheet_that_go_with_it(
    client: httpx.Client, site: FakeChaturbate, origin: HlsOrigin, stack: Stack
) -> None:
    origin.add_stream("pat", segment_duration=1.0)
    site.add_room("pat", hls_url=origin.url("pat"), viewers=3)
    watch(client, "pat")
    started = client.post("/api/start", json={"target": "pat"})
    assert started.status_code == 201, started.text
    sid = started.json()["id"]
    wait_for(lambda: client.get(f"/api/sessions/{sid}").json()["bytes_written"] > 100_000)
    time.sleep(3)

    with ThreadPoolExecutor(3) as pool:
        frames = list(pool.map(lambda _: client.get("/api/models/pat/thumbnail"), range(3)))
    for frame in frames:
        assert frame.status_code == 200, frame.text
        assert frame.headers["x-thumbnail-source"] == "live"
        assert frame.headers["cache-control"] == "private, max-age=30"
    assert len({f.content for f in frames}) == 1  # one ffmpeg for the three asks
    assert jpeg_size(frames[0].content) == (320, 180)  # the 640x360 variant, 320 wide

    assert client.post(f"/api/stop/{sid}").status_code == 200

    def finished() -> dict[str, Any] | None:
        rows = client.get("/api/recordings/pat").json()
        done = [r for r in rows if r["state"] == "COMPLETE" and r["sheetUrl"]]
        return done[0] if done else None

    recording = wait_for(finished, timeout=60)
    name = recording["file"]
    assert recording["posterUrl"] == f"/api/recordings/pat/{name}/poster"
    poster = client.get(recording["posterUrl"])
    assert poster.status_code == 200 and jpeg_size(poster.content) == (640, 360)
    sheet = client.get(recording["sheetUrl"])
    assert sheet.status_code == 200 and jpeg_size(sheet.content) == (1280, 720)
    assert sheet.headers["cache-control"] == "private, max-age=86400"
    cached = client.get(recording["sheetUrl"], headers={"If-None-Match": sheet.headers["etag"]})
    assert cached.status_code == 304
    index = client.get(f"/api/recordings/pat/{name}/sheet.json").json()
    assert (index["columns"], index["rows"], index["labelled"]) == (4, 4, True)

    folder = stack.output_dir / "records" / "pat"
    stem = name.rsplit(".", 1)[0]
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [name, f"{stem}.poster.jpg", f"{stem}.sheet.jpg", f"{stem}.sheet.json"]
    )
    assert client.delete(f"/api/recordings/pat/{name}").status_code == 200
    assert list(folder.iterdir()) == []
    gone = client.get(f"/api/recordings/pat/{name}/poster")
    assert (gone.status_code, gone.json()["code"]) == (404, "RECORDING_NOT_FOUND")
