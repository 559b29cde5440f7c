"""SIGTERM to the recorder: health goes NOT_SERVING, every ffmpeg is asked to quit, files are
finalized, and the process exits within SHUTDOWN_GRACE, even with a long STOP_TIMEOUT."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.hls_origin import HlsOrigin
from tests.harness import Stack
from tests.media_check import decode

pytestmark = pytest.mark.e2e

GRACE = 8.0


@pytest.fixture
def stack(tmp_path) -> Iterator[Stack]:
    env = {"SHUTDOWN_GRACE": str(GRACE), "STOP_TIMEOUT": "30", "REMUX_MP4": "true"}
    with Stack(tmp_path, env_extra=env) as running:
        yield running


def test_sigterm_finalizes_every_file_and_exits_within_the_grace(
    stack: Stack, origin: HlsOrigin
) -> None:
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        sids = []
        for name in ("down_a", "down_b", "down_c"):
            origin.add_stream(name)
            started = client.post("/api/start", json={"target": origin.url(name)})
            assert started.status_code == 201, started.text
            sids.append(started.json()["session_id"])
        end = time.monotonic() + 20
        while any(client.get(f"/api/sessions/{sid}").json()["media_seconds"] < 3 for sid in sids):
            assert time.monotonic() < end
            time.sleep(0.2)
    recorder = stack.services["recorder_service"]
    ffmpegs = recorder.descendants()
    began = time.monotonic()
    recorder.proc.send_signal(signal.SIGTERM)
    code = recorder.proc.wait(GRACE + 10)
    took = time.monotonic() - began
    assert code == 0 and took < GRACE + 1.5, took
    assert not [pid for pid in ffmpegs if _alive(pid)]
    logs = recorder.log_records()
    stopped = [r for r in logs if r.get("event.action") == "ffmpeg.stop"]
    assert {r["session_id"] for r in stopped} == set(sids)
    assert all(r["message"] == "session stopped: recorder shutting down" for r in stopped)
    files = sorted((stack.output_dir / "records").rglob("*.*"))
    assert files and all(f.suffix in (".mp4", ".ts") for f in files)
    for f in files:
        assert decode(f).ok, f


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
