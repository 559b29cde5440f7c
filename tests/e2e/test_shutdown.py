"""SIGTERM to the recorder: health goes NOT_SERVING, every ffmpeg is asked to quit, files are
finalized, and the process exits within SHUTDOWN_GRACE, even with a long STOP_TIMEOUT."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from simlab.fakes.hls_origin import HlsOrigin
from simlab.harness import Stack
from simlab.media_check import decode

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
    media = [f for f in files if f.suffix in (".mp4", ".ts")]
    # Beside them, only finished pictures (made after finalization, if there was time).
    pictures = (".poster.jpg", ".sheet.jpg", ".sheet.json")
    assert media and all(f in media or f.name.endswith(pictures) for f in files), files
    for f in media:
        assert decode(f).ok, f


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _wait_session(
    client: httpx.Client, person: str, exclude: set[str], timeout: float
) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            sessions = client.get("/api/status").json()
        except httpx.HTTPError:
            sessions = []
        for s in sessions if isinstance(sessions, list) else []:
            if s["person"] == person and s["session_id"] not in exclude and s["bytes_written"]:
                found: dict[str, Any] = s
                return found
        time.sleep(0.3)
    raise AssertionError(f"no new session of {person} within {timeout:.0f} s")


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_a_manual_session_goes_on_after_a_recorder_restart(
    stack: Stack, origin: HlsOrigin, how: str
) -> None:
    """Started by hand with a tokenized URL, cut by a shutdown or a crash: the restarted
    recorder starts it again (once), for the same person, without the token in any log."""
    name = f"manual_{how}"
    origin.add_stream(name)
    target = origin.url(name) + "?token=sekrit-123"
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        first = client.post("/api/start", json={"target": target, "person": name})
        assert first.status_code == 201, first.text
        old = first.json()["session_id"]
        _wait_session(client, name, set(), 20)
        recorder = stack.services["recorder_service"]
        if how == "sigterm":
            recorder.proc.send_signal(signal.SIGTERM)
            assert recorder.proc.wait(GRACE + 10) == 0
        else:
            recorder.kill()
        stack.restart_recorder()
        resumed = _wait_session(client, name, {old}, 30)
        assert resumed["target"].endswith("token=***") or "sekrit" not in resumed["target"]
        ended = client.get(f"/api/sessions/{old}").json()
        assert ended["state"] == ("STOPPED" if how == "sigterm" else "INTERRUPTED")
        # A second restart resumes the new session, never the first one again.
        stack.services["recorder_service"].proc.send_signal(signal.SIGTERM)
        assert stack.services["recorder_service"].proc.wait(GRACE + 10) == 0
        stack.restart_recorder()
        again = _wait_session(client, name, {old, resumed["session_id"]}, 30)
        running = [s for s in client.get("/api/status").json() if s["person"] == name]
        assert [s["session_id"] for s in running] == [again["session_id"]]
        assert client.post(f"/api/stop/{again['session_id']}").status_code == 200
    logs = stack.services["recorder_service"].log_records()
    resumes = [r for r in logs if r.get("event.action") == "session.resume_after_restart"]
    assert resumes and all(r["person"] == name for r in resumes)
    for service in stack.services.values():
        assert "sekrit-123" not in service.log_path.read_text()


def test_an_interrupted_sessions_media_figures_come_from_its_files_after_recovery(
    stack: Stack, origin: HlsOrigin
) -> None:
    """The recorder SIGKILLed mid-recording: only its state changes were saved (progress is
    not), so the session's row said 0 s. After the restart's recovery its media time and
    bytes are its files' (the MP4 each part became), as measured, not 0."""
    origin.add_stream("crashed")
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        body = {"target": origin.url("crashed"), "person": "crashed"}
        started = client.post("/api/start", json=body)
        assert started.status_code == 201, started.text
        sid = started.json()["session_id"]
        end = time.monotonic() + 30
        while client.get(f"/api/sessions/{sid}").json()["media_seconds"] < 8:
            assert time.monotonic() < end
            time.sleep(0.2)
        stack.services["recorder_service"].kill()
        stack.restart_recorder()
        end = time.monotonic() + 60
        rows: list[dict[str, Any]] = []
        session: dict[str, Any] = {}
        while True:
            assert time.monotonic() < end, (rows, session)
            rows = [
                r for r in client.get("/api/recordings/crashed").json() if r["sessionId"] == sid
            ]
            session = client.get(f"/api/sessions/{sid}").json()
            if rows and all(r["state"] == "INTERRUPTED" for r in rows):
                if session["media_seconds"] > 0:
                    break
            time.sleep(0.3)
    assert session["state"] == "INTERRUPTED"
    files = [stack.output_dir / "records" / "crashed" / r["file"] for r in rows]
    assert all(f.suffix == ".mp4" for f in files), files
    on_disk = [decode(f).seconds for f in files]
    assert sum(on_disk) >= 7, on_disk
    assert abs(session["media_seconds"] - sum(on_disk)) <= 1.5, (session, on_disk)
    assert session["bytes_written"] == sum(f.stat().st_size for f in files)
    for row, seconds in zip(rows, on_disk, strict=True):
        assert abs(row["duration"] - seconds) <= 1.5, (row, seconds)
