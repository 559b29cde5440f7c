"""Live previews on demand (PREVIEW=on_demand, the default): no preview ffmpeg until someone
asks for the playlist, a playlist that follows the recording (across a restart onto a new
part), a stop after PREVIEW_IDLE without requests, and PREVIEW=always / off."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from simlab.harness import Stack
from simlab.media_check import decode

pytestmark = pytest.mark.e2e

ENV = {"HLS_TIME": "2", "HLS_LIST_SIZE": "4", "PREVIEW_IDLE": "3"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with Stack(tmp_path_factory.mktemp("preview"), env_extra=ENV) as running:
        yield running


def ffmpegs(stack: Stack) -> dict[int, list[str]]:
    """The recorder's ffmpeg processes and their argv."""
    found = {}
    for pid in stack.services["recorder_service"].descendants():
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if comm.startswith("ffmpeg"):
            found[pid] = [a.decode() for a in argv if a]
    return found


def previews(stack: Stack) -> list[int]:
    return [pid for pid, argv in ffmpegs(stack).items() if "pipe:0" in argv]


def recorders(stack: Stack) -> list[int]:
    return [pid for pid, argv in ffmpegs(stack).items() if "pipe:0" not in argv]


def wait_until(check: Callable[[], object], timeout: float, what: str) -> object:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def numbers(playlist: str) -> list[int]:
    return [int(n) for n in re.findall(r"^seg_(\d+)\.ts$", playlist, re.M)]


def start(client: httpx.Client, origin: Any, name: str) -> dict[str, Any]:
    origin.add_stream(name)
    response = client.post("/api/start", json={"target": origin.url(name)})
    assert response.status_code == 201, response.text
    sid = response.json()["session_id"]
    return wait_until(
        lambda: (s := client.get(f"/api/sessions/{sid}").json())["bytes_written"] > 0 and s,
        20,
        "the first bytes",
    )  # type: ignore[return-value]


def test_preview_starts_on_request_follows_the_recording_and_stops_when_idle(
    stack, origin, tmp_path
):
    client = httpx.Client(base_url=stack.base_url, timeout=60)
    session = start(client, origin, "viewme")
    sid = session["session_id"]
    url = f"/streams/sessions/{sid}/stream.m3u8"
    folder = stack.output_dir / "sessions" / sid
    # Nobody watches: the recording ffmpeg is the only one, and no preview is written.
    assert previews(stack) == [] and len(recorders(stack)) == 1
    assert not (folder / "stream.m3u8").exists()

    first = client.get(url)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "application/vnd.apple.mpegurl"
    assert "#EXTM3U" in first.text and numbers(first.text)
    assert len(previews(stack)) == 1
    segment = client.get(f"/streams/sessions/{sid}/seg_{numbers(first.text)[-1]:06d}.ts")
    assert segment.status_code == 200 and segment.headers["content-type"] == "video/mp2t"
    (tmp_path / "seg.ts").write_bytes(segment.content)
    result = decode(tmp_path / "seg.ts")
    assert result.ok and result.seconds > 1.0, result

    # A player reloading the playlist sees it move with the recording.
    moved = wait_until(
        lambda: max(numbers(client.get(url).text)) > max(numbers(first.text)), 15, "new segments"
    )
    assert moved and len(previews(stack)) == 1  # reloads reuse the running preview

    # Nobody asks for PREVIEW_IDLE (3 s): the preview ffmpeg stops.
    last = max(numbers(client.get(url).text))
    wait_until(lambda: not previews(stack), 15, "the idle preview to stop")
    assert len(recorders(stack)) == 1
    stopped = [
        r
        for r in stack.services["recorder_service"].log_records()
        if r.get("event.action") == "preview.stop" and r.get("session_id") == sid
    ]
    assert stopped and "nobody asked" in stopped[-1]["message"]

    # Asked again: a new preview, numbered on (no cached segment name is reused) after a
    # discontinuity.
    again = client.get(url)
    assert again.status_code == 200, again.text
    assert min(numbers(again.text)) > last and "#EXT-X-DISCONTINUITY" in again.text

    # The recording ffmpeg is killed: the session restarts into a new part, and the preview
    # follows onto it (the old part no longer grows, so new segments come from the new one).
    (killed,) = recorders(stack)
    os.kill(killed, signal.SIGKILL)
    wait_until(
        lambda: len(client.get(f"/api/sessions/{sid}").json()["record_paths"]) == 2,
        30,
        "the second part",
    )
    time.sleep(1.0)
    at_switch = max(numbers(client.get(url).text))
    wait_until(
        lambda: max(numbers(client.get(url).text)) >= at_switch + 2, 20, "segments of the new part"
    )
    fed = [
        r
        for r in stack.services["recorder_service"].log_records()
        if r.get("event.action") == "preview.start" and r.get("session_id") == sid
    ]
    assert len(fed) == 2 and len(previews(stack)) == 1  # followed, not restarted

    # The session ends: its preview stops and its folder goes; the playlist is a clean 404.
    assert client.post(f"/api/stop/{sid}").status_code == 200
    wait_until(lambda: not previews(stack) and not folder.exists(), 15, "the preview to go")
    gone = client.get(url)
    assert gone.status_code == 404 and gone.json()["code"] == "PREVIEW_NOT_AVAILABLE"
    assert gone.json()["correlation_id"]


def test_preview_of_an_unknown_session_is_a_clean_404(stack):
    client = httpx.Client(base_url=stack.base_url, timeout=30)
    response = client.get("/streams/sessions/0123456789ab/stream.m3u8")
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "SESSION_NOT_FOUND" and body["correlation_id"]
    assert previews(stack) == []


@pytest.mark.parametrize("mode", ["always", "off"])
def test_preview_modes_always_and_off(tmp_path, origin, mode):
    with Stack(tmp_path / "stack", env_extra={**ENV, "PREVIEW": mode}) as own:
        client = httpx.Client(base_url=own.base_url, timeout=60)
        session = start(client, origin, f"mode_{mode}")
        sid = session["session_id"]
        playlist = own.output_dir / "sessions" / sid / "stream.m3u8"
        url = f"/streams/sessions/{sid}/stream.m3u8"
        if mode == "always":
            # The recording ffmpeg writes the preview itself, asked or not.
            wait_until(playlist.exists, 15, "the always-on preview")
            response = client.get(url)
            assert response.status_code == 200 and numbers(response.text)
        else:
            response = client.get(url)
            assert response.status_code == 409 and response.json()["code"] == "PREVIEW_OFF"
            assert not playlist.exists()
        assert previews(own) == [] and len(recorders(own)) == 1
        assert client.post(f"/api/stop/{sid}").status_code == 200
