"""End to end: the real ``streamrec`` command (a subprocess) against the real three services,
recording a stream from the fake CDN origin. Every process started here is stopped by PID."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simlab.fakes.hls_origin import HlsOrigin
from simlab.harness import ROOT, Stack, free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def origin() -> Iterator[HlsOrigin]:
    with HlsOrigin() as server:
        yield server


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(tmp_path_factory.mktemp("stack")) as running:
        yield running


def command(stack: Stack, *args: str) -> list[str]:
    addr = f"127.0.0.1:{stack.recorder_port}"
    return [sys.executable, "-m", "streamrec_cli", "--addr", addr, *args]


def streamrec(stack: Stack, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run the command to its end (subprocess.run kills it by PID if it overruns)."""
    return subprocess.run(
        command(stack, *args), cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def ok_json(stack: Stack, *args: str) -> Any:
    done = streamrec(stack, "--json", *args)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return json.loads(done.stdout)


def assert_one_error_line(done: subprocess.CompletedProcess[str], code: int, reason: str) -> None:
    assert done.returncode == code, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert done.stderr.startswith("streamrec: ") and done.stderr.count("\n") == 1
    assert f"({reason}, request id " in done.stderr
    assert "Traceback" not in done.stderr


def wait_for_state(stack: Stack, sid: str, state: str, timeout: float = 20) -> dict[str, Any]:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        sessions = {s["id"]: s for s in ok_json(stack, "ls")}
        if sid in sessions and sessions[sid]["state"] == state:
            found: dict[str, Any] = sessions[sid]
            return found
        time.sleep(0.3)
    raise AssertionError(f"session {sid} never reached {state}")


def test_a_recording_started_watched_and_stopped_from_the_command_line(
    origin: HlsOrigin, stack: Stack
) -> None:
    origin.add_stream("clirec", window=6)
    request_id = f"cli-e2e-{uuid.uuid4().hex[:8]}"

    started = ok_json(stack, "--request-id", request_id, "start", origin.url("clirec"))
    sid = started["id"]
    assert started["person"] == "clirec" and started["state"] in ("STARTING", "RECORDING")
    assert started["correlation_id"] == request_id  # sent as x-request-id
    # the same request id again (a retried start) returns the same session, starts nothing
    again = ok_json(stack, "--request-id", request_id, "start", origin.url("clirec"))
    assert again["id"] == sid

    wait_for_state(stack, sid, "RECORDING")
    table = streamrec(stack, "ls")
    assert table.returncode == 0 and table.stderr == ""
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["ID", "PERSON", "STATE", "SIZE", "MEDIA", "BITRATE", "STARTED"]
    assert any(row.split()[:3] == [sid, "clirec", "RECORDING"] for row in rows)

    # watch --json for ~3 s: a snapshot, then PROGRESS events; SIGINT ends it with 0
    watcher = subprocess.Popen(
        command(stack, "watch", "--json"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(3)
        watcher.send_signal(signal.SIGINT)
        out, err = watcher.communicate(timeout=10)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.wait(5)
    assert watcher.returncode == 0, err
    assert "Traceback" not in err
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0]["type"] == "SNAPSHOT"
    assert sid in [s["id"] for s in events[0]["sessions"]]
    progress = [e for e in events if e["type"] == "PROGRESS" and e["session"]["id"] == sid]
    assert progress and progress[-1]["session"]["bytes_written"] > 0
    sequences = [e["sequence"] for e in events]
    assert sequences == sorted(sequences)

    stopped = ok_json(stack, "stop", sid)
    assert stopped["id"] == sid and stopped["state"] == "STOPPED"
    file_name = Path(stopped["record_paths"][0]).name

    recordings = ok_json(stack, "recordings", "ls", "clirec")
    assert file_name in [r["file"] for r in recordings]
    listing = streamrec(stack, "recordings", "ls", "clirec")
    assert listing.returncode == 0 and file_name in listing.stdout
    assert listing.stdout.splitlines()[0].split()[:3] == ["FILE", "STATE", "SIZE"]


def test_channels_round_trip(stack: Stack) -> None:
    # --no-auto: the scheduler never asks the (real) site about this made-up user
    added = ok_json(stack, "channels", "add", "CliUser", "--no-auto", "--retention-days", "3")
    assert added["username"] == "cliuser"
    assert (added["autoRecord"], added["retentionDays"], added["maxCount"]) == (False, 3, 0)

    listed = ok_json(stack, "channels", "ls")
    assert "cliuser" in [c["username"] for c in listed]
    table = streamrec(stack, "channels", "ls")
    assert table.returncode == 0 and any(
        line.split()[:4] == ["chaturbate", "cliuser", "cliuser", "no"]
        for line in table.stdout.splitlines()
    )

    # only --max-count is in the mask: retention and auto-record stay as they were
    changed = ok_json(stack, "channels", "set", "cliuser", "--max-count", "5")
    assert (changed["autoRecord"], changed["retentionDays"], changed["maxCount"]) == (False, 3, 5)

    removed = ok_json(stack, "channels", "rm", "cliuser")
    assert removed == {"username": "cliuser", "key": "cliuser", "deleted": True}
    assert "cliuser" not in [c["username"] for c in ok_json(stack, "channels", "ls")]
    assert_one_error_line(streamrec(stack, "channels", "rm", "cliuser"), 4, "CHANNEL_NOT_FOUND")


def test_disk_usage_from_the_recorder(stack: Stack) -> None:
    (stack.output_dir / "records" / "clidisk").mkdir(parents=True, exist_ok=True)
    (stack.output_dir / "records" / "clidisk" / "planted.ts").write_bytes(b"G" * 4321)
    disk = ok_json(stack, "disk")
    assert set(disk) == {
        "totalBytes",
        "usedBytes",
        "freeBytes",
        "recordingsBytes",
        "minFreeBytes",
        "level",
    }
    assert 0 < disk["freeBytes"] <= disk["totalBytes"] and disk["usedBytes"] > 0
    assert disk["recordingsBytes"] >= 4321 and disk["level"] in ("OK", "LOW", "CRITICAL")
    text = streamrec(stack, "disk")
    assert text.returncode == 0 and text.stdout.startswith("level ")


def test_an_unknown_session_exits_4(stack: Stack) -> None:
    done = streamrec(stack, "--request-id", "cli-e2e-unknown", "stop", "deadbeef0000")
    assert_one_error_line(done, 4, "SESSION_NOT_FOUND")
    assert "request id cli-e2e-unknown" in done.stderr


def test_a_bad_target_exits_1(stack: Stack) -> None:
    assert_one_error_line(
        streamrec(stack, "start", "file:///etc/passwd"), 1, "UNSUPPORTED_PROTOCOL"
    )
    assert_one_error_line(streamrec(stack, "start", "not a url!"), 1, "INVALID_USERNAME")


@pytest.mark.parametrize("args", [["ls"], ["watch"]])
def test_a_closed_port_exits_3_quickly(args: list[str]) -> None:
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "streamrec_cli", "--addr", f"127.0.0.1:{free_port()}",
         "--timeout", "2", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=20,
    )  # fmt: skip
    assert_one_error_line(done, 3, "UNAVAILABLE")
    assert time.monotonic() - began < 6  # the 2 s budget, plus starting Python
