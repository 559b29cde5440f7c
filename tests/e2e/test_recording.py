"""End to end: HTTP -> gateway -> recorder -> resolver -> ffmpeg -> file, with events and logs."""

import threading
import time
import uuid

import httpx
import pytest

from simlab.harness import sse_events
from simlab.media_check import decode

pytestmark = pytest.mark.e2e

RECORD_SECONDS = 12.0


class EventCollector(threading.Thread):
    """Follows /api/events in the background and keeps every event."""

    def __init__(self, base_url):
        super().__init__(daemon=True)
        self.base_url = base_url
        self.events = []
        self.ready = threading.Event()
        self.stop_flag = threading.Event()

    def run(self):
        with httpx.Client(base_url=self.base_url, timeout=httpx.Timeout(5, read=30)) as client:
            try:
                with client.stream("GET", "/api/events") as response:
                    self.ready.set()
                    for event in sse_events(response):
                        self.events.append(event)
                        if self.stop_flag.is_set():
                            return
            except httpx.HTTPError:
                if not self.stop_flag.is_set():
                    raise

    def wait_for(self, predicate, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for event in list(self.events):
                if predicate(event):
                    return event
            time.sleep(0.05)
        raise AssertionError(f"no matching event in {[e['event'] for e in self.events]}")


def test_a_live_stream_is_recorded_end_to_end(origin, stack):
    origin.add_stream("alice", window=6)
    request_id = f"e2e-{uuid.uuid4().hex[:12]}"
    events = EventCollector(stack.base_url)
    events.start()
    assert events.ready.wait(10)
    client = httpx.Client(base_url=stack.base_url, timeout=30)

    response = client.post(
        "/api/start", json={"target": origin.url("alice")}, headers={"X-Request-ID": request_id}
    )
    assert response.status_code == 201, response.text
    assert response.headers["x-request-id"] == request_id
    session = response.json()
    sid = session["session_id"]
    assert session["person"] == "alice"
    assert session["state"] in ("STARTING", "RECORDING")

    def of_session(kind):
        return lambda e: e["event"] == kind and e["data"]["session"]["session_id"] == sid

    recording = events.wait_for(of_session("recording"), 15)
    recording_at = time.monotonic()
    assert recording["data"]["correlation_id"] == request_id
    progress = events.wait_for(of_session("progress"), 10)
    assert progress["data"]["session"]["bytes_written"] > 0

    # the live preview is served while recording
    playlist = client.get(f"/streams/sessions/{sid}/stream.m3u8")
    assert playlist.status_code == 200 and "#EXTM3U" in playlist.text

    time.sleep(max(0.0, RECORD_SECONDS - (time.monotonic() - recording_at)))
    stopped = client.post(f"/api/stop/{sid}")
    wall = time.monotonic() - recording_at
    assert stopped.status_code == 200, stopped.text
    body = stopped.json()
    assert body["state"] == "STOPPED" and body["end_time"]
    events.wait_for(of_session("stopped"), 10)
    ids = [int(e["id"]) for e in events.events if e.get("id")]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)

    # the file is valid MPEG-TS that decodes to its end, and holds the time it recorded
    path = stack.output_dir / body["record_path"]
    result = decode(path)
    assert result.ok, result.errors
    live_window_s = 6 * 2.0
    assert result.seconds >= 0.9 * wall, (result.seconds, wall)
    assert result.seconds <= wall + live_window_s, (result.seconds, wall)
    assert not (stack.output_dir / "sessions" / sid).exists()  # preview removed at the end

    # one request id ties the three services' JSON logs together
    for name, service in stack.services.items():
        tagged = [r for r in service.log_records() if r.get("correlation_id") == request_id]
        assert tagged, f"{name} logged nothing with the request id"
        assert all(r["service.name"] for r in tagged)
    events.stop_flag.set()


def test_sse_resumes_from_last_event_id(origin, stack):
    origin.add_stream("bob")
    client = httpx.Client(base_url=stack.base_url, timeout=30)
    sid = client.post("/api/start", json={"target": origin.url("bob")}).json()["session_id"]
    seen = []
    with client.stream("GET", "/api/events") as response:
        for event in sse_events(response):
            seen.append(event)
            if event["event"] == "progress":
                break
    last_id = seen[-1]["id"]
    time.sleep(2.5)  # events keep coming while we are away
    with client.stream("GET", "/api/events", headers={"Last-Event-ID": last_id}) as response:
        first = next(sse_events(response))
    assert first["event"] != "snapshot"
    assert int(first["id"]) == int(last_id) + 1
    client.post(f"/api/stop/{sid}")
