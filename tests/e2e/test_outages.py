"""A service that is down gives a clear 503 after bounded retries, and nothing breaks."""

import os
import time

import httpx
import pytest

from simlab.harness import Stack
from simlab.media_check import decode

pytestmark = pytest.mark.e2e


@pytest.fixture
def own_stack(tmp_path):
    with Stack(tmp_path / "stack") as running:
        yield running


def test_resolver_down_is_a_503_after_bounded_retries(own_stack, origin):
    origin.add_stream("carol")
    own_stack.services["resolver_service"].stop()
    client = httpx.Client(base_url=own_stack.base_url, timeout=60)
    started = time.monotonic()
    response = client.post("/api/start", json={"target": origin.url("carol")})
    elapsed = time.monotonic() - started
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "RESOLVER_UNAVAILABLE"
    assert elapsed < 30  # bounded
    retries = [
        r
        for r in own_stack.services["recorder_service"].log_records()
        if r.get("event.action") == "grpc.retry"
    ]
    assert retries, "each retry is logged"
    assert client.get("/api/status").json() == []


def test_recorder_down_is_a_503_and_not_ready(own_stack):
    own_stack.services["recorder_service"].stop()
    client = httpx.Client(base_url=own_stack.base_url, timeout=60)
    response = client.get("/api/status")
    assert response.status_code == 503
    assert response.json()["code"] == "RECORDER_UNAVAILABLE"
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200


def test_recorder_sigterm_finalizes_recordings_and_leaves_no_ffmpeg(own_stack, origin):
    origin.add_stream("erin")
    client = httpx.Client(base_url=own_stack.base_url, timeout=30)
    session = client.post("/api/start", json={"target": origin.url("erin")}).json()
    recorder = own_stack.services["recorder_service"]
    end = time.monotonic() + 15
    while (
        time.monotonic() < end
        and client.get(f"/api/sessions/{session['id']}").json()["bytes_written"] == 0
    ):
        time.sleep(0.2)
    ffmpegs = recorder.children()
    assert len(ffmpegs) == 1
    time.sleep(2)
    started = time.monotonic()
    assert recorder.stop(timeout=30) == 0
    assert time.monotonic() - started < 25  # within SHUTDOWN_GRACE
    for pid in ffmpegs:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    result = decode(own_stack.output_dir / session["record_path"])
    assert result.ok and result.seconds > 2, result
    messages = [r["message"] for r in recorder.log_records()]
    assert any("session stopped: recorder shutting down" in m for m in messages)
