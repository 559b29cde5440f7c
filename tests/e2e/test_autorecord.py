"""The watch list end to end: a channel goes online at the fake site, auto-record starts it
within one interval, it goes offline, the session ends, is finalized (remuxed to MP4) and
listed; and a recorder killed with SIGKILL mid-recording recovers its file on restart and
resumes recording the channel."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from simlab.fakes.chaturbate_site import FakeChaturbate
from simlab.fakes.hls_origin import HlsOrigin
from simlab.harness import Stack, site_env, wait_for
from simlab.media_check import decode, stream_kinds

pytestmark = pytest.mark.e2e

INTERVAL = 2.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, site: FakeChaturbate) -> Iterator[Stack]:
    env = {**site_env(site.base_url, autorecord_interval=INTERVAL), "REMUX_MP4": "true"}
    with Stack(tmp_path_factory.mktemp("auto"), env_extra=env) as running:
        yield running


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.base_url, timeout=30) as http:
        yield http


def session_of(client: httpx.Client, person: str) -> dict[str, Any] | None:
    for session in client.get("/api/status").json():
        if session["person"] == person:
            return session  # type: ignore[no-any-return]
    return None


def recordings(client: httpx.Client, person: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/recordings/{person}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_online_starts_within_one_interval_offline_ends_finalized_and_listed(
    client: httpx.Client, site: FakeChaturbate, origin: HlsOrigin, stack: Stack
) -> None:
    origin.add_stream("erin", window=6)
    # The title as a broadcaster might type it: markup stays text, the line break a space.
    site.add_room("erin", room_status="offline", title="Erin's\nroom <b>soon</b>")
    created = client.post("/api/models", json={"username": "Erin", "autoRecord": True})
    assert created.status_code == 201, created.text
    assert created.json()["username"] == "erin" and created.json()["recording"] is False

    # Offline: a few cycles pass and nothing starts.
    time.sleep(INTERVAL * 1.5)
    assert session_of(client, "erin") is None
    model = client.get("/api/models/erin").json()
    assert model["lastAvailability"] == "OFFLINE" and model["lastCheckAt"]
    assert (model["lastTitle"], model["lastRoomStatus"]) == ("Erin's room <b>soon</b>", "offline")

    site.set_room(
        "erin", room_status="public", hls_url=origin.url("erin"), title="live now", viewers=17
    )
    went_online = time.monotonic()
    session = wait_for("an automatic start", lambda: session_of(client, "erin"))
    # One interval, plus the resolve and ffmpeg's start.
    assert time.monotonic() - went_online < INTERVAL + 3
    assert session["channel"] == "erin"  # started by the watch list, not by hand
    model = client.get("/api/models/erin").json()
    assert model["sessionId"] == session["session_id"]
    # What the check that found it online saw of the room, from the fake site.
    assert (model["lastTitle"], model["lastViewers"], model["lastRoomStatus"]) == (
        "live now",
        17,
        "public",
    )
    listed = recordings(client, "erin")
    assert [r["state"] for r in listed] == ["WRITING"] and listed[0]["endTime"] is None

    wait_for(
        "media on disk",
        lambda: client.get(f"/api/sessions/{session['session_id']}").json()["media_seconds"] > 4,
    )
    # A file being written cannot be deleted.
    busy = client.delete(f"/api/recordings/erin/{listed[0]['file']}")
    assert busy.status_code == 409 and busy.json()["code"] == "RECORDING_IN_PROGRESS"

    site.set_room("erin", room_status="offline")
    origin.stream("erin").end()

    def finalized() -> dict[str, Any] | None:
        rows = recordings(client, "erin")
        return rows[0] if rows and rows[0]["state"] == "COMPLETE" else None

    done = wait_for("the finalized recording", finalized)
    ended = client.get(f"/api/sessions/{session['session_id']}").json()
    assert ended["state"] == "STOPPED" and ended["end_reason"] == "stream ended"
    assert done["format"] == "mp4" and done["file"].endswith(".mp4")
    assert done["sessionId"] == session["session_id"] and done["parts"] == 1
    assert done["duration"] > 4 and done["endTime"] and done["startTime"]
    path = stack.output_dir / done["path"]
    assert path.stat().st_size == done["size"]
    assert not path.with_suffix(".ts").exists()  # verified, then the TS went
    assert decode(path).ok and stream_kinds(path) == ["video", "audio"]
    assert ended["record_paths"] == [done["path"]]

    # Served with Range.
    part = client.get(done["url"], headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == path.read_bytes()[:100]

    # Offline: not started again.
    time.sleep(INTERVAL * 1.5)
    assert session_of(client, "erin") is None

    deleted = client.delete(f"/api/recordings/erin/{done['file']}")
    assert deleted.status_code == 200 and deleted.json()["bytesFreed"] == done["size"]
    assert not path.exists() and recordings(client, "erin") == []
    assert client.get(done["url"]).status_code == 404


def test_kill_9_mid_recording_recovers_the_file_and_auto_record_resumes(
    client: httpx.Client, site: FakeChaturbate, origin: HlsOrigin, stack: Stack
) -> None:
    origin.add_stream("fay", window=6)
    site.add_room("fay", room_status="public", hls_url=origin.url("fay"))
    assert client.post("/api/models", json={"username": "fay"}).status_code == 201
    first = wait_for("an automatic start", lambda: session_of(client, "fay"))
    wait_for(
        "media on disk",
        lambda: client.get(f"/api/sessions/{first['session_id']}").json()["media_seconds"] > 3,
    )
    recorder = stack.services["recorder_service"]
    ffmpegs = recorder.descendants()
    assert ffmpegs
    try:
        assert recorder.kill() == -9
        # Restarted at once, as a supervisor would: the killed recorder's ffmpeg is still
        # finishing its file (it got one SIGTERM), and recovery waits for it to settle.
        stack.restart_recorder()
        # The orphaned ffmpeg exits by itself.
        wait_for("ffmpeg to exit", lambda: not any(_alive(pid) for pid in ffmpegs), 15)
    finally:
        for pid in ffmpegs:
            if _alive(pid):
                os.kill(pid, 9)

    old = client.get(f"/api/sessions/{first['session_id']}").json()
    assert old["state"] == "INTERRUPTED" and old["end_time"] and old["end_reason"]

    def recovered() -> dict[str, Any] | None:
        for row in recordings(client, "fay"):
            if row["sessionId"] == first["session_id"] and row["state"] == "INTERRUPTED":
                return row
        return None

    row = wait_for("the recovered recording", recovered)
    path = stack.output_dir / row["path"]
    result = decode(path)
    assert result.ok, result.errors
    assert row["duration"] > 3 and row["format"] == "mp4"

    # The channel is still live: auto-record picks it up again.
    second = wait_for(
        "auto-record to resume",
        lambda: (s := session_of(client, "fay")) and s["session_id"] != first["session_id"] and s,
        INTERVAL + 10,
    )
    client.delete("/api/models/fay")
    stopped = client.post(f"/api/stop/{second['session_id']}").json()
    assert stopped["state"] == "STOPPED"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
