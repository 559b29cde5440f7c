"""REST helpers of the fault suite: start, poll, stop and wait for a recording through the
gateway."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx

from tools.faults.lab import _FINAL_ROW_STATES, EventFollower


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 30.0, every: float = 0.2) -> Any:
    end = time.monotonic() + timeout
    while True:
        try:
            value = probe()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        if time.monotonic() >= end:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(every)


def start_recording(client: httpx.Client, target: str, person: str) -> dict[str, Any]:
    response = client.post("/api/start", json={"target": target, "person": person})
    if response.status_code != 201:
        raise RuntimeError(f"start failed: HTTP {response.status_code} {response.text}")
    session: dict[str, Any] = response.json()
    return session


def get_session(client: httpx.Client, sid: str) -> dict[str, Any]:
    response = client.get(f"/api/sessions/{sid}")
    response.raise_for_status()
    session: dict[str, Any] = response.json()
    return session


def session_of(client: httpx.Client, person: str) -> dict[str, Any] | None:
    for session in client.get("/api/status").json():
        if session["person"] == person:
            return session  # type: ignore[no-any-return]
    return None


def wait_media(client: httpx.Client, sid: str, seconds: float, timeout: float = 30.0) -> None:
    """Until the session is RECORDING with at least ``seconds`` of media."""

    def probe() -> bool:
        s = get_session(client, sid)
        if s["state"] in ("STOPPED", "FAILED", "INTERRUPTED"):
            raise RuntimeError(f"session ended early: {s['state']} ({s['end_reason']})")
        return bool(s["state"] == "RECORDING" and s["media_seconds"] >= seconds)

    wait_for(f"{seconds:.0f}s of media", probe, timeout)


def wait_recovered(client: httpx.Client, sid: str, timeout: float = 60.0) -> float:
    """Until the session records again (RECORDING, media time advancing by 2 s); returns when
    that was first seen (monotonic)."""
    base = get_session(client, sid)["media_seconds"]
    recovered: list[float] = []

    def probe() -> bool:
        s = get_session(client, sid)
        if s["state"] in ("STOPPED", "FAILED", "INTERRUPTED"):
            raise RuntimeError(f"session ended: {s['state']} ({s['end_reason']})")
        if s["state"] == "RECORDING" and not recovered:
            recovered.append(time.monotonic())
        elif s["state"] != "RECORDING":
            recovered.clear()
        return bool(s["state"] == "RECORDING" and s["media_seconds"] >= base + 2)

    wait_for("the recording to recover", probe, timeout)
    return recovered[0] if recovered else time.monotonic()


def stop_recording(client: httpx.Client, sid: str) -> dict[str, Any]:
    response = client.post(f"/api/stop/{sid}")
    response.raise_for_status()
    session: dict[str, Any] = response.json()
    return session


def wait_finalized(
    client: httpx.Client,
    person: str,
    sessions: list[dict[str, Any]],
    follower: EventFollower,
    timeout: float = 60.0,
) -> list[dict[str, Any]]:
    """The recording rows of ``sessions`` once each of their files is COMPLETE or INTERRUPTED.
    The files are the session's after finalization (a part without media is dropped then):
    from its FINALIZED event, else as the recorder lists them now."""
    sids = [s["session_id"] for s in sessions]

    def files_of(sid: str) -> list[str]:
        for e in follower.events:
            if e.type == "FINALIZED" and e.session_id == sid:
                return list(e.data["session"]["record_paths"])
        return list(get_session(client, sid)["record_paths"])

    def probe() -> list[dict[str, Any]] | None:
        rows = client.get(f"/api/recordings/{person}").json()
        mine = {r["path"]: r for r in rows if r["sessionId"] in sids}
        for sid in sids:
            for path in files_of(sid):
                if path not in mine or mine[path]["state"] not in _FINAL_ROW_STATES:
                    return None
        return list(mine.values())

    rows: list[dict[str, Any]] = wait_for("the files to be finalized", probe, timeout, 0.3)
    return rows


# -- measuring ---------------------------------------------------------------------------------
