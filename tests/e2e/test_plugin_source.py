"""A site added as one module: ``tests/plugins/throwaway.py`` is loaded into the real resolver
with ``RESOLVER_PLUGINS`` and records end to end, through a fake of its site built on the fake
site kit, with nothing else in streamrec knowing about it."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import httpx
import pytest

from simlab.fakes.hls_origin import HlsOrigin
from simlab.fakes.site_kit import FakeSite, Reply, error_reply, json_reply
from simlab.harness import Stack, wait_for
from simlab.media_check import decode, stream_kinds

pytestmark = pytest.mark.e2e


@dataclass
class Room:
    username: str
    show: str = "live"  # live, off, private
    hls: str = ""

    def state(self) -> dict[str, Any]:
        return asdict(self)


class FakeThrowaway(FakeSite[Room]):
    """``GET /api/rooms/<u>``: 404 for an unknown user, else the room's state and stream."""

    thread_name = "fake-throwaway"
    kinds = ("room", "other")
    room_type = Room
    _ROOM = re.compile(r"^/api/rooms/(?P<user>[a-z0-9_]+)$")

    def route(self, path: str) -> str:
        return "room" if self._ROOM.match(path) else "other"

    def answer(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        form: Mapping[str, str],
        body: bytes,
    ) -> Reply:
        match = self._ROOM.match(path)
        room = self.get(match["user"]) if match else None
        if room is None:
            return error_reply(404)
        return json_reply({"state": room.show, "hls": room.hls if room.show == "live" else ""})


@pytest.fixture(scope="module")
def site() -> Iterator[FakeThrowaway]:
    with FakeThrowaway() as running:
        yield running


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, site: FakeThrowaway) -> Iterator[Stack]:
    env = {
        "RESOLVER_PLUGINS": "tests.plugins.throwaway",
        "THROWAWAY_BASE_URL": site.base_url,
        "STATUS_CACHE_TTL": "0",
    }
    with Stack(tmp_path_factory.mktemp("plugin"), env_extra=env) as running:
        yield running


@pytest.fixture
def client(stack: Stack, site: FakeThrowaway) -> Iterator[httpx.Client]:
    site.clear_faults()
    site.reset_log()
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        yield http


def test_a_plugin_site_tells_its_states_apart(client: httpx.Client, site: FakeThrowaway) -> None:
    site.add_room("ada", show="off")
    body = client.get("/api/model/throwaway:ada/status").json()
    assert body["availability"] == "OFFLINE" and body["site"] == "throwaway"
    site.set_room("ada", show="private")
    assert client.get("/api/model/ada/status?site=throwaway").json()["availability"] == "PRIVATE"
    missing = client.get("/api/model/throwaway:nobody/status")
    assert missing.status_code == 404 and missing.json()["code"] == "CHANNEL_NOT_FOUND"
    site.set_fault("rate_limit", retry_after=0, count=10)
    limited = client.get("/api/model/throwaway:ada/status")
    assert limited.status_code == 503 and limited.json()["code"] == "RATE_LIMITED"
    assert all(r.path.startswith("/api/rooms/") for r in site.requests())


def test_a_plugin_site_records_video_and_audio_into_its_own_folder(
    client: httpx.Client, site: FakeThrowaway, origin: HlsOrigin, stack: Stack
) -> None:
    origin.add_stream("tw_bea", token="t0k", window=6, format="cmaf")
    site.add_room("bea", hls=origin.url("tw_bea"))
    response = client.post("/api/start", json={"target": "throwaway:bea"})
    assert response.status_code == 201, response.text
    session = response.json()
    assert session["person"] == "throwaway-bea"
    sid = session["session_id"]
    wait_for(
        "recording",
        lambda: (
            (s := client.get(f"/api/sessions/{sid}").json())["state"] == "RECORDING"
            and s["bytes_written"] > 0
        ),
    )
    time.sleep(3)
    stopped = client.post(f"/api/stop/{sid}").json()
    path = stack.output_dir / stopped["record_path"]
    assert path.parent.name == "throwaway-bea"
    result = decode(path)
    assert result.ok and result.seconds >= 2, result.errors
    assert stream_kinds(path) == ["video", "audio"]
    # A bare "bea" is the default site's: another channel, never this one.
    site.set_room("bea", show="off")
    offline = client.post("/api/start", json={"target": "throwaway:bea"})
    assert offline.status_code == 409 and offline.json()["code"] == "CHANNEL_OFFLINE"
