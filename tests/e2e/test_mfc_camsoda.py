"""MyFreeCams and CamSoda end to end with the real services: gateway -> recorder -> resolver ->
the fake site (share page / react API) -> its CDN front -> the fake origin -> ffmpeg. One
Stack for the module, both sites configured in it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from simlab.fakes.camsoda_site import FakeCamSoda
from simlab.fakes.hls_origin import HlsOrigin
from simlab.fakes.myfreecams_site import FakeMyFreeCams
from simlab.harness import Stack, wait_for
from simlab.media_check import decode, stream_kinds

pytestmark = pytest.mark.e2e

INTERVAL = 2.0


@pytest.fixture(scope="module")
def mfc() -> Iterator[FakeMyFreeCams]:
    with FakeMyFreeCams() as running:
        yield running


@pytest.fixture(scope="module")
def soda() -> Iterator[FakeCamSoda]:
    with FakeCamSoda() as running:
        yield running


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, mfc: FakeMyFreeCams, soda: FakeCamSoda
) -> Iterator[Stack]:
    env = {
        "MYFREECAMS_SHARE_URL": mfc.base_url,
        "MYFREECAMS_PREVIEW_URL": mfc.base_url,
        "CAMSODA_BASE_URL": soda.base_url,
        "CAMSODA_EDGE_SCHEME": "http",
        "STATUS_CACHE_TTL": "0",
        "SITE_RATE": "50",
        "SITE_BURST": "20",
        "SITE_JITTER": "0",
        "SITE_BACKOFF": "0.05",
        "SITE_MAX_RETRY_AFTER": "1",
        "AUTORECORD_INTERVAL": str(INTERVAL),
        "AUTORECORD_JITTER": "0",
    }
    with Stack(tmp_path_factory.mktemp("mfc_soda"), env_extra=env) as running:
        yield running


@pytest.fixture
def client(stack: Stack, mfc: FakeMyFreeCams, soda: FakeCamSoda) -> Iterator[httpx.Client]:
    for site in (mfc, soda):
        site.clear_faults()
        site.reset_log()
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        yield http


def add_room(
    site: str, user: str, origin: HlsOrigin, mfc: FakeMyFreeCams, soda: FakeCamSoda, **room: Any
) -> None:
    """A live room on ``site`` (MyFreeCams: a TS preview with muxed audio, as Wowza serves;
    CamSoda: LL-HLS fMP4 with separate audio tracks)."""
    stream = f"{site}_{user}"
    if stream not in {s["name"] for s in origin.state()["streams"]}:
        fmt = "ts" if site == "myfreecams" else "llhls"
        origin.add_stream(stream, token="t0k", window=6, format=fmt)
    if site == "myfreecams":
        mfc.add_room(
            user, hls_url=origin.url(stream), model_id=str(1000 + sum(map(ord, user))), **room
        )
    else:
        soda.add_room(user, hls_url=origin.url(stream), **room)


def wait_recording(client: httpx.Client, sid: str) -> None:
    def recording() -> bool:
        session = client.get(f"/api/sessions/{sid}").json()
        assert session["state"] in ("STARTING", "RECORDING"), session
        return bool(session["state"] == "RECORDING" and session["bytes_written"] > 0)

    wait_for("recording", recording, timeout=20, step=0.2)


@pytest.mark.parametrize("site", ["myfreecams", "camsoda"])
def test_a_username_is_recorded_with_video_and_audio(
    client: httpx.Client, origin: HlsOrigin, mfc, soda, stack: Stack, site: str
) -> None:
    add_room(site, "ada", origin, mfc, soda)
    response = client.post("/api/start", json={"target": f"{site}:Ada"})
    assert response.status_code == 201, response.text
    session = response.json()
    assert session["person"] == f"{site}-ada"
    wait_recording(client, session["session_id"])
    time.sleep(3)
    stopped = client.post(f"/api/stop/{session['session_id']}").json()
    path = stack.output_dir / stopped["record_path"]
    assert path.parent.name == f"{site}-ada"
    result = decode(path)
    assert result.ok and result.seconds >= 2, result.errors
    assert stream_kinds(path) == ["video", "audio"]


# What each state looks like on each fake: a room change, or a fault of the site.
STATES: dict[str, dict[str, Any]] = {
    "myfreecams": {
        "offline": {"show": "offline"},
        "private": {"show": "private"},
        "rate_limited": {"kind": "rate_limit", "retry_after": 0, "target": "share"},
        "blocked": {"kind": "challenge", "target": "share"},
        "failing": {"kind": "error", "status": 500, "target": "share"},
    },
    "camsoda": {
        "offline": {"show": "offline"},
        "private": {"show": "private"},
        "rate_limited": {"kind": "rate_limit", "target": "react"},  # a 403 on CamSoda
        "blocked": {"kind": "challenge", "target": "react"},
        "failing": {"kind": "error", "status": 500, "target": "react"},
    },
}


@pytest.mark.parametrize("site", ["myfreecams", "camsoda"])
def test_states_are_told_apart_through_the_status_route(
    client: httpx.Client, origin: HlsOrigin, mfc, soda, site: str
) -> None:
    fake = mfc if site == "myfreecams" else soda
    states = STATES[site]
    add_room(site, "bea", origin, mfc, soda)

    def status(key: str, **params: str) -> httpx.Response:
        return client.get(f"/api/model/{key}/status", params=params)

    online = status(f"{site}:bea").json()
    assert (online["availability"], online["site"], online["isOnline"]) == ("ONLINE", site, True)
    for state in ("offline", "private"):
        fake.set_room("bea", **states[state])
        body = status("bea", site=site).json()
        assert (body["availability"], body["isOnline"]) == (state.upper(), False)
    missing = status(f"{site}:nobody_here")
    assert missing.status_code == 404 and missing.json()["code"] == "CHANNEL_NOT_FOUND"
    for state, code, http_status in (
        ("rate_limited", "RATE_LIMITED", 503),
        ("blocked", "BLOCKED_BY_CHALLENGE", 502),
        ("failing", "UPSTREAM_5XX", 502),
    ):
        fault = dict(states[state])
        fake.set_fault(fault.pop("kind"), **fault)
        answer = status(f"{site}:bea")
        assert (answer.status_code, answer.json()["code"]) == (http_status, code), state
        fake.clear_faults()
    # Starting a room that cannot be recorded says why, without touching the CDN.
    fake.set_room("bea", **states["private"])
    refused = client.post("/api/start", json={"target": f"{site}:bea"})
    assert refused.status_code == 409 and refused.json()["code"] == "CHANNEL_PRIVATE"
    kinds = {r.kind for r in fake.requests()}
    assert kinds <= {"share", "preview", "react"}, kinds


@pytest.mark.parametrize("site", ["myfreecams", "camsoda"])
def test_the_watch_list_starts_a_room_that_goes_online(
    client: httpx.Client, origin: HlsOrigin, mfc, soda, site: str
) -> None:
    fake = mfc if site == "myfreecams" else soda
    add_room(site, "cleo", origin, mfc, soda, show="offline")
    created = client.post("/api/models", json={"username": f"{site}:cleo", "autoRecord": True})
    assert created.status_code == 201, created.text
    try:
        time.sleep(INTERVAL * 1.5)
        assert not any(s["person"] == f"{site}-cleo" for s in client.get("/api/status").json())
        fake.set_room("cleo", show="online" if site == "myfreecams" else "public")

        def started() -> dict[str, Any] | None:
            sessions = client.get("/api/status").json()
            return next((s for s in sessions if s["person"] == f"{site}-cleo"), None)

        session = wait_for("an automatic start", started, timeout=INTERVAL + 10)
        wait_recording(client, session["session_id"])
    finally:
        client.delete(f"/api/models/{site}:cleo")
        for s in client.get("/api/status").json():
            if s["person"] == f"{site}-cleo" and s["running"]:
                client.post(f"/api/stop/{s['session_id']}")
