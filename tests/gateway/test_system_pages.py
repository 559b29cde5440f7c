"""The system page, the channel timeline and the watch list's export and import, through the
gateway, over real gRPC. The system routes talk to the real SystemServicer over a real store
and retention (with files on disk); import and export to the fake ChannelService."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from recorder_service.model import Session
from recorder_service.retention import Policy, Retention
from recorder_service.sqlite_store import SqliteStore
from recorder_service.store import Channel, GapRecord, Recording, RecordingState
from recorder_service.system_servicer import SystemServicer
from servicekit.grpc_server import build_server
from streamrec.v1 import system_service_pb2_grpc
from tests.gateway.conftest import gateway_client
from tests.gateway.fake_recorder import Fakes, assert_error

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def system_api(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, SqliteStore]]:
    out = tmp_path / "data"
    folder = out / "records" / "alice"
    folder.mkdir(parents=True)
    (folder / "old.mp4").write_bytes(b"x" * 3000)
    (folder / "new.ts").write_bytes(b"x" * 1000)
    store = SqliteStore(out / "streamrec.db")
    store.add_channel(Channel(username="alice", retention_days=7, created_at=NOW, updated_at=NOW))
    old = Recording(
        "alice",
        "old.mp4",
        NOW - timedelta(days=6, hours=2),
        RecordingState.COMPLETE,
        session_id="s-old",
        part=1,
        size_bytes=3000,
        media_seconds=3500,
        end_time=NOW - timedelta(days=6, hours=1),
    )
    new = Recording(
        "alice",
        "new.ts",
        NOW - timedelta(minutes=10),
        RecordingState.WRITING,
        session_id="s-new",
        part=1,
        size_bytes=1000,
        media_seconds=590,
    )
    store.save_recording(old)
    store.save_recording(new)
    store.add_gap(GapRecord("s-new", new.path, NOW - timedelta(minutes=5), 10.0, "RESTART", "x"))
    store.add_availability("alice", NOW - timedelta(days=9), "OFFLINE")
    store.add_availability("alice", NOW - timedelta(minutes=11), "ONLINE")
    retention = Retention(store, out, Policy(), 1000, active_paths=lambda: {new.path})
    running = Session(
        session_id="s-new",
        person="alice",
        name="",
        target="alice",
        source_type="auto",
        start_time=NOW - timedelta(minutes=10),
        correlation_id="",
        preview_path="",
        bytes_written=1000,
        bitrate_kbps=800.0,
    )
    servicer = SystemServicer(store, retention, processes=lambda: [(running, os.getpid())])
    app = build_server(
        lambda server: system_service_pb2_grpc.add_SystemServiceServicer_to_server(
            servicer, server
        ),
        ["streamrec.v1.SystemService"],
        host="127.0.0.1",
        port=0,
    )
    await app.server.start()
    try:
        async with gateway_client(f"127.0.0.1:{app.port}", out) as client:
            yield client, store
    finally:
        await app.server.stop(0)
        store.close()


async def test_the_system_page_adds_up_what_is_on_disk_and_what_runs(
    system_api: tuple[httpx.AsyncClient, SqliteStore],
) -> None:
    client, _ = system_api
    response = await client.get("/api/system")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["folders"] == [{"person": "alice", "bytes": 4000, "files": 2}]
    assert body["disk"]["minFreeBytes"] == 1000 and body["disk"]["freeBytes"] > 0
    # 800 kbit/s = 100,000 B/s; the watermark is reached when free space is spent at that rate.
    assert body["writeBytesPerSecond"] == 100_000.0
    eta = datetime.fromisoformat(body["watermarkAt"].replace("Z", "+00:00"))
    expected = (body["disk"]["freeBytes"] - 1000) / 100_000
    assert abs((eta - datetime.now(UTC)).total_seconds() - expected) < 30
    # The old file ages out 7 days after it ended; the one being written never.
    (deletion,) = body["nextDeletions"]
    assert (deletion["file"], deletion["reason"], deletion["sizeBytes"]) == ("old.mp4", "age", 3000)
    when = datetime.fromisoformat(deletion["deleteAt"].replace("Z", "+00:00"))
    assert abs(when - (NOW + timedelta(days=1) - timedelta(hours=1))) < timedelta(seconds=2)
    (process,) = body["processes"]
    assert process["sessionId"] == "s-new" and process["pid"] > 0
    assert process["rssBytes"] > 0 and process["cpuPercent"] >= 0 and process["startTime"]
    assert body["finalizations"] == []


async def test_the_timeline_draws_online_recorded_and_gaps_in_the_window(
    system_api: tuple[httpx.AsyncClient, SqliteStore],
) -> None:
    client, _ = system_api
    response = await client.get("/api/models/alice/timeline?days=7")
    assert response.status_code == 200, response.text
    t = response.json()
    assert [a["availability"] for a in t["availability"]] == ["OFFLINE", "ONLINE"]
    assert t["availability"][0]["start"] == t["since"]  # opened by the state before the window
    assert t["availability"][-1]["end"] is None
    assert [r["file"] for r in t["recorded"]] == ["old.mp4", "new.ts"]
    assert t["recorded"][1]["end"] is None
    (gap,) = t["gaps"]
    assert (gap["cause"], gap["duration"]) == ("RESTART", 10.0)
    assert t["completeness"] == round((3500 + 590) / (3500 + 590 + 10), 4)
    # One day: the old recording is out of the window.
    one_day = (await client.get("/api/models/alice/timeline?days=1")).json()
    assert [r["file"] for r in one_day["recorded"]] == ["new.ts"]
    assert_error(await client.get("/api/models/a..b/timeline"), 400, "INVALID_PERSON")
    assert_error(await client.get("/api/models/alice/timeline?days=90"), 400)


async def test_export_then_import_into_an_empty_watch_list_reports_each_entry(
    client: httpx.AsyncClient, fakes: Fakes
) -> None:
    for name in ("ann", "bob"):
        created = await client.post(
            "/api/models", json={"username": name, "retentionDays": 3, "quality": {"height": 720}}
        )
        assert created.status_code == 201, created.text
    exported = await client.get("/api/watchlist/export")
    assert exported.status_code == 200
    assert "attachment" in exported.headers["content-disposition"]
    document = exported.json()
    assert document["version"] == 1 and [c["username"] for c in document["channels"]] == [
        "ann",
        "bob",
    ]
    assert document["channels"][0]["quality"]["height"] == 720

    for name in ("ann", "bob"):
        assert (await client.delete(f"/api/models/{name}")).status_code == 200
    document["channels"] += [
        {"username": "bad name!"},
        {"username": "carol", "retentionDays": -1},
        {"username": "dave", "surprise": True},
        "not an object",
        {"username": "ANN"},  # in the file twice: the first one counts
    ]
    imported = await client.post("/api/watchlist/import", json=document)
    assert imported.status_code == 200, imported.text
    report: dict[str, Any] = imported.json()
    results = [(e["username"], e["result"]) for e in report["entries"]]
    assert results[:2] == [("ann", "created"), ("bob", "created")]
    assert [r for _, r in results[2:]] == ["invalid"] * 5
    assert report["entries"][6]["detail"] == "the file names this channel earlier"
    assert (report["created"], report["exists"], report["invalid"]) == (2, 0, 5)
    assert "retentionDays" in report["entries"][3]["detail"]
    listed = (await client.get("/api/models")).json()
    assert [c["username"] for c in listed] == ["ann", "bob"]
    assert listed[0]["retentionDays"] == 3 and listed[0]["quality"]["height"] == 720
    again = (await client.post("/api/watchlist/import", json=document["channels"][:2])).json()
    assert (again["created"], again["exists"]) == (0, 2)


async def test_a_watch_list_import_refuses_what_is_not_one(client: httpx.AsyncClient) -> None:
    assert_error(
        await client.post("/api/watchlist/import", json={"x": 1}), 400, "INVALID_WATCHLIST"
    )
    assert_error(
        await client.post("/api/watchlist/import", json={"version": 9, "channels": []}),
        400,
        "UNSUPPORTED_VERSION",
    )
    big = [{"username": f"u{i}"} for i in range(10_001)]
    assert_error(await client.post("/api/watchlist/import", json=big), 400, "TOO_MANY_ENTRIES")
    assert (await client.post("/api/watchlist/import", json=[])).json()["created"] == 0
    # Larger than other requests may be, but not unbounded.
    huge = json.dumps([{"username": "x" * 60, "name": "n" * 200}] * 40_000)
    response = await client.post(
        "/api/watchlist/import", content=huge, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 413, "BODY_TOO_LARGE")
