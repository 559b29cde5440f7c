"""A finished recording's pictures: a poster frame and a contact sheet, beside the file.

Made after the file's finalization (the finalizer's ``on_finalized`` hook schedules them),
never as part of it: a finalization's result and its FINALIZED event never wait for a
picture, and a picture that fails is logged and left out. They are made by niced ffmpegs under
the recorder's picture limit (shared with live thumbnails), from the MP4 when there is one.

Files (names from ``paths.picture_name``): ``{stem}.poster.jpg``, ``{stem}.sheet.jpg`` and
``{stem}.sheet.json`` (the sheet's layout and tile times). They are written as ``.part`` and
renamed into place, removed with the recording by a delete or by retention (unless the other
file of the stem, the TS a remux kept or its MP4, is still there), and at start leftovers of
a crash (``.part``) and pictures whose recording is gone are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from recorder_service.paths import (
    PICTURE_PART,
    is_picture_file,
    person_dir,
    picture_name,
    picture_names,
    picture_stem,
    records_root,
    split_record_rel,
)
from recorder_service.pictures import (
    PictureError,
    SheetLayout,
    label_font,
    poster_command,
    run_picture,
    sheet_command,
    sheet_times,
    tile_size,
)
from recorder_service.store import Store
from servicekit import correlation
from servicekit.images import jpeg_size

log = logging.getLogger(__name__)

_MEDIA = (".ts", ".mp4")
CONTENT_TYPES = {"poster": "image/jpeg", "sheet": "image/jpeg", "sheet_index": "application/json"}


@dataclass(frozen=True)
class StoredPicture:
    data: bytes
    content_type: str
    taken_at: datetime


def _siblings_remain(folder: Path, file_name: str) -> bool:
    stem = Path(file_name).stem
    return any((folder / f"{stem}{ext}").exists() for ext in _MEDIA)


def remove_pictures(folder: Path, file_name: str) -> int:
    """Remove the pictures of ``folder/file_name`` (a recording just deleted), unless a file of
    the same stem is still there; returns how many files went."""
    if _siblings_remain(folder, file_name):
        return 0
    removed = 0
    for name in picture_names(file_name):
        for path in (folder / name, folder / f"{name}{PICTURE_PART}"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    return removed


def pictures_present(folder: Path, file_name: str) -> tuple[bool, bool]:
    """(poster, sheet) of a recording exist."""
    return (
        (folder / picture_name(file_name, "poster")).is_file(),
        (folder / picture_name(file_name, "sheet")).is_file(),
    )


def read_picture(folder: Path, file_name: str, kind: str) -> StoredPicture | None:
    """A recording's picture of ``kind`` (poster, sheet, sheet_index), None when absent."""
    path = folder / picture_name(file_name, kind)
    try:
        with path.open("rb") as f:
            data = f.read()
            mtime = os.fstat(f.fileno()).st_mtime
    except (FileNotFoundError, IsADirectoryError):
        return None
    return StoredPicture(data, CONTENT_TYPES[kind], datetime.fromtimestamp(mtime, UTC))


def _write_atomic(path: Path, data: bytes) -> None:
    part = path.with_name(f"{path.name}{PICTURE_PART}")
    try:
        part.write_bytes(data)
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise


class RecordingPictures:
    """Makes, finds and removes the pictures of finished recordings (see the module)."""

    def __init__(
        self,
        store: Store,
        output_dir: Path,
        ffmpeg: str,
        limiter: asyncio.Semaphore,
        *,
        enabled: bool = True,
        sheet: tuple[int, int] | None = (4, 4),
        timeout_s: float = 60.0,
    ) -> None:
        self._store = store
        self._out = output_dir
        self._ffmpeg = ffmpeg
        self._limiter = limiter
        self.enabled = enabled
        self._sheet = sheet
        self._timeout = timeout_s
        self._jobs: dict[tuple[str, str], asyncio.Task[None]] = {}

    # -- the finalizer's hook ------------------------------------------------------------------

    def schedule(self, rel: str) -> None:
        """Make the pictures of ``records/{person}/{file}`` in the background (once per stem:
        the MP4 of a remux that kept its TS is listed first and is the one read)."""
        if not self.enabled:
            return
        person, name = split_record_rel(rel)
        key = (person, Path(name).stem)
        if not name or key in self._jobs:
            return
        task = asyncio.create_task(self._make(person, name), name=f"pictures-{name}")
        self._jobs[key] = task
        task.add_done_callback(lambda _: self._jobs.pop(key, None))

    async def drain(self, within: float) -> None:
        """Wait a little for pictures being made (a shutdown), then cancel the rest (their
        ffmpegs are killed and their ``.part`` files removed)."""
        jobs = set(self._jobs.values())
        if not jobs:
            return
        _, pending = await asyncio.wait(jobs, timeout=within)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    # -- making them ---------------------------------------------------------------------------

    async def _make(self, person: str, name: str) -> None:
        folder = person_dir(self._out, person)
        source = folder / name
        row = self._store.get_recording(person, name)
        if row is None or row.state.busy or not source.is_file():
            return
        started = time.monotonic()
        extra: dict[str, object] = {
            "event.action": "recording.pictures",
            "file.path": row.path,
            "channel": person,
        }
        try:
            made = await self._make_all(folder, name, row.media_seconds)
        except asyncio.CancelledError:
            raise
        except (PictureError, OSError, ValueError) as exc:
            if _siblings_remain(folder, name):
                log.warning(
                    "no pictures for %s: %s",
                    row.path,
                    exc,
                    extra={**extra, "event.outcome": "failure", "error.message": str(exc)},
                )
            made = []
        if not _siblings_remain(folder, name):
            remove_pictures(folder, name)  # deleted while its pictures were being made
            return
        if not made:
            return
        log.info(
            "pictures of %s: %s",
            row.path,
            ", ".join(made),
            extra={
                **extra,
                "event.outcome": "success",
                "event.duration": int((time.monotonic() - started) * 1e9),
            },
        )

    async def _make_all(self, folder: Path, name: str, duration: float) -> list[str]:
        source = folder / name
        poster = await self._poster(source, duration / 3 if duration > 0 else 0.0)
        size = jpeg_size(poster)
        if size is None:
            raise PictureError("ffmpeg's poster is not a JPEG")
        await asyncio.to_thread(_write_atomic, folder / picture_name(name, "poster"), poster)
        made = ["poster"]
        if self._sheet is None or duration <= 0:
            return made
        columns, rows = self._sheet
        layout = SheetLayout(columns, rows, *tile_size(*size))
        times = sheet_times(duration, layout.tiles)
        font = await label_font(self._ffmpeg)
        argv = sheet_command(self._ffmpeg, source, times, layout, duration_s=duration, font=font)
        async with self._limiter:
            sheet = await run_picture(argv, self._timeout)
        if jpeg_size(sheet) != layout.size:
            raise PictureError(f"the contact sheet is not {layout.size[0]}x{layout.size[1]}")
        index = {
            "columns": layout.columns,
            "rows": layout.rows,
            "tileWidth": layout.tile_width,
            "tileHeight": layout.tile_height,
            "times": [round(t, 3) for t in times],
            "labelled": font is not None,
        }
        await asyncio.to_thread(
            _write_atomic, folder / picture_name(name, "sheet_index"), json.dumps(index).encode()
        )
        await asyncio.to_thread(_write_atomic, folder / picture_name(name, "sheet"), sheet)
        return [*made, f"a {layout.columns}x{layout.rows} sheet"]

    async def _poster(self, source: Path, at_s: float) -> bytes:
        async with self._limiter:
            try:
                return await run_picture(poster_command(self._ffmpeg, source, at_s), self._timeout)
            except PictureError as exc:
                if exc.reason != "NO_FRAME" or at_s <= 0:
                    raise
            # No keyframe after that point (a file shorter than a keyframe interval or two).
            return await run_picture(poster_command(self._ffmpeg, source, 0.0), self._timeout)

    # -- after a crash ------------------------------------------------------------------------

    def recover(self) -> int:
        """Remove pictures left half-written by a crash and pictures whose recording is gone
        (run at start, before anything records); returns how many files went."""
        removed = 0
        records = records_root(self._out)
        if not records.is_dir():
            return 0
        with correlation.bound(correlation.new_id("recover-")):
            for folder in (p for p in records.iterdir() if p.is_dir()):
                for f in folder.iterdir():
                    if not is_picture_file(f.name):
                        continue
                    stem = picture_stem(f.name)
                    orphan = not any((folder / f"{stem}{ext}").exists() for ext in _MEDIA)
                    if f.name.endswith(PICTURE_PART) or orphan:
                        f.unlink(missing_ok=True)
                        removed += 1
            if removed:
                log.info(
                    "removed %d stale picture file(s)",
                    removed,
                    extra={"event.action": "recording.pictures_recover", "files": removed},
                )
        return removed
