"""BongaCams and CAM4 end to end: gateway -> recorder -> resolver -> the fake site -> the fake
CDN origin -> ffmpeg. A username records video and audio into its site's folder; every state
is told apart through the gateway's status route; a CAM4 room that comes back with a new
cdnURL is recorded from the new one; the watch list starts a room that goes online. One Stack
serves the whole module."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from simlab.fakes.bongacams_site import FakeBongaCams
from simlab.fakes.cam4_site import FakeCam4
from simlab.fakes.hls_origin import HlsOrigin
from simlab.harness import Stack, site_env, wait_for
from simlab.media_check import decode, stream_kinds

pytestmark = pytest.mark.e2e

INTERVAL = 2.0


@pytest.fixture(scope="module")
def bonga() -> Iterator[FakeBongaCams]:
    with FakeBongaCams() as running:
        yield running


@pytest.fixture(scope="module")
def cam4() -> Iterator[FakeCam4]:
    with FakeCam4() as running:
        yield running


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, bonga: FakeBongaCams, cam4: FakeCam4
) -> Iterator[Stack]:
    env = {
        **site_env("http://127.0.0.1:9", autorecord_interval=INTERVAL),
        "BONGACAMS_BASE_URL": bonga.base_url,
        "BONGACAMS_CDN_SCHEME": "http",
        "CAM4_BASE_URL": cam4.base_url,
        "CAM4_WEBCHAT_URL": cam4.base_url,
        "SITE_BACKOFF": "0.05",
        "SITE_MAX_RETRY_AFTER": "1",
    }
    with Stack(tmp_path_factory.mktemp("bc4"), env_extra=env) as running:
        yield running


@pytest.fixture
def client(stack: Stack, bonga: FakeBongaCams, cam4: FakeCam4) -> Iterator[httpx.Client]:
    for site in (bonga, cam4):
        site.clear_faults()
        site.reset_log()
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        yield http


def session(client: httpx.Client, sid: str) -> dict[str, Any]:
    return client.get(f"/api/sessions/{sid}").json()  # type: ignore[no-any-return]


def wait_recording(client: httpx.Client, sid: str) -> dict[str, Any]:
    def recording() -> dict[str, Any] | None:
        current = session(client, sid)
        assert current["state"] in ("STARTING", "RECORDING"), current
        ok = current["state"] == "RECORDING" and current["bytes_written"] > 0
        return current if ok else None

    return wait_for("recording", recording, timeout=20)  # type: ignore[no-any-return]


def record_a_while(client: httpx.Client, stack: Stack, target: str, folder: str) -> None:
    response = client.post("/api/start", json={"target": target})
    assert response.status_code == 201, response.text
    started = response.json()
    assert started["person"] == folder
    wait_recording(client, started["session_id"])
    time.sleep(3)
    stopped = client.post(f"/api/stop/{started['session_id']}").json()
    path = stack.output_dir / stopped["record_path"]
    assert path.parent.name == folder
    result = decode(path)
    assert result.ok and result.seconds >= 2, result.errors
    assert stream_kinds(path) == ["video", "audio"]


def test_a_bongacams_username_records_video_and_audio(
    client: httpx.Client, bonga: FakeBongaCams, origin: HlsOrigin, stack: Stack
) -> None:
    """A CMAF stream (separate audio rendition) behind the room's own video server."""
    origin.add_stream("bc_ann", window=6, format="cmaf")
    bonga.add_room("Ann_B", stream_url=origin.url("bc_ann"))
    record_a_while(client, stack, "bongacams:ann_b", "bongacams-ann_b")
    assert bonga.request_count("amf") == 1
    # The video server was asked with the site's Referer, as the real CDN wants.
    assert all(r.headers["referer"] == "https://bongacams.com/" for r in bonga.requests("playlist"))


def test_a_cam4_username_records_video_and_audio(
    client: httpx.Client, cam4: FakeCam4, origin: HlsOrigin, stack: Stack
) -> None:
    origin.add_stream("c4_bob", token="t0k", window=6)
    cam4.add_room("bob_c", cdn_url=origin.url("c4_bob"))
    record_a_while(client, stack, "https://www.cam4.com/Bob_C", "cam4-bob_c")
    assert [r.kind for r in cam4.requests()] == ["info", "access", "streamInfo"]


def test_a_cam4_room_back_with_a_new_cdn_url_is_recorded_from_it(
    client: httpx.Client, cam4: FakeCam4, origin: HlsOrigin
) -> None:
    """The CDN drops the old stream; the restart re-resolves and reads the new cdnURL."""
    origin.add_stream("c4_cy_1", token="one", window=6)
    origin.add_stream("c4_cy_2", token="two", window=6)
    cam4.add_room("cy", cdn_url=origin.url("c4_cy_1"))
    sid = client.post("/api/start", json={"target": "cam4:cy"}).json()["session_id"]
    wait_recording(client, sid)
    cam4.go_live("cy", origin.url("c4_cy_2"))
    origin.remove_stream("c4_cy_1")
    wait_for("segments of the new stream", lambda: origin.request_count("c4_cy_2", "segment"))
    current = wait_for(
        "a restart that records again",
        lambda: (s := session(client, sid))["restarts"] >= 1 and s["state"] == "RECORDING" and s,
    )
    assert cam4.request_count("streamInfo") >= 2, current
    client.post(f"/api/stop/{sid}")


def status(client: httpx.Client, key: str) -> httpx.Response:
    return client.get(f"/api/model/{key}/status")


def test_bongacams_states_are_told_apart(client: httpx.Client, bonga: FakeBongaCams) -> None:
    bonga.add_room("dee", online=False)
    body = status(client, "bongacams:dee").json()
    assert (body["availability"], body["site"]) == ("OFFLINE", "bongacams")
    bonga.set_room("dee", online=True, show_type="private")
    by_query = client.get("/api/model/dee/status", params={"site": "bongacams"})
    assert by_query.json()["availability"] == "PRIVATE"
    bonga.set_room("dee", show_type="group")
    assert status(client, "bongacams:dee").json()["availability"] == "GROUP_SHOW"
    missing = status(client, "bongacams:nobody")
    assert missing.status_code == 404 and missing.json()["code"] == "CHANNEL_NOT_FOUND"
    bonga.set_fault("rate_limit", retry_after=0, count=10)
    limited = status(client, "bongacams:dee")
    assert limited.status_code == 503 and limited.json()["code"] == "RATE_LIMITED"
    bonga.clear_faults()
    bonga.set_fault("challenge")
    blocked = status(client, "bongacams:dee")
    assert blocked.status_code == 502 and blocked.json()["code"] == "BLOCKED_BY_CHALLENGE"
    assert all(r.kind == "amf" for r in bonga.requests())


def test_cam4_states_are_told_apart(client: httpx.Client, cam4: FakeCam4) -> None:
    cam4.add_room("eve", online=False)
    body = status(client, "cam4:eve").json()
    assert (body["availability"], body["site"]) == ("OFFLINE", "cam4")
    cam4.set_room("eve", online=True, private=True)
    assert status(client, "cam4:eve").json()["availability"] == "PRIVATE"
    cam4.set_room("eve", private=False, geo_blocked=True)
    assert status(client, "cam4:eve").json()["availability"] == "GEO_RESTRICTED"
    missing = status(client, "cam4:nobody")
    assert missing.status_code == 404 and missing.json()["code"] == "CHANNEL_NOT_FOUND"
    cam4.set_fault("rate_limit", retry_after=0, count=10)
    limited = status(client, "cam4:eve")
    assert limited.status_code == 503 and limited.json()["code"] == "RATE_LIMITED"
    cam4.clear_faults()
    cam4.set_fault("challenge")
    blocked = status(client, "cam4:eve")
    assert blocked.status_code == 502 and blocked.json()["code"] == "BLOCKED_BY_CHALLENGE"


def test_starting_a_room_that_cannot_be_recorded_says_why(
    client: httpx.Client, bonga: FakeBongaCams, cam4: FakeCam4
) -> None:
    bonga.add_room("fin", show_type="ticket")
    group = client.post("/api/start", json={"target": "bongacams:fin"})
    assert group.status_code == 409 and group.json()["code"] == "CHANNEL_GROUP_SHOW"
    bonga.set_room("fin", show_type="public", stream_url="", cdn_offline="short")
    offline = client.post("/api/start", json={"target": "bongacams:fin"})
    assert offline.status_code == 409 and offline.json()["code"] == "CHANNEL_OFFLINE"
    cam4.add_room("fin", cdn_url="")
    no_stream = client.post("/api/start", json={"target": "cam4:fin"})
    assert no_stream.status_code == 409 and no_stream.json()["code"] == "CHANNEL_OFFLINE"


@pytest.mark.parametrize("target", ["bongacams:../x", "cam4:a b", "bongacams:", "cam4:ü"])
def test_bad_names_never_reach_the_sites(
    client: httpx.Client, bonga: FakeBongaCams, cam4: FakeCam4, target: str
) -> None:
    assert client.post("/api/start", json={"target": target}).status_code in (400, 422)
    assert status(client, target.replace("/", "%2F")).status_code in (400, 404, 422)
    assert bonga.request_count() == 0 and cam4.request_count() == 0


def watch(client: httpx.Client, site: str, username: str) -> httpx.Response:
    """Watch ``site:username`` with auto-record: its own channel, its own folder."""
    answer = client.post("/api/models", json={"username": f"{site}:{username}", "autoRecord": True})
    assert answer.status_code == 201, answer.text
    assert answer.json()["site"] == site and answer.json()["key"] == f"{site}:{username}"
    return answer


@pytest.mark.parametrize("site_name", ["bongacams", "cam4"])
def test_the_watch_list_starts_a_room_that_goes_online(
    client: httpx.Client,
    bonga: FakeBongaCams,
    cam4: FakeCam4,
    origin: HlsOrigin,
    site_name: str,
) -> None:
    user = f"wl_{site_name}"
    origin.add_stream(user, window=6, format="cmaf")
    if site_name == "bongacams":
        bonga.add_room(user, online=False, stream_url=origin.url(user))
    else:
        cam4.add_room(user, online=False, cdn_url=origin.url(user))
    created = watch(client, site_name, user)
    time.sleep(INTERVAL * 1.5)
    assert not [s for s in client.get("/api/status").json() if user in s["person"]]
    if site_name == "bongacams":
        bonga.set_room(user, online=True)
    else:
        cam4.set_room(user, online=True)
    running = wait_for(
        "an automatic start",
        lambda: [s for s in client.get("/api/status").json() if user in s["person"]],
        timeout=INTERVAL * 4,
    )
    sid = running[0]["session_id"]
    assert running[0]["person"] == f"{site_name}-{user}"
    wait_recording(client, sid)
    # Asked through its own site, once per cycle while it was offline, then to start.
    asked = bonga.requests("amf") if site_name == "bongacams" else cam4.requests("info")
    assert len(asked) >= 2
    client.post(f"/api/stop/{sid}")
    client.delete(f"/api/models/{created.json()['key']}")
