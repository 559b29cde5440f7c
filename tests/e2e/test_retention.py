"""Retention end to end, over files of controlled ages and sizes left in the records folder
before the recorder starts: it indexes them, its periodic run applies the global default,
and POST /api/cleanup applies each channel's age, count and byte limits, keeping pinned
files. The exact files expected to go, go; every other one stays."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from recorder_service.storage import storage_level
from simlab.harness import Stack

pytestmark = pytest.mark.e2e

# name -> (age in days, size in bytes)
GINA = {
    "g40": (40, 100),
    "g20": (20, 100),
    "g10": (10, 300),
    "g05": (5, 300),
    "g02": (2, 300),
    "g01": (1, 300),
    "g00": (0.01, 300),
}
HANK = {"h45": (45, 50), "h29": (29, 70)}


def file_name(person: str, key: str, age_days: float) -> str:
    started = datetime.now() - timedelta(days=age_days, hours=1)
    session = key.encode().hex().ljust(12, "0")[:12]
    return f"{person}_{started:%Y%m%d_%H%M%S}_{session}.ts"


def plant(records: Path, person: str, files: Mapping[str, tuple[float, int]]) -> dict[str, str]:
    folder = records / person
    folder.mkdir(parents=True)
    names = {}
    for key, (age, size) in files.items():
        name = file_name(person, key, age)
        path = folder / name
        path.write_bytes(b"\x47" * size)
        ended = time.time() - age * 86_400
        os.utime(path, (ended, ended))
        names[key] = name
    return names


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Stack, dict[str, str]]]:
    workdir = tmp_path_factory.mktemp("retention")
    stack = Stack(workdir, env_extra={"RETENTION_DAYS": "30", "RETENTION_INTERVAL": "3600"})
    records = stack.output_dir / "records"
    names = {**plant(records, "gina", GINA), **plant(records, "hank", HANK)}
    with stack:
        yield stack, names


@pytest.fixture
def client(planted: tuple[Stack, dict[str, str]]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=planted[0].base_url, timeout=30) as http:
        yield http


def on_disk(stack: Stack, person: str) -> set[str]:
    return {p.name for p in (stack.output_dir / "records" / person).iterdir()}


def listed(client: httpx.Client, person: str) -> set[str]:
    return {r["file"] for r in client.get(f"/api/recordings/{person}").json()}


def test_retention_deletes_exactly_the_files_the_policies_name(
    client: httpx.Client, planted: tuple[Stack, dict[str, str]]
) -> None:
    stack, names = planted
    deadline = time.monotonic() + 10
    while names["h45"] in on_disk(stack, "hank") and time.monotonic() < deadline:
        time.sleep(0.05)
    # The run at start-up applied the global default (30 days) to every folder: no channel
    # exists yet, so gina's 40-day file went too.
    expect_gina = {names[k] for k in GINA} - {names["g40"]}
    expect_hank = {names["h29"]}
    assert on_disk(stack, "gina") == expect_gina and listed(client, "gina") == expect_gina
    assert on_disk(stack, "hank") == expect_hank and listed(client, "hank") == expect_hank

    created = client.post(
        "/api/models",
        json={
            "username": "gina",
            "autoRecord": False,
            "retentionDays": 15,
            "maxCount": 4,
            "maxBytes": 1000,
        },
    )
    assert created.status_code == 201, created.text
    pinned = client.put(f"/api/recordings/gina/{names['g05']}", json={"pinned": True})
    assert pinned.status_code == 200 and pinned.json()["pinned"] is True

    # 15 days: g20 goes. Count 4 of the 5 left: g10 goes. 1000 bytes: g05 is pinned, so the
    # next oldest, g02, goes instead (900 left).
    gone = [names["g20"], names["g10"], names["g02"]]
    dry = client.post("/api/cleanup", json={"dryRun": True})
    assert dry.status_code == 200, dry.text
    report = dry.json()
    assert report["dryRun"] is True and report["filesDeleted"] == 3
    assert report["bytesFreed"] == 700
    assert [(c["person"], sorted(c["files"])) for c in report["channels"]] == [
        ("gina", sorted(gone))
    ]
    assert on_disk(stack, "gina") == expect_gina  # a dry run deletes nothing

    real = client.post("/api/cleanup").json()
    assert real["dryRun"] is False and real["filesDeleted"] == 3 and real["bytesFreed"] == 700
    assert real["freeBytes"] > 0
    kept = {names["g05"], names["g01"], names["g00"]}
    assert on_disk(stack, "gina") == kept and listed(client, "gina") == kept
    assert on_disk(stack, "hank") == expect_hank

    again = client.post("/api/cleanup").json()
    assert again["filesDeleted"] == 0 and again["channels"] == []


def test_cleanup_of_one_person_leaves_the_others_alone(
    client: httpx.Client, planted: tuple[Stack, dict[str, str]]
) -> None:
    stack, names = planted
    response = client.post("/api/cleanup", json={"person": "hank", "dryRun": True})
    assert response.status_code == 200 and response.json()["filesDeleted"] == 0
    bad = client.post("/api/cleanup", json={"person": "../gina"})
    assert bad.status_code == 400
    assert names["h29"] in on_disk(stack, "hank")


def test_disk_counts_the_recordings_and_names_the_watermark(
    client: httpx.Client, planted: tuple[Stack, dict[str, str]]
) -> None:
    stack = planted[0]
    response = client.get("/api/disk")
    assert response.status_code == 200, response.text
    disk = response.json()
    records = stack.output_dir / "records"
    assert disk["recordingsBytes"] == sum(p.stat().st_size for p in records.rglob("*.ts"))
    assert disk["minFreeBytes"] == 1 << 30  # MIN_FREE_BYTES' default
    assert 0 < disk["freeBytes"] < disk["totalBytes"] and disk["usedBytes"] > 0
    assert disk["level"] == storage_level(disk["freeBytes"], disk["minFreeBytes"]).value
