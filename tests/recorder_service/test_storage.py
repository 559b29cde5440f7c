"""Disk usage for the dashboard: the level (one pure function), the walk of records/, and
``GetStorage`` over real gRPC."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
from grpc import aio

from recorder_service.recording_servicer import RecordingServicer
from recorder_service.recordings import RecordingIndex
from recorder_service.retention import Policy, Retention
from recorder_service.storage import (
    StorageLevel,
    measure_storage,
    storage_level,
    tree_bytes,
)
from recorder_service.store import Store
from servicekit.errors import Unavailable
from servicekit.grpc_errors import parse_rpc_error
from servicekit.grpc_server import build_server
from streamrec.v1 import recording_service_pb2 as rec
from streamrec.v1 import recording_service_pb2_grpc as rec_grpc

GIB = 2**30
OK, LOW, CRITICAL = StorageLevel.OK, StorageLevel.LOW, StorageLevel.CRITICAL


@pytest.mark.parametrize(
    ("free", "watermark", "level"),
    [
        (100 * GIB, 10 * GIB, OK),
        (20 * GIB, 10 * GIB, OK),  # exactly 2x: not yet low
        (20 * GIB - 1, 10 * GIB, LOW),
        (13 * GIB, 10 * GIB, LOW),
        (25 * GIB // 2, 10 * GIB, LOW),  # exactly 1.25x: not yet critical
        (25 * GIB // 2 - 1, 10 * GIB, CRITICAL),
        (10 * GIB, 10 * GIB, CRITICAL),  # at the watermark
        (10 * GIB - 1, 10 * GIB, CRITICAL),  # below it: new recordings are refused
        (0, 10 * GIB, CRITICAL),
        (0, 0, OK),  # no watermark: nothing is refused, nothing to be close to
        (5, 0, OK),
        (3, 2, LOW),  # exact arithmetic at any size: 3 >= 2 x 1.25, 3 < 2 x 2
        (2, 2, CRITICAL),
    ],
)
def test_level_by_free_space_against_the_watermark(
    free: int, watermark: int, level: StorageLevel
) -> None:
    assert storage_level(free, watermark) is level


def test_tree_bytes_counts_regular_files_at_any_depth_without_following_links(
    tmp_path: Path,
) -> None:
    records = tmp_path / "records"
    (records / "alice").mkdir(parents=True)
    (records / "bob" / "stray").mkdir(parents=True)
    (records / "alice" / "a.ts").write_bytes(b"x" * 100)
    (records / "alice" / "a.mp4").write_bytes(b"x" * 20)
    (records / "bob" / "stray" / "old.ts").write_bytes(b"x" * 3)
    elsewhere = tmp_path / "big"
    elsewhere.mkdir()
    (elsewhere / "huge.bin").write_bytes(b"x" * 10_000)
    (records / "bob" / "link").symlink_to(elsewhere)
    (records / "bob" / "file-link.ts").symlink_to(elsewhere / "huge.bin")
    assert tree_bytes(records) == 123


def test_tree_bytes_of_a_missing_folder_is_zero(tmp_path: Path) -> None:
    assert tree_bytes(tmp_path / "nothing") == 0


def test_tree_bytes_of_1000_files_is_cheap(tmp_path: Path) -> None:
    for person in range(50):
        folder = tmp_path / f"p{person}"
        folder.mkdir()
        for n in range(20):
            (folder / f"f{n}.ts").write_bytes(b"x" * (n + 1))
    began = time.perf_counter()
    assert tree_bytes(tmp_path) == 50 * sum(range(1, 21))
    # About 3.5 ms measured; the bound only catches a walk that reads files or loops.
    assert time.perf_counter() - began < 1.0


def usage(total: int, used: int, free: int) -> Any:
    return shutil._ntuple_diskusage(total, used, free)  # type: ignore[attr-defined]


def test_measure_reports_the_file_system_the_recordings_and_the_level(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "records" / "alice").mkdir(parents=True)
    (tmp_path / "records" / "alice" / "a.ts").write_bytes(b"x" * 500)
    (tmp_path / "sessions").mkdir()
    (tmp_path / "sessions" / "preview.ts").write_bytes(b"x" * 99)  # not a recording
    asked: list[Path] = []

    def fake_usage(path: Path) -> Any:
        asked.append(path)
        return usage(100 * GIB, 85 * GIB, 15 * GIB)

    monkeypatch.setattr(shutil, "disk_usage", fake_usage)
    storage = measure_storage(tmp_path, 10 * GIB)
    assert asked == [tmp_path]
    assert (storage.total_bytes, storage.used_bytes, storage.free_bytes) == (
        100 * GIB,
        85 * GIB,
        15 * GIB,
    )
    assert (storage.recordings_bytes, storage.min_free_bytes, storage.level) == (
        500,
        10 * GIB,
        LOW,
    )


def test_a_file_system_that_cannot_be_asked_is_unavailable_with_a_reason(tmp_path: Path) -> None:
    with pytest.raises(Unavailable) as info:
        measure_storage(tmp_path / "gone", 0)
    assert info.value.reason == "STORAGE_UNAVAILABLE"
    assert str(tmp_path) not in info.value.message  # no server paths to clients


# -- GetStorage over gRPC ----------------------------------------------------------------------


@pytest.fixture
async def stub(tmp_path: Path) -> AsyncIterator[rec_grpc.RecordingServiceStub]:
    (tmp_path / "records" / "alice").mkdir(parents=True)
    (tmp_path / "records" / "alice" / "a.ts").write_bytes(b"x" * 1234)
    free = shutil.disk_usage(tmp_path).free
    store = cast(Store, None)  # GetStorage never touches the store
    retention = Retention(store, tmp_path, Policy(), free // 2, active_paths=lambda: ())
    servicer = RecordingServicer(RecordingIndex(store, tmp_path, lambda: ()), retention)

    def register(server: aio.Server) -> None:
        rec_grpc.add_RecordingServiceServicer_to_server(servicer, server)

    app = build_server(register, ["streamrec.v1.RecordingService"], host="127.0.0.1", port=0)
    await app.server.start()
    try:
        async with aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            yield rec_grpc.RecordingServiceStub(channel)
    finally:
        await app.server.stop(0)


async def test_get_storage_answers_from_the_recorders_disk(
    stub: rec_grpc.RecordingServiceStub, tmp_path: Path
) -> None:
    reply = await stub.GetStorage(rec.GetStorageRequest(), timeout=5)
    disk = shutil.disk_usage(tmp_path)
    assert reply.total_bytes == disk.total
    assert 0 < reply.used_bytes <= disk.total and 0 < reply.free_bytes <= disk.total
    assert reply.recordings_bytes == 1234
    # the watermark is half of what was free: about 2x free now, so OK or (if the disk filled
    # meanwhile) LOW, never CRITICAL
    assert reply.min_free_bytes > 0
    assert reply.level in (rec.STORAGE_LEVEL_OK, rec.STORAGE_LEVEL_LOW)


async def test_get_storage_maps_a_missing_output_dir_to_unavailable_with_a_reason(
    stub: rec_grpc.RecordingServiceStub, tmp_path: Path
) -> None:
    shutil.rmtree(tmp_path)
    with pytest.raises(grpc.RpcError) as info:
        await stub.GetStorage(rec.GetStorageRequest(), timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert parse_rpc_error(info.value).reason == "STORAGE_UNAVAILABLE"
    os.makedirs(tmp_path)  # for pytest's own clean-up
