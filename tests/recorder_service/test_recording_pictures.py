"""Posters and contact sheets with the real ffmpeg: made after a finalization (never holding
it up, never breaking it), the grid the layout says, labelled tiles, and gone with their
recording (delete, retention, a crash's leftovers)."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from recorder_service.events import EventBus
from recorder_service.finalizer import Finalizer
from recorder_service.model import Session, SessionState
from recorder_service.paths import picture_name, picture_names
from recorder_service.recording_pictures import (
    RecordingPictures,
    pictures_present,
    read_picture,
    remove_pictures,
)
from recorder_service.recordings import RecordingIndex
from recorder_service.retention import Policy, Retention
from recorder_service.sqlite_store import SqliteStore
from recorder_service.store import Recording, RecordingState
from servicekit.ffmpeg import find_ffmpeg
from servicekit.images import jpeg_size

FFMPEG = find_ffmpeg()
SECONDS = 24
PERSON = "alice"
STEM = "alice_20250601_120000_0123456789ab"


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        [FFMPEG, "-nostdin", "-hide_banner", "-v", "error", "-y", *args],
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 s of 640x360 video (a keyframe a second) and audio, as an MPEG-TS far from t=0."""
    path = tmp_path_factory.mktemp("clip") / "clip.ts"
    _ffmpeg(
        *("-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={SECONDS}"),
        *("-f", "lavfi", "-i", f"sine=frequency=440:duration={SECONDS}"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-c:a", "aac"),
        *("-output_ts_offset", "36000", "-f", "mpegts", str(path)),
    )
    return path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    s = SqliteStore(tmp_path / "streamrec.db")
    yield s
    s.close()


def place(out: Path, clip: Path, store: SqliteStore, ext: str = "ts", **row: object) -> Recording:
    """The clip as a finished recording of PERSON, with its row."""
    folder = out / "records" / PERSON
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{STEM}.{ext}"
    if ext == "ts":
        shutil.copyfile(clip, folder / name)
    else:
        _ffmpeg("-i", str(clip), "-c", "copy", "-f", "mp4", str(folder / name))
    fields: dict[str, object] = {
        "state": RecordingState.COMPLETE,
        "session_id": "0123456789ab",
        "size_bytes": (folder / name).stat().st_size,
        "media_seconds": float(SECONDS),
        "end_time": datetime(2025, 6, 1, 12, 0, SECONDS, tzinfo=UTC),
        **row,
    }
    rec = Recording(
        person=PERSON,
        file_name=name,
        start_time=datetime(2025, 6, 1, 12, tzinfo=UTC),
        **fields,  # type: ignore[arg-type]
    )
    store.save_recording(rec)
    return rec


async def made(pictures: RecordingPictures) -> None:
    """Wait for the pictures being made."""
    await pictures.drain(60)


def tile_means(sheet: bytes, columns: int, rows: int) -> list[float]:
    """The mean brightness of each tile of a sheet (decoded to grey by ffmpeg)."""
    width, height = jpeg_size(sheet) or (0, 0)
    gray = subprocess.run(
        [FFMPEG, "-v", "error", "-i", "pipe:0", "-f", "rawvideo", "-pix_fmt", "gray", "pipe:1"],
        input=sheet,
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    tw, th = width // columns, height // rows
    means = []
    for r in range(rows):
        for c in range(columns):
            total = sum(
                sum(gray[(r * th + y) * width + c * tw : (r * th + y) * width + (c + 1) * tw])
                for y in range(0, th, 4)
            )
            means.append(total / (tw * len(range(0, th, 4))))
    return means


@pytest.mark.parametrize("ext", ["ts", "mp4"])
async def test_a_poster_and_a_labelled_sheet_of_the_expected_grid(
    tmp_path: Path, clip: Path, store: SqliteStore, ext: str
) -> None:
    rec = place(tmp_path, clip, store, ext)
    pictures = RecordingPictures(store, tmp_path, FFMPEG, asyncio.Semaphore(2))
    pictures.schedule(rec.path)
    await made(pictures)
    folder = tmp_path / "records" / PERSON
    poster = read_picture(folder, rec.file_name, "poster")
    sheet = read_picture(folder, rec.file_name, "sheet")
    index = read_picture(folder, rec.file_name, "sheet_index")
    assert poster is not None and sheet is not None and index is not None
    assert jpeg_size(poster.data) == (640, 360)
    # 4x4 tiles of 320x180 (the video's 16:9 within 320 px).
    assert jpeg_size(sheet.data) == (1280, 720)
    assert (sheet.content_type, index.content_type) == ("image/jpeg", "application/json")
    layout = json.loads(index.data)
    assert layout == {
        "columns": 4,
        "rows": 4,
        "tileWidth": 320,
        "tileHeight": 180,
        "times": [SECONDS * k / 16 for k in range(16)],
        "labelled": True,
    }
    # Every tile holds a frame (testsrc2 is bright; a tile with no frame is black).
    assert min(tile_means(sheet.data, 4, 4)) > 40
    assert pictures_present(folder, rec.file_name) == (True, True)
    assert not list(folder.glob("*.part"))


async def test_a_smaller_grid_and_no_sheet_when_configured(
    tmp_path: Path, clip: Path, store: SqliteStore
) -> None:
    rec = place(tmp_path, clip, store)
    folder = tmp_path / "records" / PERSON
    three = RecordingPictures(store, tmp_path, FFMPEG, asyncio.Semaphore(1), sheet=(3, 2))
    three.schedule(rec.path)
    await made(three)
    sheet = read_picture(folder, rec.file_name, "sheet")
    assert sheet is not None and jpeg_size(sheet.data) == (960, 360)
    remove_pictures(folder.parent / "elsewhere", rec.file_name)  # nothing there: no error
    for name in picture_names(rec.file_name):
        (folder / name).unlink()
    posters_only = RecordingPictures(store, tmp_path, FFMPEG, asyncio.Semaphore(1), sheet=None)
    posters_only.schedule(rec.path)
    await made(posters_only)
    assert pictures_present(folder, rec.file_name) == (True, False)
    off = RecordingPictures(store, tmp_path, FFMPEG, asyncio.Semaphore(1), enabled=False)
    (folder / picture_name(rec.file_name, "poster")).unlink()
    off.schedule(rec.path)
    await made(off)
    assert pictures_present(folder, rec.file_name) == (False, False)


async def test_a_failing_picture_is_logged_and_the_finalization_completes(
    tmp_path: Path, clip: Path, store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    rec = place(tmp_path, clip, store, state=RecordingState.WRITING)
    bus = EventBus()
    finalizer = Finalizer(
        store, bus, output_dir=tmp_path, ffmpeg=FFMPEG, remux_mp4=False, keep_ts=False
    )
    broken = tmp_path / "no-ffmpeg"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)
    pictures = RecordingPictures(store, tmp_path, str(broken), asyncio.Semaphore(1))
    finalizer.on_finalized = pictures.schedule
    session = Session(
        session_id="0123456789ab",
        person=PERSON,
        name=PERSON,
        target="x",
        source_type="hls",
        start_time=rec.start_time,
        correlation_id="c",
        preview_path="",
        state=SessionState.STOPPED,
        end_time=rec.end_time,
        record_paths=(rec.path,),
    )
    sub = bus.subscribe(0, list)
    caplog.set_level(logging.INFO, logger="recorder_service")
    finalizer.schedule(session, RecordingState.COMPLETE)
    assert await finalizer.drain(60)
    event = await sub.next(5)
    assert event is not None and event.type.value == "FINALIZED"
    row = store.get_recording(PERSON, rec.file_name)
    assert row is not None and row.state is RecordingState.COMPLETE and row.media_seconds > 20
    await made(pictures)
    assert pictures_present(tmp_path / "records" / PERSON, rec.file_name) == (False, False)
    failures = [r for r in caplog.records if getattr(r, "event.action", "") == "recording.pictures"]
    assert failures and failures[0].levelno == logging.WARNING


async def test_delete_and_retention_take_the_pictures_with_the_recording(
    tmp_path: Path, clip: Path, store: SqliteStore
) -> None:
    folder = tmp_path / "records" / PERSON
    rec = place(tmp_path, clip, store)
    pictures = RecordingPictures(store, tmp_path, FFMPEG, asyncio.Semaphore(2))
    pictures.schedule(rec.path)
    await made(pictures)
    index = RecordingIndex(store, tmp_path, set)
    view = index.get(PERSON, rec.file_name)
    assert (view.has_poster, view.has_sheet) == (True, True)
    index.delete(PERSON, rec.file_name)
    assert sorted(p.name for p in folder.iterdir()) == []

    # Retention: an old recording goes with its pictures; a dry run leaves both.
    rec = place(tmp_path, clip, store)
    pictures.schedule(rec.path)
    await made(pictures)
    later = rec.start_time + timedelta(days=30)
    retention = Retention(
        store, tmp_path, Policy(max_age_days=7), 0, active_paths=set, clock=lambda: later
    )
    assert retention.run(dry_run=True).files_deleted == 1
    assert len(list(folder.iterdir())) == 4
    assert retention.run().files_deleted == 1
    assert list(folder.iterdir()) == []


async def test_pictures_stay_while_the_other_file_of_their_stem_does(
    tmp_path: Path, clip: Path, store: SqliteStore
) -> None:
    # With KEEP_TS a remux leaves the TS and its MP4: two recordings, one set of pictures.
    place(tmp_path, clip, store, "ts")
    mp4 = place(tmp_path, clip, store, "mp4")
    pictures = RecordingPictures(store, tmp_path, FFMPEG, asyncio.Semaphore(2))
    pictures.schedule(mp4.path)
    pictures.schedule(f"records/{PERSON}/{STEM}.ts")  # the same stem: not made twice
    await made(pictures)
    folder = tmp_path / "records" / PERSON
    index = RecordingIndex(store, tmp_path, set)
    index.delete(PERSON, f"{STEM}.ts")
    assert pictures_present(folder, mp4.file_name) == (True, True)
    index.delete(PERSON, mp4.file_name)
    assert list(folder.iterdir()) == []


async def test_a_recording_deleted_while_its_pictures_are_made_leaves_none(
    tmp_path: Path, clip: Path, store: SqliteStore
) -> None:
    rec = place(tmp_path, clip, store)
    pictures = RecordingPictures(store, tmp_path, FFMPEG, asyncio.Semaphore(2))
    pictures.schedule(rec.path)
    await asyncio.sleep(0.05)  # ffmpeg has the file open
    RecordingIndex(store, tmp_path, set).delete(PERSON, rec.file_name)
    await made(pictures)
    assert list((tmp_path / "records" / PERSON).iterdir()) == []


async def test_recover_removes_half_written_and_orphaned_pictures(
    tmp_path: Path, clip: Path, store: SqliteStore
) -> None:
    rec = place(tmp_path, clip, store)
    folder = tmp_path / "records" / PERSON
    kept = folder / picture_name(rec.file_name, "poster")
    kept.write_bytes(b"\xff\xd8\xff")
    (folder / f"{picture_name(rec.file_name, 'sheet')}.part").write_bytes(b"half")
    (folder / "bob_20250601_120000_0123456789ab.sheet.jpg").write_bytes(b"orphan")
    (folder / "notes.txt").write_text("not ours")
    pictures = RecordingPictures(store, tmp_path, FFMPEG, asyncio.Semaphore(1))
    assert pictures.recover() == 2
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [rec.file_name, kept.name, "notes.txt"]
    )
